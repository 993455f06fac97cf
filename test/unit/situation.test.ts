import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeSituation, notReadyError, situationOf, type Situation } from '../../src/vm/situation.js';
import type { InstanceInfo } from '../../src/vm/multipass.js';

const info = (state: InstanceInfo['state'], ipv4?: string): InstanceInfo => ({
  name: 'ux-b',
  state,
  ipv4,
  release: '',
  imageRelease: '',
});

describe('situationOf', () => {
  it("reads Multipass's view and labvm's record", () => {
    assert.equal(situationOf(undefined, false), 'absent');
    assert.equal(situationOf(info('Deleted'), true), 'absent');
    assert.equal(situationOf(info('Running', '10.0.0.2'), false), 'not-labvm');
    assert.equal(situationOf(info('Stopped'), true), 'stopped');
    assert.equal(situationOf(info('Suspended'), true), 'stopped');
    assert.equal(situationOf(info('Starting'), true), 'starting');
    assert.equal(situationOf(info('Running'), true), 'starting');
    assert.equal(situationOf(info('Running', '10.0.0.2'), true), 'running');
  });
});

describe('describeSituation: each state names itself and the one next command, with --name', () => {
  const expected: Record<Situation, [RegExp, string]> = {
    absent: [/^There is no labvm VM named "ux-b"\.$/, 'Create it with `labvm up --name ux-b`.'],
    'not-labvm': [
      /^The Multipass instance "ux-b" was not created by labvm/,
      'Use a labvm VM under another name: `labvm up --name <name>`.',
    ],
    stopped: [/^ux-b is stopped/, 'Run `labvm up --name ux-b` to start it.'],
    starting: [/^ux-b is starting/, 'Run `labvm up --name ux-b` to follow it until it is ready.'],
    provisioning: [/^ux-b is still being set up \(cloud-init running\)\.$/, 'Run `labvm up --name ux-b` to follow it.'],
    'provisioning-failed': [
      /^ux-b's set-up failed \(cloud-init status: error\)/,
      'Run `labvm up --name ux-b` to see the end of the set-up log, then `labvm down --name ux-b` and `labvm up --name ux-b` to start again.',
    ],
    ready: [/^ux-b is ready\.$/, 'Run `labvm exercise --name ux-b`.'],
  };
  for (const [situation, [says, next]] of Object.entries(expected) as Array<[Situation, [RegExp, string]]>) {
    it(situation, () => {
      const text = describeSituation('ux-b', situation, 'status');
      assert.match(text.says, says);
      assert.equal(text.next, next);
    });
  }

  it('the default name needs no --name', () => {
    assert.equal(describeSituation('labvm', 'provisioning', 'exercise').next, 'Run `labvm up` to follow it.');
  });

  it('an absent VM names the other labvm VMs instead of steering to a new one', () => {
    const several = describeSituation('labvm', 'absent', 'exercise', ['ux-a', 'ux-b', 'ux-c']);
    assert.equal(several.says, 'There is no labvm VM named "labvm"; labvm has "ux-a", "ux-b", "ux-c".');
    assert.equal(several.next, 'Run `labvm exercise --name <name>`, or `labvm up` to create "labvm".');
    const one = describeSituation('labvm', 'absent', 'status', ['ux-a']);
    assert.equal(one.next, 'Run `labvm status --name ux-a`, or `labvm up` to create "labvm".');
  });

  it("exit codes: not labvm's is a usage error (2), the others a VM state (4)", () => {
    assert.equal(notReadyError('ux-b', 'not-labvm', 'exercise').exitCode, 2);
    for (const situation of ['absent', 'stopped', 'starting', 'provisioning', 'provisioning-failed'] as const) {
      assert.equal(notReadyError('ux-b', situation, 'exercise').exitCode, 4);
    }
  });
});
