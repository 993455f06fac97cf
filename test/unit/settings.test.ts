import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings } from '../../src/core/settings.js';
import { LabvmError } from '../../src/core/errors.js';

describe('teacher defaults: flag > env > file > built-in', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'labvm-settings-'));
    env = { LABVM_HOME: home };
  });
  after(() => rm(home, { recursive: true, force: true }));

  const rejects = async (promise: Promise<unknown>, message: RegExp) => {
    await assert.rejects(
      promise,
      (error: unknown) => error instanceof LabvmError && error.exitCode === 2 && message.test(error.message),
    );
  };

  test('without a file every value is built in', async () => {
    const settings = await resolveSettings({}, undefined, env);
    assert.deepEqual([settings.memory.value, settings.memory.source], ['4G', 'built-in']);
  });

  test('each layer wins over the ones below it, and says where it came from', async () => {
    const file = join(home, 'config.json');
    await writeFile(file, JSON.stringify({ cpus: 3, memory: '3G', disk: '15G', baseImage: 'mirror.local/nginx:1' }));
    const settings = await resolveSettings({ cpus: '6' }, undefined, { ...env, LABVM_MEMORY: '5G', LABVM_CPUS: '5' });
    assert.deepEqual(settings.cpus, { value: '6', source: 'flag', origin: '--cpus' });
    assert.deepEqual(settings.memory, { value: '5G', source: 'env', origin: 'LABVM_MEMORY' });
    assert.deepEqual(settings.disk, { value: '15G', source: 'file', origin: file });
    assert.deepEqual(settings.baseImage, { value: 'mirror.local/nginx:1', source: 'file', origin: file });
    assert.deepEqual(settings.image, { value: '24.04', source: 'built-in', origin: 'labvm' });
  });

  test('--config FILE replaces $LABVM_HOME/config.json and must exist', async () => {
    const other = join(home, 'class.json');
    await writeFile(other, '{"image": "22.04"}');
    assert.equal((await resolveSettings({}, other, env)).image.value, '22.04');
    await rejects(resolveSettings({}, join(home, 'nope.json'), env), /nope\.json cannot be read/);
  });

  test('an unknown key, a bad value, bad JSON or a non-object names the file and the key', async () => {
    const file = join(home, 'bad.json');
    const cases: Array<[string, RegExp]> = [
      ['{"memroy": "4G"}', /bad\.json has an unknown key "memroy"/],
      ['{"memory": "4Q"}', /bad\.json has a bad value for "memory": Invalid memory size "4Q"\.$/],
      ['{"cpus": 0}', /bad\.json has a bad value for "cpus"/],
      ['{"timeout": true}', /bad\.json has a bad value for "timeout": expected a string or a number/],
      ['{"image": ""}', /bad\.json has a bad value for "image"/],
      ['{"memory": "4G",}', /bad\.json is not valid JSON/],
      ['["4G"]', /bad\.json must hold one JSON object/],
    ];
    for (const [text, message] of cases) {
      await writeFile(file, text);
      await rejects(resolveSettings({}, file, env), message);
    }
  });

  test('a bad flag or environment value names the flag or the variable', async () => {
    await rejects(resolveSettings({ disk: '10X' }, undefined, env), /disk \(--disk\)/);
    await rejects(resolveSettings({}, undefined, { ...env, LABVM_TIMEOUT: 'soon' }), /timeout \(LABVM_TIMEOUT\)/);
  });
});
