import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  LabvmEnv,
  NGINX_BASE_IMAGE,
  e2eUnavailable,
  inVm,
  leftoversOf,
  loadImageIntoVm,
  purgeInstance,
  uniqueName,
  type Run,
} from '../support/labvm.js';

/**
 * The path every user takes, up -> exercise -> down, checked on whichever Node runs the tests (the CI runs this file
 * on each supported Node version): each step succeeds, and stderr holds labvm's own lines only, no Node warning.
 */

const skip = e2eUnavailable();

/** Lines Node itself prints on stderr: warnings (deprecations, experimental features) and their trace hint. */
const NODE_NOISE = /^\(node:\d+\)|\b[A-Z]\w*Warning\b|\[DEP\d{4}\]|--trace-(deprecation|warnings)/m;

function assertLabvmOnly(run: Run, step: string): void {
  assert.equal(run.code, 0, `${step}: ${run.stderr}`);
  assert.doesNotMatch(run.stderr, NODE_NOISE, `${step} on Node ${process.version}: stderr has a Node warning`);
  assert.doesNotMatch(run.stdout, NODE_NOISE, `${step} on Node ${process.version}: stdout has a Node warning`);
}

describe(`up -> exercise -> down on Node ${process.version}`, { skip, concurrency: false }, () => {
  const name = uniqueName('path');
  let lab: LabvmEnv;

  before(async () => (lab = await LabvmEnv.create()));
  after(async () => {
    purgeInstance(name);
    await lab.dispose();
  });

  test('up follows the VM to a ready Docker', async () => {
    const run = await lab.run(['up', '--name', name, '--timeout', '300']);
    assertLabvmOnly(run, 'up');
    assert.match(run.stdout, new RegExp(`${name} is ready`));
    assert.match(run.stderr, /✔ Docker reachable over SSH/);
  });

  test('exercise answers from what the VM shows: two PIDs for one process, the pair NSpid lists', async () => {
    loadImageIntoVm(name);
    const run = await lab.run(['exercise', '--name', name, '--base-image', NGINX_BASE_IMAGE, '--json']);
    assertLabvmOnly(run, 'exercise');
    const report = JSON.parse(run.stdout) as {
      pid: { host: number; container: number | null; nspid: number[]; same: boolean };
    };
    assert.equal(report.pid.nspid.length, 2, 'the sleep is in a nested PID namespace');
    assert.deepEqual([report.pid.host, report.pid.container], report.pid.nspid);
    assert.equal(report.pid.same, false);
    assert.equal(inVm(name, 'docker ps -aq').stdout.trim(), '', 'the exercise removed its container');
  });

  test('down leaves nothing behind', async () => {
    const run = await lab.run(['down', '--name', name]);
    assertLabvmOnly(run, 'down');
    assert.deepEqual(leftoversOf(name), []);
    await assert.rejects(stat(join(lab.home, name)), { code: 'ENOENT' });
  });
});
