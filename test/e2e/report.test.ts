import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toJson } from '../../src/report/json.js';
import { buildReport } from '../../src/report/model.js';
import { noLsm } from '../fixtures/evidence.js';
import { LabvmEnv } from '../support/labvm.js';

/** `labvm report FILE.json` through the real CLI: re-rendering, edited files, and bad input (exit 2). */
describe('labvm report', () => {
  let lab: LabvmEnv;
  const saved = () =>
    toJson(
      buildReport(noLsm(), { startedAt: '2026-11-29T14:12:00.000Z', durationSeconds: 20.5, labvmVersion: '0.0.9' }),
    );
  before(async () => {
    lab = await LabvmEnv.create();
  });
  after(async () => {
    await lab.dispose();
  });

  test('re-renders a saved report for the terminal and as Markdown, and says the answers match', async () => {
    const file = join(lab.home, 'run.json');
    const markdown = join(lab.home, 'run.md');
    await writeFile(file, JSON.stringify(saved()));
    const run = await lab.run(['report', file, '--markdown', markdown]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /3\. Can the process be killed from inside the container\?/);
    assert.match(run.stdout, /evidence recorded by labvm 0\.0\.9 [\s\S]*answers\s+recomputed by labvm/);
    assert.match(run.stderr, /match those recomputed from its evidence/);
    assert.match(await readFile(markdown, 'utf8'), /## The same steps by hand/);
  });

  test('an edited hand-in is called out, and the report shows what the evidence gives', async () => {
    const edited = saved();
    edited.killFromInside.cause = 'apparmor';
    const file = join(lab.home, 'edited.json');
    await writeFile(file, JSON.stringify(edited));
    const run = await lab.run(['report', file, '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /differ from those its evidence gives[\s\S]*question 3: the file says cause "apparmor", the evidence gives "no-lsm"/,
    );
    const json = JSON.parse(run.stdout) as { killFromInside: { cause: string }; recomputed: { differences: string[] } };
    assert.equal(json.killFromInside.cause, 'no-lsm');
    assert.equal(json.recomputed.differences.length, 1);
  });

  test('bad input: not JSON, not a labvm report, a newer schemaVersion, a missing file -> exit 2 with the reason', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['broken.json', '{"schemaVersion": 1', /is not JSON/],
      ['other.json', '{"name": "something else"}', /is not a labvm report \(it has no schemaVersion\)/],
      [
        'newer.json',
        JSON.stringify({ ...saved(), schemaVersion: 2 }),
        /written by a newer labvm \(schemaVersion 2\)[\s\S]*Update labvm/,
      ],
    ];
    for (const [name, text, message] of cases) {
      const file = join(lab.home, name);
      await writeFile(file, text);
      const run = await lab.run(['report', file]);
      assert.equal(run.code, 2, `${name}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, '');
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    }
    const missing = await lab.run(['report', join(lab.home, 'missing.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Cannot read .*missing\.json/);
  });
});
