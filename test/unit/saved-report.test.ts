import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toJson } from '../../src/report/json.js';
import { buildReport } from '../../src/report/model.js';
import { readSavedReport } from '../../src/report/saved.js';
import { appArmor, noLsm, variant } from '../fixtures/evidence.js';
import { expectLabvmError } from './helpers.js';

const META = { startedAt: '2026-11-29T14:00:00.000Z', durationSeconds: 48, labvmVersion: '0.1.0' };
const saved = (value: unknown) => JSON.stringify(value);

describe('readSavedReport', () => {
  it('recomputes the same answers from a report this labvm wrote, and finds no difference', () => {
    for (const evidence of [appArmor(), noLsm()]) {
      const json = toJson(buildReport(evidence, META));
      const result = readSavedReport(saved(json), 'run.json', '9.9.9');
      assert.deepEqual(result.differences, []);
      assert.deepEqual(toJson(result.report).killFromInside, json.killFromInside);
      assert.equal(result.writtenBy, '0.1.0');
      assert.equal(result.report.labvmVersion, '9.9.9');
      assert.equal(result.report.recomputedFrom, '0.1.0');
    }
  });

  it('says which stored answer differs from what the evidence gives (an edited hand-in)', () => {
    const json = toJson(buildReport(appArmor(), META));
    json.killFromInside.cause = 'no-lsm';
    const result = readSavedReport(saved(json), 'run.json', '0.1.0');
    assert.deepEqual(result.differences, ['question 3: the file says cause "no-lsm", the evidence gives "apparmor"']);
  });

  it('re-explains a schemaVersion 1 report written before the newer evidence fields: they count as not observed', () => {
    const evidence = variant(noLsm(), (e) => {
      for (const key of ['lsmListRead', 'selinuxEnforcing', 'baseImage', 'containerRemoved'] as const)
        delete e.environment[key];
      for (const key of ['initComm', 'uidMap', 'initAppArmorLabel', 'execAppArmorLabel'] as const)
        delete e.container[key];
      delete e.sleep.appArmorLabel;
      delete e.kill.audit;
    });
    const result = readSavedReport(saved(toJson(buildReport(evidence, META))), 'old.json', '0.2.0');
    assert.equal(result.report.answers.killFromInside.cause, 'no-lsm', 'a non-empty LSM list was read');
    assert.ok(result.report.answers.killFromInside.evidence.includes('kernel audit log: not observed'));
    assert.match(result.report.answers.stopContainer.explanation, /its name was not observed/);
  });

  it('an old report whose LSM list is empty is not turned into "no LSM"', () => {
    const evidence = variant(noLsm(), (e) => {
      delete e.environment.lsmListRead;
      e.environment.lsms = [];
    });
    const result = readSavedReport(saved(toJson(buildReport(evidence, META))), 'old.json', '0.2.0');
    assert.equal(result.report.answers.killFromInside.cause, 'unexplained');
  });

  it('refuses bad input with a usage error (exit 2) that names the problem', () => {
    expectLabvmError(() => readSavedReport('{"schemaVersion": 1,', 'a.json', '0.1.0'), 'usage', /a\.json is not JSON/);
    expectLabvmError(
      () => readSavedReport('[1,2]', 'a.json', '0.1.0'),
      'usage',
      /a\.json is not a labvm report \(it has no schemaVersion\)/,
    );
    expectLabvmError(() => readSavedReport(saved({ name: 'x' }), 'a.json', '0.1.0'), 'usage', /not a labvm report/);
    const newer = { ...toJson(buildReport(noLsm(), META)), schemaVersion: 2 };
    const error = expectLabvmError(
      () => readSavedReport(saved(newer), 'a.json', '0.1.0'),
      'usage',
      /written by a newer labvm \(schemaVersion 2\)/,
    );
    assert.match(error.hint ?? '', /Update labvm/);
    const broken = toJson(buildReport(noLsm(), META)) as unknown as { evidence: { kill: { exitCode: unknown } } };
    broken.evidence.kill.exitCode = '0';
    expectLabvmError(
      () => readSavedReport(saved(broken), 'a.json', '0.1.0'),
      'usage',
      /evidence\.kill\.exitCode is string, expected number/,
    );
  });
});
