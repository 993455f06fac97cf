import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { LabvmError } from '../core/errors.js';
import { waitUntil } from '../core/wait.js';
import { shellQuote, type RemoteHost } from '../remote/ssh.js';
import { parseLabel } from './parse.js';

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

  async label(pid: number): Promise<string | null> {
    return parseLabel(await this.readProc(pid, 'attr/current'));
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
    return waitUntil(async () => !(await this.isRunning(pid, argv)), { timeoutMs, intervalMs: 100 });
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
