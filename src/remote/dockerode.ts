import Module, { createRequire } from 'node:module';
import type Docker from 'dockerode';

const require = createRequire(import.meta.url);
const SESSION = 'dockerode/lib/session.js';
let loaded: typeof Docker | undefined;

/**
 * dockerode, without loading its BuildKit session support up front. Loading dockerode requires @grpc/grpc-js and
 * protobufjs at once (about 150 ms of CPU, more than all of an exercise's Docker API calls) for BuildKit builds,
 * which labvm never asks for: it uses the classic builder. The session module is put in require's cache as a stub
 * that loads the real one on its first call, so a BuildKit build would still work, only later.
 */
export function dockerode(): typeof Docker {
  if (loaded) return loaded;
  const session = require.resolve(SESSION);
  if (!require.cache[session]) {
    const stub = new Module(session);
    stub.filename = session;
    stub.loaded = true;
    stub.exports = (...args: unknown[]): unknown => {
      delete require.cache[session];
      return (require(session) as (...args: unknown[]) => unknown)(...args);
    };
    require.cache[session] = stub;
  }
  return (loaded = require('dockerode') as typeof Docker);
}
