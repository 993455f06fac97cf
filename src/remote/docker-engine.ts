import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import type Docker from 'dockerode';
import { dockerode } from './dockerode.js';
import { LabvmError, dockerErrorMessage } from '../core/errors.js';
import { currentPlatform } from '../core/platform.js';
import { resolveDockerEndpoint, type DockerEndpoint } from './docker-endpoint.js';

/** The Docker engine the docker CLI would use here (see docker-endpoint.ts), checked to answer. */
export async function connectToEngine(context?: string): Promise<{ docker: Docker; endpoint: DockerEndpoint }> {
  const endpoint = resolveDockerEndpoint({
    env: process.env,
    platform: currentPlatform(),
    home: homedir(),
    context,
    readFile: (path) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined),
    exists: existsSync,
  });
  const Dockerode = dockerode();
  const docker = new Dockerode(dockerOptions(endpoint));
  try {
    // dockerode takes an abort signal here, though its types omit the argument.
    await (docker as unknown as { ping(options: { abortSignal: AbortSignal }): Promise<unknown> }).ping({
      abortSignal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw new LabvmError(
      `The Docker engine at ${endpoint.url} (from ${endpoint.source}) did not answer: ${dockerErrorMessage(error)}.`,
      'prerequisite',
      'Start Docker Desktop (or Colima, OrbStack, Rancher Desktop, dockerd), or point DOCKER_HOST or --context at a running engine; `docker context ls` lists them.',
      undefined,
      { cause: error },
    );
  }
  return { docker, endpoint };
}

/** dockerode's own transport options: a Unix socket or named pipe, or TCP with the TLS files read here. */
function dockerOptions(endpoint: DockerEndpoint): Docker.DockerOptions {
  if (endpoint.socketPath) return { socketPath: endpoint.socketPath };
  const { tls } = endpoint;
  if (!tls) return { protocol: 'http', host: endpoint.host, port: endpoint.port };
  const read = (file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new LabvmError(
        `Cannot read the TLS file ${file} for ${endpoint.url} (from ${endpoint.source}): ${(error as Error).message}.`,
        'prerequisite',
        "Check DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem), or the context's TLS files (`docker context inspect`).",
        undefined,
        { cause: error },
      );
    }
  };
  return {
    protocol: 'https',
    host: endpoint.host,
    port: endpoint.port,
    ca: read(tls.caFile),
    cert: read(tls.certFile),
    key: read(tls.keyFile),
    ...(tls.verify ? {} : { checkServerIdentity: () => undefined }),
  };
}
