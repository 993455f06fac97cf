import type { Duplex } from 'node:stream';
import {
  Client,
  type ClientChannel,
  type ConnectConfig,
  type PseudoTtyOptions,
  type ServerHostKeyAlgorithm,
} from 'ssh2';
import { LabvmError, errorMessage } from '../core/errors.js';
import { bounded, type Bounds } from '../core/interrupt.js';
import { fingerprint } from './host-keys.js';
import { DockerOverSsh } from './docker.js';
import { parseHttpResponse } from './http-response.js';
import { debug, timed } from '../core/debug-log.js';

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  privateKey?: string;
  /** An ssh-agent (socket path, or named pipe on Windows) to authenticate with instead of, or besides, the key. */
  agent?: string;
  /** Raw public keys the host may present; anything else is refused before authentication. */
  trustedHostKeys: Buffer[];
  /** Where the trusted keys came from, for messages ("the key pinned at launch", "~/.ssh/known_hosts"). */
  trustSource: string;
  /** A stream to carry the connection instead of TCP to host:port, and how to describe that path. */
  via?: { description: string; open: () => Duplex };
  /** How to name the target in messages and what to run to repair trust. */
  label: string;
  trustHint: string;
  /** What to check when the host cannot be reached or the connection drops. */
  reachHint: string;
}

export interface CommandResult {
  exitCode: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: string;
  timeoutMs?: number;
}

/**
 * One SSH connection to the VM for a whole command run: shell commands are exec channels on it, and the
 * Docker API goes through it too (see docker.ts), so a run costs one TCP connection, handshake and login.
 * Once the connection is gone every pending and later operation rejects with the same "connection lost" error:
 * nothing waits forever, and nothing reads a dropped channel as a command that ran.
 */
export class RemoteHost {
  private dockerOverSsh?: DockerOverSsh;
  /** Why the connection dropped, as the client reported it (a keepalive timeout, a reset). */
  private lostBecause?: unknown;
  private closedByUs = false;
  private lostError?: LabvmError;
  /** Rejecters of operations in flight, called once the connection is gone. */
  private readonly pending = new Set<(error: LabvmError) => void>();

  private constructor(
    readonly client: Client,
    readonly target: SshTarget,
  ) {
    // Errors after `ready` (a dropped network, a keepalive timeout) end pending channels; without a listener
    // the next one would crash the process.
    client.on('error', (error) => (this.lostBecause ??= error));
    client.on('close', () => this.markLost());
  }

  static connect(target: SshTarget, readyTimeoutMs = 20_000): Promise<RemoteHost> {
    return new Promise((resolve, reject) => {
      const client = new Client();
      let presentedKey: Buffer | undefined;
      const config: ConnectConfig = {
        host: target.host,
        port: target.port,
        username: target.username,
        privateKey: target.privateKey,
        agent: target.agent,
        readyTimeout: readyTimeoutMs,
        sock: target.via?.open(),
        keepaliveInterval: 10_000,
        // Ask for the key types we can check: a known_hosts line may hold only an ECDSA or RSA key.
        algorithms: { serverHostKey: hostKeyAlgorithms(target.trustedHostKeys) },
        hostVerifier: (key: Buffer) => {
          presentedKey = key;
          const trusted = target.trustedHostKeys.some((known) => known.equals(key));
          debug('ssh', `host key ${fingerprint(key)} ${trusted ? 'matches' : 'does NOT match'} ${target.trustSource}`);
          return trusted;
        },
      };
      const started = Date.now();
      debug(
        'ssh',
        `connecting to ${target.host}:${target.port}${target.via ? ` ${target.via.description}` : ''} as ${target.username} (${[target.privateKey && 'key', target.agent && 'agent'].filter(Boolean).join(' + ')})`,
      );
      const onError = (error: Error & { level?: string }) => {
        debug(
          'ssh',
          `connection failed after ${Date.now() - started} ms: ${error.level ? `${error.level}: ` : ''}${error.message}`,
        );
        client.end();
        reject(connectError(error, target, presentedKey));
      };
      // A connection that closes before `ready` without an error (sshd killed mid-handshake) must not leave us waiting.
      const onClose = () => onError(new Error('the connection was closed during the SSH handshake'));
      client.once('ready', () => {
        debug('ssh', `authenticated as ${target.username} in ${Date.now() - started} ms`);
        client.off('error', onError);
        client.off('close', onClose);
        resolve(new RemoteHost(client, target));
      });
      client.on('error', onError);
      client.once('close', onClose);
      try {
        client.connect(config);
      } catch (error) {
        onError(error as Error); // ssh2 throws at once for a key it cannot parse
      }
    });
  }

  /** The error every operation gets once the connection is gone; undefined while it is up. */
  get lost(): LabvmError | undefined {
    return this.lostError;
  }

  /**
   * Settles with `work`, or rejects once the connection is lost, `signal` aborts, or the time is up: whatever
   * `work` waits for inside, the caller is never left waiting.
   */
  guard<T>(work: Promise<T>, bounds: Bounds<T> = {}): Promise<T> {
    const untilLost = new Promise<T>((resolve, reject) => {
      if (this.lostError) {
        work.catch(() => undefined); // its own failure says the same; never an unhandled rejection
        return reject(this.lostError);
      }
      this.pending.add(reject);
      work.then(
        (value) => (this.pending.delete(reject), resolve(value)),
        (error: unknown) => (this.pending.delete(reject), reject(error as Error)),
      );
    });
    return bounded(untilLost, bounds);
  }

  /** Runs a shell command line on the host (POSIX sh there, whatever the laptop runs). */
  run(command: string, options: RunOptions = {}): Promise<CommandResult> {
    return timed(
      'remote',
      `$ ${command}`,
      () => this.guard(this.exec(command, options)),
      (r) => `exit ${r.exitCode ?? r.signal}`,
    );
  }

  private exec(command: string, options: RunOptions): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      const fail = (error: unknown) =>
        reject(
          this.lostOn(error) ?? remoteError(`could not run \`${command}\``, this.lostBecause ?? error, this.target),
        );
      try {
        this.client.exec(command, (error, channel) =>
          error ? fail(error) : this.collect(channel, options, resolve, fail),
        );
      } catch (error) {
        fail(error); // "Not connected" is thrown synchronously once the connection is gone
      }
    });
  }

  /**
   * A channel for an attached session: the login shell when `command` is undefined, else that command line;
   * with a pseudo-terminal when `pty` is given (a shell always gets one).
   */
  openSession(command: string | undefined, pty?: PseudoTtyOptions): Promise<ClientChannel> {
    debug(
      'remote',
      `session: ${command === undefined ? 'login shell' : `$ ${command}`}${pty ? ` (pty ${pty.cols}x${pty.rows} ${pty.term})` : ''}`,
    );
    return new Promise((resolve, reject) => {
      const done = (error: Error | undefined, channel: ClientChannel) =>
        error
          ? reject(
              remoteError(
                `could not open ${command === undefined ? 'a shell' : `\`${command}\``}`,
                this.lostBecause ?? error,
                this.target,
              ),
            )
          : resolve(channel);
      try {
        if (command === undefined) this.client.shell(pty ?? {}, done);
        else this.client.exec(command, { pty: pty ?? false }, done);
      } catch (error) {
        done(error as Error, undefined as never);
      }
    });
  }

  /** How the connection reaches the host: straight to its address, or through a relay. */
  get path(): string {
    return this.target.via?.description ?? `direct to ${this.target.host}:${this.target.port}`;
  }

  /** Why the connection dropped, when it did. */
  get lostReason(): string | undefined {
    return this.lostBecause === undefined ? undefined : errorMessage(this.lostBecause);
  }

  /** Docker API client whose HTTP sockets are channels of this connection to /var/run/docker.sock. */
  get docker(): DockerOverSsh {
    this.dockerOverSsh ??= new DockerOverSsh(this.client, (error) => this.lostOn(error));
    return this.dockerOverSsh;
  }

  /** A plain HTTP GET to a port on the host, tunnelled through the connection (no curl needed there). */
  httpGet(
    port: number,
    path = '/',
    timeoutMs = 5_000,
  ): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const got = new Promise<{ status: number; headers: Record<string, string>; body: string }>((resolve, reject) => {
      const opened = (error: Error | undefined, channel: ClientChannel) => {
        if (error) return reject(this.lostOn(error) ?? error);
        // A listener that accepts but never answers must not hang the caller.
        const timer = setTimeout(() => channel.close(), timeoutMs);
        let response = '';
        channel.setEncoding('utf8');
        channel.on('data', (chunk: string) => (response += chunk));
        channel.on('close', () => {
          clearTimeout(timer);
          if (this.lostError) return reject(this.lostError);
          resolve(parseHttpResponse(response));
        });
        channel.end(`GET ${path} HTTP/1.0\r\nHost: localhost:${port}\r\nConnection: close\r\n\r\n`);
      };
      try {
        this.client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, opened);
      } catch (error) {
        reject(this.lostOn(error) ?? (error as Error));
      }
    });
    return this.guard(got);
  }

  close(): void {
    this.closedByUs = true;
    this.dockerOverSsh?.destroy();
    this.client.end();
  }

  /**
   * The lost-connection error when `error` says the connection is gone: ssh2 throws "Not connected" as soon as
   * its socket ended, which can be before the client's 'close' event.
   */
  private lostOn(error: unknown): LabvmError | undefined {
    if (!this.lostError && /^(Not connected|No response from server)$/.test(errorMessage(error))) this.markLost();
    return this.lostError;
  }

  private markLost(): void {
    this.lostError ??= new LabvmError(
      `The SSH connection to ${this.target.label} ${this.closedByUs ? 'was closed' : `was lost (${this.lostReason ?? 'the host closed it'})`}.`,
      'vm',
      this.target.reachHint,
      undefined,
      { cause: this.lostBecause },
    );
    for (const fail of [...this.pending]) fail(this.lostError);
    this.dockerOverSsh?.destroy(this.lostError);
  }

  private collect(
    channel: ClientChannel,
    options: RunOptions,
    resolve: (result: CommandResult) => void,
    reject: (error: unknown) => void,
  ): void {
    let stdout = '';
    let stderr = '';
    let exitCode: number | null = null;
    let signal: string | undefined;
    let timedOut = false;
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => ((timedOut = true), channel.close()), Math.max(1, options.timeoutMs))
        : undefined;
    channel.setEncoding('utf8');
    channel.stderr.setEncoding('utf8');
    channel.on('data', (chunk: string) => (stdout += chunk));
    channel.stderr.on('data', (chunk: string) => (stderr += chunk));
    channel.on('exit', (code: number | null, exitSignal?: string) => {
      exitCode = code;
      signal = exitSignal ?? undefined;
    });
    channel.on('close', () => {
      clearTimeout(timer);
      // A channel cut by a lost connection did not run to completion: never report it as a result.
      if (exitCode === null && signal === undefined && !timedOut)
        return reject(this.lostError ?? new Error('the channel closed before the command ended'));
      resolve({ exitCode, signal, stdout, stderr });
    });
    channel.end(options.stdin ?? '');
  }
}

function connectError(error: Error & { level?: string }, target: SshTarget, presentedKey?: Buffer): LabvmError {
  if (presentedKey && !target.trustedHostKeys.some((trusted) => trusted.equals(presentedKey))) {
    return new LabvmError(
      `${target.label} presented SSH host key ${fingerprint(presentedKey)}, which does not match ${target.trustSource}. ` +
        'labvm refused to connect: this can be a different machine at that address, or a man-in-the-middle.',
      'trust',
      target.trustHint,
    );
  }
  if (/privateKey|private key/i.test(error.message)) {
    return new LabvmError(
      `The SSH key for ${target.label} cannot be used: ${error.message}.`,
      'usage',
      'Use an unencrypted key with --identity, or load the key into your ssh-agent.',
      undefined,
      { cause: error },
    );
  }
  if (error.level === 'client-authentication') {
    return new LabvmError(
      `${target.label} refused labvm's SSH key for user ${target.username}.`,
      'trust',
      target.trustHint,
      undefined,
      { cause: error },
    );
  }
  return remoteError(`could not connect over SSH to ${target.host}:${target.port}`, error, target);
}

function remoteError(what: string, cause: unknown, target: SshTarget): LabvmError {
  return new LabvmError(`${target.label}: ${what}: ${errorMessage(cause)}.`, 'vm', target.reachHint, undefined, {
    cause,
  });
}

/** The host key algorithms that can yield one of the trusted keys (an RSA key is signed with SHA-2 today). */
export function hostKeyAlgorithms(trusted: Buffer[]): ServerHostKeyAlgorithm[] {
  const types = new Set(trusted.map((blob) => blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1')));
  return [...types].flatMap((type): ServerHostKeyAlgorithm[] =>
    type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type as ServerHostKeyAlgorithm],
  );
}

/** Quotes arguments for the remote POSIX shell. */
export function shellQuote(args: Array<string | number>): string {
  return args
    .map((arg) => {
      const text = String(arg);
      return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
    })
    .join(' ');
}
