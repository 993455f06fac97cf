import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ROOT } from '../support/labvm.js';

/** Runs a script in a fresh Node (its module cache empty) and returns what it printed. */
function fresh(script: string): string {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

const LOADED_GRPC = `Object.keys(createRequire(import.meta.url).cache).some((f) => /@grpc|protobufjs/.test(f))`;

describe('dockerode()', () => {
  it('gives a working dockerode without loading gRPC or protobufjs', () => {
    const out = fresh(`
      import { createRequire } from 'node:module';
      const { dockerode } = await import('./dist/src/remote/dockerode.js');
      const Docker = dockerode();
      const docker = new Docker({ protocol: 'http', host: 'localhost', port: 2375 });
      console.log(typeof docker.getContainer('x').inspect, ${LOADED_GRPC});`);
    assert.equal(out, 'function false');
  });

  it("still loads BuildKit's session support when it is called", () => {
    const out = fresh(`
      import { createRequire } from 'node:module';
      const { dockerode } = await import('./dist/src/remote/dockerode.js');
      dockerode();
      const withSession = createRequire(import.meta.url)('dockerode/lib/session.js');
      withSession({ modem: { dial: (_options, callback) => callback(new Error('no engine here')) } }, undefined,
        (error) => console.log(error.message, ${LOADED_GRPC}));`);
    assert.equal(out, 'no engine here true');
  });
});
