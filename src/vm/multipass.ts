import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { LabvmError } from '../core/errors.js';
import { collectOutput } from '../core/process.js';
import { debug, timed } from '../core/debug-log.js';
import { multipassDaemonHint, multipassExecutable, multipassInstallHint } from '../core/platform.js';

/** The one place that runs `multipass` and understands its output (contract: Multipass 1.16). */

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type Runner = (
  executable: string,
  args: string[],
  stdin?: string,
  onStdout?: (chunk: string) => void,
  timeoutMs?: number,
) => Promise<RunResult>;

/** Multipass's exit code when its client stops waiting; labvm uses it too when it stops waiting for multipass. */
export const CLIENT_TIMEOUT_EXIT = 5;

/** Runs without a shell, so it works the same where no bash exists (multipass.exe on Windows). */
export const spawnRunner: Runner = async (executable, args, stdin, onStdout, timeoutMs) => {
  const child = spawn(executable, args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
  let stoppedWaiting = false;
  // Only the client is stopped: like Multipass's own timer, the daemon goes on with the VM.
  const timer =
    timeoutMs === undefined ? undefined : setTimeout(() => (stoppedWaiting = child.kill()), Math.max(1, timeoutMs));
  child.stdin.on('error', () => undefined); // the child may exit before reading stdin; its exit code tells why
  child.stdin.end(stdin ?? '');
  try {
    const { code, signal, stdout, stderr } = await collectOutput(child, onStdout);
    if (stoppedWaiting)
      return {
        exitCode: CLIENT_TIMEOUT_EXIT,
        stdout,
        stderr: `${stderr}labvm stopped waiting for multipass: the timeout elapsed\n`,
      };
    return { exitCode: code ?? (signal ? 128 : 1), stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
};

export type InstanceStateName =
  | 'Running'
  | 'Stopped'
  | 'Deleted'
  | 'Starting'
  | 'Restarting'
  | 'Delayed Shutdown'
  | 'Suspending'
  | 'Suspended'
  | 'Unknown'
  | 'Unavailable';

export interface InstanceInfo {
  name: string;
  state: InstanceStateName;
  /** The first valid IPv4 address; undefined while booting ([] or ["N/A"]). */
  ipv4?: string;
  release: string;
  imageRelease: string;
}

export interface LaunchOptions {
  name: string;
  image: string;
  cpus: number;
  memory: string;
  disk: string;
  timeoutSeconds: number;
  userData: string;
  onProgress?: (line: string) => void;
}

/** Multipass gave up waiting, but the VM it created keeps booting and provisioning. */
export type LaunchOutcome = 'launched' | 'still-provisioning';

/** A LabvmError (kind 'vm'), so the CLI shows Multipass's own message and exits 4 instead of reporting a labvm bug. */
export class MultipassError extends LabvmError {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    const said = firstLine(result.stderr);
    super(
      said || `multipass ${command} exited with ${result.exitCode} and printed no reason.`,
      'vm',
      `${said ? "Multipass's own words are above; " : ''}\`multipass list\` shows the instances, and Multipass's log has more detail. Then run the labvm command again.`,
    );
    this.name = 'MultipassError';
  }
}

interface RawInfo {
  ipv4?: string[];
  release?: string;
  image_release?: string;
  state?: string;
}

/** Copies stdin to the VM's port 22 and back, bytes unchanged, until either side ends. */
const SSH_RELAY = [
  'import os, socket, sys, threading',
  's = socket.create_connection(("127.0.0.1", 22))',
  'def up():',
  '    while True:',
  '        data = os.read(0, 65536)',
  '        if not data: break',
  '        s.sendall(data)',
  '    s.shutdown(socket.SHUT_WR)',
  'threading.Thread(target=up, daemon=True).start()',
  'while True:',
  '    data = s.recv(65536)',
  '    if not data: break',
  '    sys.stdout.buffer.write(data)',
  '    sys.stdout.buffer.flush()',
].join('\n');

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const SPINNER_TICK = /\x08[|/\\-]?/g; // the spinner redraws its frame with a backspace

export class Multipass {
  constructor(
    private readonly executable: string = multipassExecutable(),
    private readonly runner: Runner = spawnRunner,
  ) {}

  /** Fails with an install or start hint unless the client runs and its daemon answers. */
  async preflight(): Promise<{ client: string; daemon: string }> {
    const versions = await this.versions();
    if (!versions.daemon) {
      throw new LabvmError(
        'The Multipass daemon (multipassd) is not answering.',
        'prerequisite',
        multipassDaemonHint(),
      );
    }
    return { client: versions.client, daemon: versions.daemon };
  }

  /** The client's version, and the daemon's when it answers (`multipass version` still exits 0 without it). */
  async versions(): Promise<{ client: string; daemon?: string }> {
    const result = await this.run(['version', '--format', 'json'], { allowFailure: true });
    if (result.exitCode !== 0) {
      throw new LabvmError(
        `\`${this.executable} version\` failed: ${firstLine(result.stderr) || `exit ${result.exitCode}, and it printed no reason`}.`,
        'prerequisite',
        `Check that "${this.executable}" is Multipass (set LABVM_MULTIPASS to the multipass executable, or unset it). ${multipassInstallHint()}`,
      );
    }
    const versions = parseJson<{ multipass?: string; multipassd?: string }>(result.stdout, 'version');
    return { client: versions.multipass ?? 'unknown', daemon: versions.multipassd };
  }

  /** undefined when no instance has that name (a Deleted one is returned with state Deleted). */
  async info(name: string): Promise<InstanceInfo | undefined> {
    const result = await this.run(['info', name, '--format', 'json'], { allowFailure: true });
    if (result.exitCode !== 0) {
      if (/does not exist/.test(result.stderr)) return undefined;
      throw new MultipassError('info', result);
    }
    const parsed = parseJson<{ info?: Record<string, RawInfo> }>(result.stdout, 'info');
    const raw = parsed.info?.[name];
    if (!raw) return undefined;
    return toInstanceInfo(name, raw);
  }

  async launch(options: LaunchOptions): Promise<LaunchOutcome> {
    const args = [
      'launch',
      options.image,
      '--name',
      options.name,
      '--cpus',
      String(options.cpus),
      '--memory',
      options.memory,
      '--disk',
      options.disk,
      // No --timeout: Multipass's own per-phase waits (300 s) may give up early, after which labvm follows the VM;
      // labvm's deadline bounds the whole launch, image download included.
      '--cloud-init',
      '-', // stdin: the snap-confined client cannot read /tmp or hidden folders
    ];
    const onStdout = options.onProgress && progressLines(options.onProgress);
    const result = await this.run(args, {
      stdin: options.userData,
      allowFailure: true,
      onStdout,
      timeoutMs: options.timeoutSeconds * 1000,
    });
    if (result.exitCode === 0) return 'launched';
    if (isLaunchTimeout(result)) return 'still-provisioning';
    throw new MultipassError('launch', result);
  }

  /** Every instance Multipass knows, Deleted ones included (`multipass list`). */
  async list(): Promise<InstanceInfo[]> {
    const result = await this.run(['list', '--format', 'json']);
    const parsed = parseJson<{ list?: Array<RawInfo & { name?: string }> }>(result.stdout, 'list');
    return (parsed.list ?? [])
      .filter((raw) => typeof raw.name === 'string')
      .map((raw) => toInstanceInfo(raw.name!, raw));
  }

  async start(name: string): Promise<void> {
    await this.run(['start', name]);
  }

  async stop(name: string): Promise<void> {
    await this.run(['stop', name]);
  }

  /**
   * A byte stream to the VM's own sshd (127.0.0.1:22 inside it), carried by `multipass exec`: for a VM whose
   * address this computer cannot reach (VirtualBox's NAT, a VPN). The relay is Python, which every Ubuntu cloud
   * image has (cloud-init is written in it); the SSH on top of it still checks the pinned host key.
   */
  relayToSsh(name: string): Duplex {
    const child = spawn(this.executable, ['exec', name, '--', 'python3', '-c', SSH_RELAY], {
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const started = Date.now();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) =>
      debug(
        'multipass',
        `multipass exec ${name} -- python3 -c <relay to 127.0.0.1:22> -> exit ${code}${stderr ? `: ${firstLine(stderr)}` : ''} (${Date.now() - started} ms)`,
      ),
    );
    const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
    child.on('error', (error) => stream.destroy(error));
    stream.on('close', () => child.kill());
    return stream;
  }

  /** The virtualization backend (`multipass get local.driver`): qemu, hyperv, virtualbox, applevz. */
  async driver(): Promise<string> {
    return (await this.run(['get', 'local.driver'])).stdout.trim();
  }

  /** Deletes and purges; a missing instance is not an error. */
  async deletePurge(name: string): Promise<'deleted' | 'absent'> {
    const result = await this.run(['delete', '--purge', name], { allowFailure: true });
    if (result.exitCode === 0) return 'deleted';
    if (/does not exist/.test(result.stderr)) return 'absent';
    throw new MultipassError('delete', result);
  }

  private async run(
    args: string[],
    options: { stdin?: string; allowFailure?: boolean; onStdout?: (chunk: string) => void; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    let result: RunResult;
    try {
      // Only the arguments are logged: stdin can be user-data with the VM's private host key.
      result = await timed(
        'multipass',
        `multipass ${args.join(' ')}`,
        () => this.runner(this.executable, args, options.stdin, options.onStdout, options.timeoutMs),
        (r) => `exit ${r.exitCode}`,
      );
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw new LabvmError(
          `The multipass command was not found (looked for "${this.executable}").`,
          'prerequisite',
          multipassInstallHint(),
          undefined,
          { cause: error },
        );
      }
      if (code === 'EACCES' || code === 'ENOTDIR' || code === 'EISDIR') {
        throw new LabvmError(
          `"${this.executable}" cannot be run as a program (${code}: not an executable file).`,
          'prerequisite',
          'Point LABVM_MULTIPASS at the multipass executable itself (a file with execute permission, not a folder), or unset it.',
        );
      }
      if (code === 'EINVAL') {
        // Node refuses to run .cmd/.bat files without a shell (CVE-2024-27980); labvm never uses one.
        throw new LabvmError(
          `"${this.executable}" cannot be run as a program (${code}).`,
          'prerequisite',
          'Point LABVM_MULTIPASS at the multipass executable itself (multipass.exe on Windows), or unset it.',
          undefined,
          { cause: error },
        );
      }
      throw error;
    }
    if (/cannot connect to the multipass socket/.test(result.stderr)) {
      throw new LabvmError(
        'The Multipass daemon (multipassd) is not answering.',
        'prerequisite',
        multipassDaemonHint(),
      );
    }
    if (result.exitCode !== 0 && !options.allowFailure) throw new MultipassError(args[0]!, result);
    return result;
  }
}

export function toInstanceInfo(name: string, raw: RawInfo): InstanceInfo {
  return {
    name,
    state: (raw.state ?? 'Unknown') as InstanceStateName,
    ipv4: (raw.ipv4 ?? []).find(isValidIpv4),
    release: raw.release ?? '',
    imageRelease: raw.image_release ?? '',
  };
}

/** Skips Multipass's placeholders ("N/A", "UNKNOWN") and anything else that is not a dotted quad. */
export function isValidIpv4(value: string): boolean {
  const match = IPV4.exec(value);
  return !!match && match.slice(1).every((part) => Number(part) <= 255);
}

/** Exit 5 is the client timer; "timed out waiting" is a daemon phase timeout. Either way the VM lives on. */
export function isLaunchTimeout(result: RunResult): boolean {
  return result.exitCode === CLIENT_TIMEOUT_EXIT || /timed out waiting for/i.test(result.stderr);
}

/** Turns the spinner's ANSI noise into plain progress lines ("Retrieving image: 42%"). */
export function progressLines(onLine: (line: string) => void): (chunk: string) => void {
  let last = '';
  return (chunk) => {
    for (const piece of chunk
      .replace(SPINNER_TICK, '')
      .replace(ANSI, '\n')
      .split(/[\r\n]+/)) {
      const line = piece.replace(/^[\s|/\\-]+$/, '').trim();
      if (line && line !== last) onLine((last = line));
    }
  };
}

function parseJson<T>(text: string, command: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new LabvmError(
      `multipass ${command} printed output labvm could not read as JSON.`,
      'prerequisite',
      'Check that `multipass version` works and that Multipass is 1.16 or newer.',
      text.slice(0, 500),
      { cause: error },
    );
  }
}

function firstLine(text: string): string {
  return text.trim().split(/\r?\n/).join(' ').slice(0, 400);
}
