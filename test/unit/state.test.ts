import assert from 'node:assert/strict';
import fsPromises, { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it, mock } from 'node:test';
import { InstanceState, labvmHome, stateFiles, type InstanceRecord } from '../../src/core/state.js';
import { expectLabvmRejection, withTempDir } from './helpers.js';

const posix = process.platform !== 'win32';
const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

const RECORD: InstanceRecord = {
  name: 'foo',
  createdBy: 'labvm',
  createdAt: '2025-02-14T10:02:11.000Z',
  labvmVersion: '0.1.0',
  image: '24.04',
  cpus: 2,
  memory: '4G',
  disk: '20G',
  hostPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM9jiVfqcg4+2M9b80Lv/prrv4PbiL4BgDPk9Fdm2qF2',
};

/** Counts chmod calls made through node:fs/promises (state.ts imports it as a named binding). */
function spyOnChmod() {
  const spy = mock.method(fsPromises, 'chmod');
  syncBuiltinESMExports();
  return spy;
}

afterEach(() => {
  mock.restoreAll();
  syncBuiltinESMExports();
});

describe('labvmHome', () => {
  it('honours LABVM_HOME', () => {
    assert.equal(labvmHome({ LABVM_HOME: '/srv/labvm-state' }), '/srv/labvm-state');
  });

  it('is ~/.labvm otherwise (also for an empty LABVM_HOME)', () => {
    assert.equal(labvmHome({}), join(homedir(), '.labvm'));
    assert.equal(labvmHome({ LABVM_HOME: '' }), join(homedir(), '.labvm'));
  });
});

describe('InstanceState', () => {
  it('keeps one folder per instance, with fixed file names', () => {
    const state = new InstanceState('foo', '/home/me/.labvm', 'linux');
    assert.equal(state.dir, join('/home/me/.labvm', 'foo'));
    assert.equal(state.path('record'), join('/home/me/.labvm', 'foo', 'instance.json'));
    assert.equal(state.path('clientKey'), join('/home/me/.labvm', 'foo', 'id_ed25519'));
    assert.equal(stateFiles.knownHosts, 'known_hosts');
  });

  it('writes files 0600 in a folder 0700 on Linux', { skip: !posix && 'POSIX modes only' }, () =>
    withTempDir(async (home) => {
      const state = new InstanceState('foo', home, 'linux');
      await state.write('clientKey', 'PRIVATE\n');
      assert.equal(await modeOf(state.dir), 0o700);
      assert.equal(await modeOf(state.path('clientKey')), 0o600);
      assert.equal(await readFile(state.path('clientKey'), 'utf8'), 'PRIVATE\n');
    }),
  );

  it('tightens a folder and a file that existed with looser modes', { skip: !posix && 'POSIX modes only' }, () =>
    withTempDir(async (home) => {
      const state = new InstanceState('foo', home, 'linux');
      await mkdir(state.dir, { mode: 0o755 });
      await chmod(state.dir, 0o755);
      await writeFile(state.path('knownHosts'), 'old\n', { mode: 0o644 });
      await chmod(state.path('knownHosts'), 0o644);
      await state.write('knownHosts', 'new\n');
      assert.equal(await modeOf(state.dir), 0o700);
      assert.equal(await modeOf(state.path('knownHosts')), 0o600);
      assert.equal(await readFile(state.path('knownHosts'), 'utf8'), 'new\n');
    }),
  );

  it('attempts no chmod with platform win32, and still writes', () =>
    withTempDir(async (home) => {
      const spy = spyOnChmod();
      const state = new InstanceState('foo', home, 'win32');
      await state.write('record', '{}\n');
      await state.ensureDir();
      assert.equal(spy.mock.callCount(), 0);
      assert.equal(await readFile(state.path('record'), 'utf8'), '{}\n');
    }));

  it('does chmod the folder and the file on Linux (the spy sees calls)', { skip: !posix && 'POSIX modes only' }, () =>
    withTempDir(async (home) => {
      const spy = spyOnChmod();
      const state = new InstanceState('foo', home, 'linux');
      await state.write('record', '{}\n');
      const modes = spy.mock.calls.map((call) => call.arguments[1]);
      assert.deepEqual(modes, [0o700, 0o600]);
    }),
  );

  it("leaves a pre-existing folder's mode alone with platform win32", { skip: !posix && 'POSIX modes only' }, () =>
    withTempDir(async (home) => {
      const state = new InstanceState('foo', home, 'win32');
      await mkdir(state.dir);
      await chmod(state.dir, 0o755);
      await state.write('record', '{}\n');
      assert.equal(await modeOf(state.dir), 0o755);
    }),
  );

  it('writes atomically: the whole new content, and no temporary file left behind', () =>
    withTempDir(async (home) => {
      const state = new InstanceState('foo', home, process.platform);
      await state.write('sshConfig', 'x'.repeat(10_000));
      await state.write('sshConfig', 'short\n');
      await state.write('knownHosts', 'labvm-foo ssh-ed25519 AAAA\n');
      assert.equal(await readFile(state.path('sshConfig'), 'utf8'), 'short\n');
      assert.deepEqual((await readdir(state.dir)).sort(), ['known_hosts', 'ssh_config']);
    }));

  it('writes many times concurrently without leaving temporary files', () =>
    withTempDir(async (home) => {
      const state = new InstanceState('foo', home, process.platform);
      await Promise.all(Array.from({ length: 20 }, (_, i) => state.write('record', `${i}\n`)));
      assert.deepEqual(await readdir(state.dir), ['instance.json']);
      assert.match(await readFile(state.path('record'), 'utf8'), /^\d+\n$/);
    }));

  it('reads undefined for a file that is absent', () =>
    withTempDir(async (home) => {
      const state = new InstanceState('foo', home, process.platform);
      assert.equal(await state.read('clientKey'), undefined);
      assert.equal(await state.exists(), false);
    }));

  it('round-trips a record as indented JSON with a final newline', () =>
    withTempDir(async (home) => {
      const state = new InstanceState('foo', home, process.platform);
      await state.writeRecord(RECORD);
      assert.deepEqual(await state.readRecord(), RECORD);
      assert.equal(await readFile(state.path('record'), 'utf8'), `${JSON.stringify(RECORD, null, 2)}\n`);
    }));

  it('readRecord returns undefined when there is no record', () =>
    withTempDir(async (home) => {
      assert.equal(await new InstanceState('foo', home, process.platform).readRecord(), undefined);
    }));

  for (const [what, content] of [
    ['damaged JSON', '{"name": "foo", "createdBy": "lab'],
    ['an empty file', ''],
    ['JSON of another shape', '["foo"]'],
    ['a record not created by labvm', JSON.stringify({ ...RECORD, createdBy: 'someone' })],
    ['a record without the host key', JSON.stringify({ ...RECORD, hostPublicKey: undefined })],
    ['JSON null', 'null'],
  ] as const) {
    it(`readRecord throws a LabvmError for ${what}, with the way out`, () =>
      withTempDir(async (home) => {
        const state = new InstanceState('foo', home, process.platform);
        await state.write('record', content);
        const error = await expectLabvmRejection(state.readRecord(), 'vm', /is damaged\.$/);
        assert.ok(error.message.includes(state.path('record')), error.message);
        assert.match(error.hint ?? '', /`labvm down --name foo`/);
      }));
  }

  it('remove deletes the folder, and is harmless when it is already gone', () =>
    withTempDir(async (home) => {
      const state = new InstanceState('foo', home, process.platform);
      const sibling = new InstanceState('bar', home, process.platform);
      await state.writeRecord(RECORD);
      await state.write('clientKey', 'PRIVATE\n');
      await sibling.write('clientKey', 'OTHER\n');
      assert.equal(await state.exists(), true);
      await state.remove();
      assert.equal(await state.exists(), false);
      await assert.rejects(stat(state.dir), { code: 'ENOENT' });
      await state.remove();
      assert.equal(await sibling.read('clientKey'), 'OTHER\n', 'another instance is untouched');
    }));
});
