import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { LabvmError } from '../core/errors.js';
import { waitUntil } from '../core/wait.js';
import { shellQuote, type CommandResult, type RemoteHost } from '../remote/ssh.js';
import type { AuditEvidence } from './evidence.js';
import { lastKernelLogStamp, parseDenials, parseLabel, parseLsmList } from './parse.js';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
}

/** The kernel side of the environment, as the host itself reports it. */
export interface KernelFacts {
  kernel: string;
  lsms: string[];
  /** Whether /sys/kernel/security/lsm could be read (an empty `lsms` is then "not observed"). */
  lsmListRead: boolean;
  apparmorEnabled: boolean;
  /** /sys/fs/selinux/enforce: true enforcing, false permissive, null when SELinux is absent. */
  selinuxEnforcing: boolean | null;
}

/** A process's labels: the major LSM's (attr/current: AppArmor's profile, or SELinux's context) and AppArmor's own. */
export interface ProcessLabels {
  current: string | null;
  appArmor: string | null;
}

/** A command started detached, and the host file that receives its stderr (so a failure can be told in its words). */
export interface DetachedProcess {
  pid: number;
  stderrFile: string;
}

/**
 * Everything the exercise's steps ask of the machine that runs Docker. run.ts and sleepers.ts see only this, so
 * they never know whether the host is reached over SSH or through a helper container on a local Docker engine.
 */
export interface ExerciseHost {
  /** How to name the target in messages and reports (instance name, user@host, the engine's endpoint). */
  readonly target: string;
  /** Docker API for ordinary calls, and one for image builds (which stream for long). */
  readonly docker: Docker;
  readonly builder: Docker;
  /** Fails with a clear message when the host lacks what the exercise needs (root access, nsenter). */
  checkPrerequisites(): Promise<void>;
  kernelFacts(): Promise<KernelFacts>;
  /** Runs a POSIX shell script as root in the host's PID namespace and returns its output; fails on a non-zero exit. */
  rootShell(script: string, what: string): Promise<string>;
  /** A /proc file of a process, or undefined when the process (or the file) is gone. */
  readProc(pid: number, file: string): Promise<string | undefined>;
  /** attr/current and attr/apparmor/current (kernel >= 5.1) of a process. */
  labels(pid: number): Promise<ProcessLabels>;
  /** A host file read as root, or undefined when it is gone. */
  readFile(path: string): Promise<string | undefined>;
  removeFile(path: string): Promise<void>;
  /** A mark in the kernel log (its last line's stamp), taken before an action; null when the log has no stamps. */
  kernelLogMark(): Promise<number | null>;
  /** AppArmor/SELinux denials the kernel logged after `mark`. */
  auditSince(mark: number | null): Promise<AuditEvidence>;
  pidNamespace(pid: number): Promise<string>;
  /** True while the PID exists, is no zombie, and still runs the expected program (PIDs get reused). */
  isRunning(pid: number, argv: string[]): Promise<boolean>;
  /** Waits until the process is gone; false if it still runs after timeoutMs. */
  waitUntilGone(pid: number, argv: string[], timeoutMs: number): Promise<boolean>;
  /** Children of a process (nsenter forks the process that runs the command). */
  childrenOf(pid: number): Promise<number[]>;
  /** Starts a command as root, detached from the call (setsid, stdin and stdout closed), stderr to a file. */
  startDetached(argv: string[]): Promise<DetachedProcess>;
  /** SIGKILL as root; whether it worked is for the caller to check. */
  kill(pid: number): Promise<void>;
  /** `docker exec` through the Docker API: exit code, stdout and stderr kept apart. */
  exec(containerName: string, cmd: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** An HTTP GET to a port on the host's loopback. */
  httpGet(port: number): Promise<HttpAnswer>;
}

/**
 * The part every target shares: /proc reads and process control written once as root shell commands. A target
 * supplies how a root command runs (`runAsRoot`), the Docker clients and the HTTP check.
 */
export abstract class RootShellHost implements ExerciseHost {
  abstract readonly target: string;
  abstract readonly docker: Docker;
  abstract readonly builder: Docker;
  abstract checkPrerequisites(): Promise<void>;
  abstract httpGet(port: number): Promise<HttpAnswer>;
  /** Runs argv as root on the host, in its PID namespace; the exit code is the caller's to judge. */
  protected abstract runAsRoot(argv: string[]): Promise<CommandResult>;

  async rootShell(script: string, what: string): Promise<string> {
    const result = await this.runAsRoot(['sh', '-c', script]);
    if (result.exitCode !== 0) {
      throw new LabvmError(`${what} failed on ${this.target} (exit ${result.exitCode ?? result.signal}).`, 'exercise',
        undefined, (result.stderr || result.stdout).trim().slice(-2000));
    }
    return result.stdout;
  }

  async kernelFacts(): Promise<KernelFacts> {
    const [kernel, lsm, apparmor, selinux] = await Promise.all([
      this.runAsRoot(['uname', '-r']),
      this.runAsRoot(['cat', '/sys/kernel/security/lsm']),
      this.runAsRoot(['cat', '/sys/module/apparmor/parameters/enabled']),
      this.runAsRoot(['cat', '/sys/fs/selinux/enforce']),
    ]);
    return {
      kernel: kernel.stdout.trim(),
      lsms: parseLsmList(lsm.stdout),
      lsmListRead: lsm.exitCode === 0,
      apparmorEnabled: apparmor.stdout.trim() === 'Y',
      selinuxEnforcing: selinux.exitCode === 0 ? selinux.stdout.trim() === '1' : null,
    };
  }

  async readProc(pid: number, file: string): Promise<string | undefined> {
    const result = await this.runAsRoot(['cat', `/proc/${pid}/${file}`]);
    return result.exitCode === 0 ? result.stdout : undefined;
  }

  async labels(pid: number): Promise<ProcessLabels> {
    const [current, appArmor] = await Promise.all([this.readProc(pid, 'attr/current'), this.readProc(pid, 'attr/apparmor/current')]);
    return { current: parseLabel(current), appArmor: parseLabel(appArmor) };
  }

  async readFile(path: string): Promise<string | undefined> {
    const result = await this.runAsRoot(['cat', path]);
    return result.exitCode === 0 ? result.stdout : undefined;
  }

  async removeFile(path: string): Promise<void> {
    await this.rootShell(`rm -f ${shellQuote([path])}`, 'removing a temporary file');
  }

  /** The log's own clock bounds what auditSince() reads to this run. */
  async kernelLogMark(): Promise<number | null> {
    const result = await this.runAsRoot(['dmesg']);
    return result.exitCode === 0 ? lastKernelLogStamp(result.stdout) : null;
  }

  async auditSince(mark: number | null): Promise<AuditEvidence> {
    const result = await this.runAsRoot(['dmesg']);
    if (result.exitCode !== 0) return { read: false, lines: [], error: `dmesg as root exited ${result.exitCode}: ${result.stderr.trim().slice(-300)}` };
    if (mark === null) return { read: false, lines: [], error: 'the kernel log had no time stamps to bound this run by' };
    return { read: true, lines: parseDenials(result.stdout, mark) };
  }

  async pidNamespace(pid: number): Promise<string> {
    return (await this.rootShell(`readlink /proc/${pid}/ns/pid`, 'reading a PID namespace')).trim();
  }

  async isRunning(pid: number, argv: string[]): Promise<boolean> {
    // One round trip: the state letter from stat, then the command line.
    const result = await this.runAsRoot(['sh', '-c', `sed -n "s/^.*) \\([A-Z]\\).*/\\1/p" /proc/${pid}/stat && tr "\\0" " " </proc/${pid}/cmdline`]);
    if (result.exitCode !== 0) return false;
    const [state = '', cmdline = ''] = result.stdout.split('\n');
    return state.trim() !== 'Z' && cmdline.trim() === argv.join(' ');
  }

  async waitUntilGone(pid: number, argv: string[], timeoutMs: number): Promise<boolean> {
    return waitUntil(async () => !(await this.isRunning(pid, argv)), { timeoutMs, intervalMs: 100 });
  }

  async childrenOf(pid: number): Promise<number[]> {
    const result = await this.runAsRoot(['ps', '-o', 'pid=', '--ppid', String(pid)]);
    return result.stdout.split(/\s+/).filter(Boolean).map(Number);
  }

  async startDetached(argv: string[]): Promise<DetachedProcess> {
    // The file is made first, in this shell (`a && b &` would put both, and the variable, in a background subshell).
    const script = `f=$(mktemp /tmp/labvm-${argv[0]}.XXXXXX) || exit 1; setsid ${shellQuote(argv)} </dev/null >/dev/null 2>"$f" & echo "$! $f"`;
    const [pid = '', stderrFile = ''] = (await this.rootShell(script, `starting ${argv[0]}`)).trim().split(' ');
    return { pid: Number(pid), stderrFile };
  }

  async kill(pid: number): Promise<void> {
    await this.runAsRoot(['kill', '-KILL', String(pid)]);
  }

  async exec(containerName: string, cmd: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return dockerExec(this.docker, containerName, cmd);
  }
}

/** `docker exec` through the Docker API, demultiplexed: exit code, stdout and stderr kept apart. */
export async function dockerExec(docker: Docker, containerName: string, cmd: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const exec = await docker.getContainer(containerName).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: false });
  const stream = await exec.start({ Detach: false, Tty: false });
  const [stdout, stderr] = [new PassThrough(), new PassThrough()];
  const chunks = { out: '', err: '' };
  stdout.setEncoding('utf8').on('data', (chunk: string) => (chunks.out += chunk));
  stderr.setEncoding('utf8').on('data', (chunk: string) => (chunks.err += chunk));
  docker.modem.demuxStream(stream, stdout, stderr);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  const { ExitCode } = await exec.inspect();
  if (ExitCode === null || ExitCode === undefined) throw new LabvmError(`docker exec ${cmd.join(' ')} did not report an exit code.`, 'exercise');
  return { exitCode: ExitCode, stdout: chunks.out, stderr: chunks.err };
}

/** A VM or Linux host over the one SSH connection: root through password-less sudo, nginx checked through a tunnel. */
export class SshExerciseHost extends RootShellHost {
  constructor(readonly remote: RemoteHost) {
    super();
  }

  get target(): string {
    return this.remote.target.label;
  }

  get docker(): Docker {
    return this.remote.docker.api;
  }

  get builder(): Docker {
    return this.remote.docker.builder;
  }

  async checkPrerequisites(): Promise<void> {
    const sudo = await this.remote.run('sudo -n true && command -v nsenter');
    if (sudo.exitCode !== 0) {
      throw new LabvmError(`${this.target} has no password-less sudo or no nsenter.`, 'exercise',
        'The exercise needs `sudo` without a password prompt and util-linux\'s nsenter on the host.', sudo.stderr.trim());
    }
  }

  /** The VM's user has password-less sudo; -n makes a password prompt an error instead of a hang. */
  protected runAsRoot(argv: string[]): Promise<CommandResult> {
    return this.remote.run(`sudo -n ${shellQuote(argv)}`);
  }

  httpGet(port: number): Promise<HttpAnswer> {
    return this.remote.httpGet(port);
  }
}
