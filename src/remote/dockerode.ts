import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type Docker from 'dockerode';

const require = createRequire(import.meta.url);

/**
 * dockerode, loaded without its BuildKit session support. dockerode requires that module (and through it gRPC and
 * protobuf, about 130 modules) at load time, only for `buildImage` with `version: '2'`, which labvm never asks
 * for; loading them is most of labvm's start-up time. If a later dockerode moves the file, nothing is skipped.
 */
function loadDockerode(): typeof Docker {
  const main = require.resolve('dockerode');
  const session = join(dirname(main), 'session.js');
  if (!require.cache[session]) {
    try {
      require.resolve(session);
      const module = new (require('node:module') as { Module: new (id: string) => NodeJS.Module }).Module(session);
      module.filename = session;
      module.loaded = true;
      module.exports = () => {
        throw new Error('BuildKit sessions are not available in labvm (buildImage with version 2).');
      };
      require.cache[session] = module;
    } catch {
      // not where this dockerode keeps it: load dockerode as it is
    }
  }
  return require('dockerode') as typeof Docker;
}

export const Dockerode = loadDockerode();
