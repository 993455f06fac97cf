import { PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { LabvmError } from '../core/errors.js';
import { shellQuote, type RemoteHost } from '../remote/ssh.js';
import type { AuditEvidence } from './evidence.js';
import { lastKernelLogStamp, parseDenials, parseLabel } from './parse.js';

/** What the exercise asks of the host, over the one SSH connection: /proc reads as root, and docker exec. */
export class LabHost {
  constructor(readonly remote: RemoteHost) {}

  get docker(): Docker {
    return this.remote.docker.api;
  }

  /** Runs as root (the VM's user has password-less sudo; -n makes a password prompt an error instead of a hang). */
  async sudo(args: Array<string | number>, what: string): Promise<string> {
    const result = await this.remote.run(`sudo -n ${shellQuote(args)}`);
    if (result.exitCode !== 0) {
      throw new LabvmError(`${what} failed on ${this.remote.target.label} (exit ${result.exitCode ?? result.signal}).`, 'exercise',
        undefined, (result.stderr || result.stdout).trim().slice(-2000));
    }
    return result.stdout;
  }

  async sudoShell(script: string, what: string): Promise<string> {
    return this.sudo(['sh', '-c', script], what);
  }

  /** A /proc file of a process, or undefined when the process (or the file) is gone. */
  async readProc(pid: number, file: string): Promise<string | undefined> {
    const result = await this.remote.run(`sudo -n cat /proc/${pid}/${file}`);
    return result.exitCode === 0 ? result.stdout : undefined;
  }

  /** A host file read as root, or undefined when it is gone. */
  async readFile(path: string): Promise<string | undefined> {
    const result = await this.remote.run(`sudo -n cat ${shellQuote([path])}`);
    return result.exitCode === 0 ? result.stdout : undefined;
  }

  /** The major LSM's label (attr/current: AppArmor's, or SELinux's context) and AppArmor's own (attr/apparmor/current). */
  async labels(pid: number): Promise<{ current: string | null; appArmor: string | null }> {
    const [current, appArmor] = await Promise.all([this.readProc(pid, 'attr/current'), this.readProc(pid, 'attr/apparmor/current')]);
    return { current: parseLabel(current), appArmor: parseLabel(appArmor) };
  }

  /**
   * A mark in the kernel log (the stamp of its last line), taken before an action whose denials auditSince() then
   * reads: the log's own clock bounds them to this run. Null when the log cannot be read.
   */
  async kernelLogMark(): Promise<number | null> {
    const result = await this.remote.run('sudo -n dmesg');
    return result.exitCode === 0 ? lastKernelLogStamp(result.stdout) : null;
  }

  /** AppArmor/SELinux denials the kernel logged after `mark` (sudo dmesg: the log may be restricted to root). */
  async auditSince(mark: number | null): Promise<AuditEvidence> {
    const result = await this.remote.run('sudo -n dmesg');
    if (result.exitCode !== 0) return { read: false, lines: [], error: `sudo dmesg exited ${result.exitCode}: ${result.stderr.trim().slice(-300)}` };
    if (mark === null) return { read: false, lines: [], error: 'the kernel log had no time stamps to bound this run by' };
    return { read: true, lines: parseDenials(result.stdout, mark) };
  }

  async pidNamespace(pid: number): Promise<string> {
    return (await this.sudo(['readlink', `/proc/${pid}/ns/pid`], 'reading a PID namespace')).trim();
  }

  /** True while the PID exists, is no zombie, and still runs the expected program (PIDs get reused). */
  async isRunning(pid: number, argv: string[]): Promise<boolean> {
    // One round trip: the state letter from stat, then the command line.
    const result = await this.remote.run(`sudo -n sh -c 'sed -n "s/^.*) \\([A-Z]\\).*/\\1/p" /proc/${pid}/stat && tr "\\0" " " </proc/${pid}/cmdline'`);
    if (result.exitCode !== 0) return false;
    const [state = '', cmdline = ''] = result.stdout.split('\n');
    return state.trim() !== 'Z' && cmdline.trim() === argv.join(' ');
  }

  /** Polls until the process is gone; false if it still runs after timeoutMs. */
  async waitUntilGone(pid: number, argv: string[], timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    do {
      if (!(await this.isRunning(pid, argv))) return true;
      await delay(100);
    } while (Date.now() < until);
    return false;
  }

  /** Children of a process (nsenter forks the process that runs the command). */
  async childrenOf(pid: number): Promise<number[]> {
    const result = await this.remote.run(`ps -o pid= --ppid ${pid}`);
    return result.stdout.split(/\s+/).filter(Boolean).map(Number);
  }

  /** `docker exec` through the Docker API: exit code, stdout and stderr kept apart. */
  async exec(containerName: string, cmd: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const exec = await this.docker.getContainer(containerName).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: false });
    const stream = await exec.start({ Detach: false, Tty: false });
    const [stdout, stderr] = [new PassThrough(), new PassThrough()];
    const chunks = { out: '', err: '' };
    stdout.setEncoding('utf8').on('data', (chunk: string) => (chunks.out += chunk));
    stderr.setEncoding('utf8').on('data', (chunk: string) => (chunks.err += chunk));
    this.docker.modem.demuxStream(stream, stdout, stderr);
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
    const { ExitCode } = await exec.inspect();
    if (ExitCode === null || ExitCode === undefined) throw new LabvmError(`docker exec ${cmd.join(' ')} did not report an exit code.`, 'exercise');
    return { exitCode: ExitCode, stdout: chunks.out, stderr: chunks.err };
  }
}
