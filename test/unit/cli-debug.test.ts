import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI } from '../support/labvm.js';
import { withTempDir } from './helpers.js';

/** The real CLI, with a multipass that cannot be found: the error's cause is shown only with LABVM_DEBUG=1. */
function statusWithoutMultipass(home: string, debug: boolean) {
  const missing = join(home, 'no-such-multipass');
  const env = {
    ...process.env,
    NO_COLOR: '1',
    LABVM_HOME: home,
    LABVM_MULTIPASS: missing,
    LABVM_DEBUG: debug ? '1' : '',
  };
  return { missing, ...spawnSync(process.execPath, [CLI, 'status'], { encoding: 'utf8', env }) };
}

describe('LABVM_DEBUG', () => {
  it('adds the chain of causes under the error, and only then', async () => {
    await withTempDir(async (home) => {
      const plain = statusWithoutMultipass(home, false);
      assert.equal(plain.status, 3, plain.stderr);
      assert.match(plain.stderr, /The multipass command was not found/);
      assert.doesNotMatch(plain.stderr, /caused by/);

      const debug = statusWithoutMultipass(home, true);
      assert.equal(debug.status, 3, debug.stderr);
      const lines = debug.stderr.trimEnd().split('\n');
      assert.match(lines[0]!, /^labvm: The multipass command was not found/);
      assert.equal(lines[1], `  caused by: spawn ${debug.missing} ENOENT`);
      assert.match(lines[2]!, /^ {2}next: /);
    });
  });
});
