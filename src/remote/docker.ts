import { Agent } from 'node:http';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { Client, ClientChannel } from 'ssh2';
import { LabvmError, errorMessage } from '../core/errors.js';
import { debug } from '../core/debug-log.js';
import { dockerode } from './dockerode.js';

export const DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * An http.Agent whose sockets are SSH channels to the VM's Docker socket (OpenSSH direct-streamlocal).
 * docker-modem's own `ssh` protocol would open a new SSH connection for every request instead.
 */
class DockerSocketAgent extends Agent {
  /** Every channel handed out, so that a lost connection can fail the requests still using them. */
  private readonly channels = new Set<ClientChannel>();

  constructor(
    private readonly client: Client,
    private readonly lost: (error: unknown) => Error | undefined,
    keepAlive: boolean,
  ) {
    super({ keepAlive, maxSockets: 8 });
  }

  override createConnection(_options: unknown, callback: (error: Error | null, socket?: Duplex) => void): undefined {
    // A channel open that fails because the connection is gone is that, not a refusal by Docker.
    const refused = (error: Error) => callback(this.lost(error) ?? dockerSocketError(error));
    try {
      this.client.openssh_forwardOutStreamLocal(DOCKER_SOCKET, (error, channel) => {
        if (error) return refused(error);
        this.channels.add(channel);
        channel.once('close', () => this.channels.delete(channel));
        callback(null, asSocket(channel));
      });
    } catch (error) {
      refused(error as Error); // "Not connected" is thrown synchronously once the connection is gone
    }
    return undefined;
  }

  /** Ends every request in flight with `error` (the connection is gone), besides the pooled sockets. */
  failAll(error: Error | undefined): void {
    for (const channel of this.channels) (channel as Duplex).destroy(error);
    this.channels.clear();
    this.destroy();
  }
}

/** Node's http client calls these socket methods; an SSH channel has none of them. */
function asSocket(channel: ClientChannel): Duplex {
  const socket = channel as unknown as Record<string, unknown>;
  for (const method of ['setTimeout', 'setKeepAlive', 'setNoDelay', 'ref', 'unref']) {
    socket[method] ??= () => channel;
  }
  return channel;
}

function dockerSocketError(error: Error): LabvmError {
  return new LabvmError(
    `The host refused a connection to ${DOCKER_SOCKET} over SSH (${error.message}).`,
    'vm',
    'Check that Docker runs there (`sudo systemctl status docker`) and that the SSH user is in the docker group (`id -nG`), then log in anew.',
    undefined,
    { cause: error },
  );
}

/** docker-modem honours `agent` for the http protocol; the host and port only fill the request line. */
function dockerThrough(agent: Agent): Docker {
  const Dockerode = dockerode();
  return logged(new Dockerode({ protocol: 'http', host: 'localhost', port: 2375, agent } as Docker.DockerOptions));
}

type Dial = (options: { method?: string; path?: string }, callback: (error: unknown, data: unknown) => void) => void;

/** Every API request goes through the modem's dial: recorded in the debug log with its timing (never bodies). */
function logged(docker: Docker): Docker {
  const modem = docker.modem as unknown as { dial: Dial };
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    const started = Date.now();
    dial(options, (error, data) => {
      const outcome = error ? `failed: ${(error as { statusCode?: number }).statusCode ?? errorMessage(error)}` : 'ok';
      debug(
        'docker',
        `${options.method ?? 'GET'} ${(options.path ?? '').replace(/\?.*$/, '')} -> ${outcome} (${Date.now() - started} ms)`,
      );
      callback(error, data);
    });
  };
  return docker;
}

export class DockerOverSsh {
  private readonly agent: DockerSocketAgent;
  private readonly buildAgent: DockerSocketAgent;
  /** For ordinary API calls: one keep-alive channel serves sequential requests. */
  readonly api: Docker;
  /** Image builds stream for long and misbehave on reused connections, so they get fresh channels. */
  readonly builder: Docker;

  constructor(client: Client, lost: (error: unknown) => Error | undefined) {
    this.agent = new DockerSocketAgent(client, lost, true);
    this.buildAgent = new DockerSocketAgent(client, lost, false);
    this.api = dockerThrough(this.agent);
    this.builder = dockerThrough(this.buildAgent);
  }

  /** Closes the channels; with an error, the requests still in flight fail with it. */
  destroy(error?: Error): void {
    this.agent.failAll(error);
    this.buildAgent.failAll(error);
  }
}
