import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { LabvmError, errorMessage } from '../core/errors.js';
import { waitUntil } from '../core/wait.js';
import { bounded, type Bounds } from '../core/interrupt.js';
import { shellQuote, type CommandResult, type RemoteHost } from '../remote/ssh.js';
import { ShellSession, type ShellStreams } from '../remote/shell-session.js';
import { debug } from '../core/debug-log.js';
import type { AuditEvidence } from './evidence.js';
import { lastKernelLogStamp, parseDenials, parseLabel, parseLsmList } from './parse.js';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
}

export type TargetKind = 'vm' | 'ssh-host' | 'docker-engine';

/** What the target is and how it was reached, for the report (no secrets). */
export interface TargetDescription {
  kind: TargetKind;
  /** ssh://user@host:port, or the Docker engine's URL. */
  endpoint: string;
  /** Where the endpoint came from (DOCKER_HOST, a context, the default socket), when labvm chose it. */
  endpointSource?: string;
  /** What the native method means on this target, in words. */
  nativeMethod: string;
  /** How a person runs the host-side steps by hand: the prefix of a root command, and of a plain one (may be empty). */
  rootCommand: string;
  hostCommand: string;
  /** A command that readies the host for them, when one is needed (the engine's helper container). */
  setupCommand?: string;
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
  /** The process (the command itself or a child) found running the awaited program, if it was seen in time. */
  programPid?: number;
}

/** How long startDetached's own round trip looks for the awaited program before leaving the wait to its caller. */
const PROGRAM_WAIT_POLLS = 50;
const PROGRAM_WAIT_POLL_SECONDS = 0.02;

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
  describe(): TargetDescription;
  /** Fails with a clear message when the host lacks what the exercise needs (root access, nsenter). */
  checkPrerequisites(): Promise<void>;
  /** Readies host-side access once the exercise image exists (a helper container may run from it). */
  prepare(image: string): Promise<void>;
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
  /**
   * Starts a command as root, detached from the call (setsid, stdin and stdout closed), stderr to a file. With
   * `program`, the same round trip also waits (up to a second) for the command or one of its children to run it.
   */
  startDetached(argv: string[], program?: string[]): Promise<DetachedProcess>;
  /** SIGKILL as root; whether it worked is for the caller to check. */
  kill(pid: number): Promise<void>;
  /** `docker exec` through the Docker API: exit code, stdout and stderr kept apart. */
  exec(containerName: string, cmd: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** An HTTP GET to a port on the host's loopback. */
  httpGet(port: number): Promise<HttpAnswer>;
  /**
   * Settles with `work`, or rejects once the host cannot be reached any more (`lost`), the signal aborts or the
   * time is up: a step never waits forever on an operation the connection took down with it.
   */
  guard<T>(work: Promise<T>, bounds?: Bounds<T>): Promise<T>;
  /** Why the host cannot be reached any more (a lost connection), or undefined while it can. */
  readonly lost: LabvmError | undefined;
  /** Ends the target's access (the connection, the helper and what it started). */
  close(): Promise<void>;
}

/**
 * The part every target shares: /proc reads and process control written once as root shell commands. A target
 * supplies how a root command runs (`runAsRoot`), the Docker clients and the HTTP check.
 */
export abstract class RootShellHost implements ExerciseHost {
  abstract readonly target: string;
  abstract readonly docker: Docker;
  abstract readonly builder: Docker;
  abstract describe(): TargetDescription;
  abstract checkPrerequisites(): Promise<void>;
  abstract prepare(image: string): Promise<void>;
  abstract httpGet(port: number): Promise<HttpAnswer>;
  abstract close(): Promise<void>;

  guard<T>(work: Promise<T>, bounds: Bounds<T> = {}): Promise<T> {
    return bounded(work, bounds);
  }

  get lost(): LabvmError | undefined {
    return undefined;
  }

  /** Runs argv as root on the host, in its PID namespace, in a round trip of its own; the exit code is the caller's. */
  protected abstract runOneAsRoot(argv: string[]): Promise<CommandResult>;

  /** The target's long-lived root shell, once it opened one: root commands go to it while it is idle. */
  protected rootSession?: ShellSession;

  /** Keeps a root shell open for the run; where one cannot be opened, each root command takes its own round trip. */
  protected async keepRootShell(name: string, open: () => Promise<ShellStreams>): Promise<void> {
    try {
      this.rootSession = new ShellSession(await open(), name);
    } catch (error) {
      debug('remote', `${name} not kept open (${errorMessage(error)}): each root command takes its own round trip`);
    }
  }

  private runRoot(argv: string[]): Promise<CommandResult> {
    return this.rootSession?.idle ? this.rootSession.run(argv) : this.runOneAsRoot(argv);
  }

  private pending: Array<{
    argv: string[];
    resolve: (result: CommandResult) => void;
    reject: (error: unknown) => void;
  }> = [];

  /**
   * Root commands issued together (the reads of one observation, started with Promise.all) go to the host as ONE
   * command: each round trip (an SSH channel, a `docker exec`) costs far more than the reads themselves.
   */
  protected runAsRoot(argv: string[]): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ argv, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0);
    try {
      if (batch.length === 1) return batch[0]!.resolve(await this.runRoot(batch[0]!.argv));
      const results = await runBatch(
        batch.map((command) => command.argv),
        (argv) => this.runRoot(argv),
      );
      batch.forEach((command, index) => command.resolve(results[index]!));
    } catch (error) {
      for (const command of batch) command.reject(error);
    }
  }

  async rootShell(script: string, what: string): Promise<string> {
    const result = await this.runAsRoot(['sh', '-c', script]);
    if (result.exitCode !== 0) {
      throw new LabvmError(
        `${what} failed on ${this.target} (exit ${result.exitCode ?? result.signal}).`,
        'exercise',
        undefined,
        (result.stderr || result.stdout).trim().slice(-2000),
      );
    }
    return result.stdout;
  }

  async kernelFacts(): Promise<KernelFacts> {
    const [kernel, lsm, apparmor, selinux] = await Promise.all([
      this.runAsRoot(['uname', '-r']),
      this.runAsRoot(['sh', '-c', this.lsmScript()]),
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

  /** Prints the active LSMs (securityfs). */
  protected lsmScript(): string {
    return 'cat /sys/kernel/security/lsm';
  }

  async readProc(pid: number, file: string): Promise<string | undefined> {
    const result = await this.runAsRoot(['cat', `/proc/${pid}/${file}`]);
    return result.exitCode === 0 ? result.stdout : undefined;
  }

  async labels(pid: number): Promise<ProcessLabels> {
    const [current, appArmor] = await Promise.all([
      this.readProc(pid, 'attr/current'),
      this.readProc(pid, 'attr/apparmor/current'),
    ]);
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
    if (result.exitCode !== 0)
      return {
        read: false,
        lines: [],
        error: `dmesg as root exited ${result.exitCode}: ${result.stderr.trim().slice(-300)}`,
      };
    if (mark === null)
      return { read: false, lines: [], error: 'the kernel log had no time stamps to bound this run by' };
    return { read: true, lines: parseDenials(result.stdout, mark) };
  }

  async pidNamespace(pid: number): Promise<string> {
    return (await this.rootShell(`readlink /proc/${pid}/ns/pid`, 'reading a PID namespace')).trim();
  }

  async isRunning(pid: number, argv: string[]): Promise<boolean> {
    // One round trip: the state letter from stat, then the command line.
    const result = await this.runAsRoot([
      'sh',
      '-c',
      `sed -n "s/^.*) \\([A-Z]\\).*/\\1/p" /proc/${pid}/stat && tr "\\0" " " </proc/${pid}/cmdline`,
    ]);
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

  async startDetached(argv: string[], program?: string[]): Promise<DetachedProcess> {
    // The file is made first, in this shell (`a && b &` would put both, and the variable, in a background subshell).
    const start = `f=$(mktemp /tmp/labvm-${argv[0]}.XXXXXX) || exit 1; setsid ${shellQuote(argv)} </dev/null >/dev/null 2>"$f" & p=$!`;
    const script = program ? `${start}; ${awaitProgramScript(program)}; echo "$p $f $c"` : `${start}; echo "$p $f"`;
    const [pid = '', stderrFile = '', programPid] = (await this.rootShell(script, `starting ${argv[0]}`))
      .trim()
      .split(' ');
    return { pid: Number(pid), stderrFile, ...(programPid ? { programPid: Number(programPid) } : {}) };
  }

  async kill(pid: number): Promise<void> {
    await this.runAsRoot(['kill', '-KILL', String(pid)]);
  }

  async exec(containerName: string, cmd: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return dockerExec(this.docker, containerName, cmd);
  }
}

/**
 * Shell that sets `c` to the PID among `$p` and its children whose command line is `program`, polling briefly: a
 * round trip saved per start. A zombie's command line is empty, so a process that already ended never matches.
 */
function awaitProgramScript(program: string[]): string {
  const cmdline = shellQuote([`${program.join(' ')} `]); // /proc/PID/cmdline with its NULs as spaces
  return (
    `c=; i=0; while [ -z "$c" ] && [ $i -lt ${PROGRAM_WAIT_POLLS} ]; do ` +
    `for q in $p $(ps -o pid= --ppid $p); do ` +
    `[ "$(tr '\\0' ' ' </proc/$q/cmdline 2>/dev/null)" = ${cmdline} ] && c=$q && break; done; ` +
    // A command that already ended (gone, or a zombie with an empty command line) stops the wait: its caller says why.
    `[ -n "$c" ] || { grep -q . /proc/$p/cmdline 2>/dev/null || break; sleep ${PROGRAM_WAIT_POLL_SECONDS}; i=$((i+1)); }; done`
  );
}

/**
 * Several commands in one `sh -c`, each followed by a marker line with its exit status; standard error is dropped
 * (a batched read that fails reports its exit code only).
 */
export async function runBatch(
  commands: string[][],
  run: (argv: string[]) => Promise<CommandResult>,
): Promise<CommandResult[]> {
  const marker = `--labvm-${randomUUID()}--`;
  const script = commands
    .map((argv) => `(${shellQuote(argv)}) </dev/null 2>/dev/null; printf '\\n${marker} %s\\n' "$?"`)
    .join('\n');
  const whole = await run(['sh', '-c', script]);
  const parts = whole.stdout.split(new RegExp(`\\n${marker} (\\d+)\\n`));
  if (parts.length !== commands.length * 2 + 1) {
    return commands.map(() => ({
      exitCode: whole.exitCode === 0 ? 1 : whole.exitCode,
      signal: whole.signal,
      stdout: '',
      stderr: whole.stderr,
    }));
  }
  return commands.map((_, index) => ({
    exitCode: Number(parts[index * 2 + 1]),
    stdout: parts[index * 2]!,
    stderr: '',
  }));
}

/** A `docker exec` connection's stdout and stderr as two streams: without a TTY, Docker multiplexes them on it. */
export function demuxExec(docker: Docker, stream: NodeJS.ReadableStream): { stdout: PassThrough; stderr: PassThrough } {
  const [stdout, stderr] = [new PassThrough(), new PassThrough()];
  docker.modem.demuxStream(stream, stdout, stderr);
  // Both end with the connection, however it ends (its error is the caller's to handle on `stream`).
  const end = () => (stdout.end(), stderr.end());
  stream.on('end', end).on('error', end);
  return { stdout, stderr };
}

/** `docker exec` through the Docker API, demultiplexed: exit code, stdout and stderr kept apart. */
export async function dockerExec(
  docker: Docker,
  containerName: string,
  cmd: string[],
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const exec = await docker
    .getContainer(containerName)
    .exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: false });
  const stream = await exec.start({ Detach: false, Tty: false });
  const { stdout, stderr } = demuxExec(docker, stream);
  const chunks = { out: '', err: '' };
  stdout.setEncoding('utf8').on('data', (chunk: string) => (chunks.out += chunk));
  stderr.setEncoding('utf8').on('data', (chunk: string) => (chunks.err += chunk));
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  const { ExitCode } = await exec.inspect();
  if (ExitCode === null || ExitCode === undefined)
    throw new LabvmError(`docker exec ${cmd.join(' ')} did not report an exit code.`, 'exercise');
  return { exitCode: ExitCode, stdout: chunks.out, stderr: chunks.err };
}

/** The root shell a VM or Linux host keeps open for the run (password-less sudo, as for one command). */
const ROOT_SHELL = 'sudo -n sh';

/** A VM or Linux host over the one SSH connection: root through password-less sudo, nginx checked through a tunnel. */
export class SshExerciseHost extends RootShellHost {
  constructor(
    readonly remote: RemoteHost,
    private readonly kind: 'vm' | 'ssh-host',
  ) {
    super();
  }

  describe(): TargetDescription {
    const { username, host, port } = this.remote.target;
    return {
      kind: this.kind,
      endpoint: `ssh://${username}@${host}:${port}`,
      nativeMethod: 'nsenter run on the host',
      rootCommand: 'sudo',
      hostCommand: '',
    };
  }

  /** Nothing to start: the host's own sudo and nsenter do the root work. */
  prepare(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.rootSession?.close();
    this.remote.close();
    return Promise.resolve();
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
      throw new LabvmError(
        `${this.target} has no password-less sudo or no nsenter.`,
        'exercise',
        "The exercise needs `sudo` without a password prompt and util-linux's nsenter on the host.",
        sudo.stderr.trim(),
      );
    }
    await this.keepRootShell(ROOT_SHELL, async () => {
      const channel = await this.remote.openSession(ROOT_SHELL);
      return { stdin: channel, stdout: channel, stderr: channel.stderr };
    });
  }

  /** The VM's user has password-less sudo; -n makes a password prompt an error instead of a hang. */
  protected runOneAsRoot(argv: string[]): Promise<CommandResult> {
    return this.remote.run(`sudo -n ${shellQuote(argv)}`);
  }

  httpGet(port: number): Promise<HttpAnswer> {
    return this.remote.httpGet(port);
  }

  override guard<T>(work: Promise<T>, bounds: Bounds<T> = {}): Promise<T> {
    return this.remote.guard(work, bounds);
  }

  override get lost(): LabvmError | undefined {
    return this.remote.lost;
  }
}
