import { createHash } from 'node:crypto';
import { posix, win32 } from 'node:path';
import { LabvmError, usageError } from '../core/errors.js';
import type { Platform } from '../core/platform.js';

/** A local (or TLS-protected) Docker engine endpoint, chosen the way the docker CLI chooses it. */
export interface DockerEndpoint {
  /** As the docker CLI writes it, e.g. unix:///var/run/docker.sock. Holds no secrets (TLS files are named, not read). */
  url: string;
  /** Where it came from, for messages: "DOCKER_HOST", "context colima (--context)", "the default socket". */
  source: string;
  /** A Unix socket or a Windows named pipe, for dockerode's socketPath. */
  socketPath?: string;
  host?: string;
  port?: number;
  /** PEM files for tcp:// with TLS; verify=false mirrors a context's SkipTLSVerify. */
  tls?: { caFile: string; certFile: string; keyFile: string; verify: boolean };
}

/** Everything the choice depends on, passed in so that each platform can be tested on any machine. */
export interface EndpointInputs {
  env: NodeJS.ProcessEnv;
  platform: Platform;
  home: string;
  /** --context NAME */
  context?: string;
  /** The file's text, or undefined when it does not exist. */
  readFile: (path: string) => string | undefined;
  exists: (path: string) => boolean;
}

const WINDOWS_PIPE = '//./pipe/docker_engine';

/**
 * DOCKER_HOST first; else the context named by --context, DOCKER_CONTEXT or the config's currentContext; else the
 * platform's default socket.
 */
export function resolveDockerEndpoint(inputs: EndpointInputs): DockerEndpoint {
  const { env } = inputs;
  if (env.DOCKER_HOST) return parseHost(env.DOCKER_HOST, 'DOCKER_HOST', tlsFromEnv(inputs));
  const configDir = env.DOCKER_CONFIG || pathFor(inputs.platform).join(inputs.home, '.docker');
  const named = inputs.context
    ? { name: inputs.context, how: '--context' }
    : env.DOCKER_CONTEXT
      ? { name: env.DOCKER_CONTEXT, how: 'DOCKER_CONTEXT' }
      : currentContext(inputs, configDir);
  if (named && named.name !== 'default') return fromContext(inputs, configDir, named.name, named.how);
  return defaultEndpoint(inputs);
}

function pathFor(platform: Platform) {
  return platform === 'win32' ? win32 : posix;
}

function currentContext(inputs: EndpointInputs, configDir: string): { name: string; how: string } | undefined {
  const file = pathFor(inputs.platform).join(configDir, 'config.json');
  const text = inputs.readFile(file);
  if (text === undefined) return undefined;
  const config = parseJson<{ currentContext?: string }>(text, file);
  return config.currentContext ? { name: config.currentContext, how: `currentContext in ${file}` } : undefined;
}

/** The docker CLI stores a context under the SHA-256 of its name. */
function fromContext(inputs: EndpointInputs, configDir: string, name: string, how: string): DockerEndpoint {
  const path = pathFor(inputs.platform);
  const id = createHash('sha256').update(name).digest('hex');
  const metaFile = path.join(configDir, 'contexts', 'meta', id, 'meta.json');
  const text = inputs.readFile(metaFile);
  if (text === undefined) {
    throw usageError(
      `Docker context "${name}" (${how}) does not exist: there is no ${metaFile}.`,
      'List the contexts with `docker context ls`, and pass one with --context NAME.',
    );
  }
  const meta = parseJson<{ Endpoints?: { docker?: { Host?: string; SkipTLSVerify?: boolean } } }>(text, metaFile);
  const docker = meta.Endpoints?.docker;
  if (!docker?.Host)
    throw usageError(
      `Docker context "${name}" has no Docker endpoint in ${metaFile}.`,
      'Check it with `docker context inspect ' + name + '`.',
    );
  const tlsDir = path.join(configDir, 'contexts', 'tls', id, 'docker');
  const tls = inputs.exists(path.join(tlsDir, 'cert.pem'))
    ? {
        caFile: path.join(tlsDir, 'ca.pem'),
        certFile: path.join(tlsDir, 'cert.pem'),
        keyFile: path.join(tlsDir, 'key.pem'),
        verify: !docker.SkipTLSVerify,
      }
    : undefined;
  return parseHost(docker.Host, `context ${name} (${how})`, tls);
}

/** DOCKER_TLS_VERIFY turns TLS on, with the PEM files in DOCKER_CERT_PATH (default ~/.docker), as the docker CLI does. */
function tlsFromEnv(inputs: EndpointInputs): DockerEndpoint['tls'] {
  if (!inputs.env.DOCKER_TLS_VERIFY) return undefined;
  const path = pathFor(inputs.platform);
  const dir = inputs.env.DOCKER_CERT_PATH || path.join(inputs.home, '.docker');
  return {
    caFile: path.join(dir, 'ca.pem'),
    certFile: path.join(dir, 'cert.pem'),
    keyFile: path.join(dir, 'key.pem'),
    verify: true,
  };
}

function defaultEndpoint(inputs: EndpointInputs): DockerEndpoint {
  const source = 'the default socket';
  if (inputs.platform === 'win32') return { url: `npipe://${WINDOWS_PIPE}`, socketPath: WINDOWS_PIPE, source };
  // Docker Desktop on macOS puts its socket in the user's home; /var/run/docker.sock is an optional symlink to it.
  const desktop = posix.join(inputs.home, '.docker', 'run', 'docker.sock');
  const socketPath = inputs.platform === 'darwin' && inputs.exists(desktop) ? desktop : '/var/run/docker.sock';
  return { url: `unix://${socketPath}`, socketPath, source };
}

export function parseHost(url: string, source: string, tls?: DockerEndpoint['tls']): DockerEndpoint {
  const scheme = /^([a-z]+):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'unix' || scheme === 'npipe') {
    const socketPath = url.slice(scheme.length + 3);
    if (!socketPath) throw usageError(`The Docker endpoint "${url}" (${source}) names no socket.`);
    return { url, source, socketPath };
  }
  if (scheme === 'tcp') {
    const address = new URL(url.replace(/^tcp:/i, 'http:'));
    return {
      url,
      source,
      host: address.hostname.replace(/^\[|\]$/g, ''),
      port: Number(address.port) || (tls ? 2376 : 2375),
      tls,
    };
  }
  if (scheme === 'ssh') {
    throw new LabvmError(
      `The Docker endpoint ${url} (${source}) is reached over SSH, which --docker does not do.`,
      'usage',
      `For a Linux host over SSH, run \`labvm exercise --host ${url.replace(/^ssh:\/\//i, '').replace(/\/.*$/, '')}\` instead.`,
    );
  }
  throw usageError(
    `The Docker endpoint "${url}" (${source}) is not one labvm understands.`,
    'Use unix://PATH, npipe://PATH or tcp://HOST:PORT, as the docker CLI does.',
  );
}

function parseJson<T>(text: string, file: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new LabvmError(
      `${file} is not valid JSON.`,
      'usage',
      'Fix or remove it (the docker CLI reads it too).',
      (error as Error).message,
      { cause: error },
    );
  }
}
