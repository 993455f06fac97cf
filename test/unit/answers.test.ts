import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerAll, answerKill, answerPid, answerStop, profileOf, type Answers } from '../../src/lab/answers.js';
import type { Evidence } from '../../src/lab/evidence.js';
import { noLsm, ubuntuAppArmor, variant } from '../fixtures/evidence.js';

const KNOWN_KILL = ['apparmor', 'no-lsm', 'unconfined-sender', 'same-profile'];

/** The kill from inside reported success and the sleep is gone. */
function killSucceeded(e: Evidence): void {
  Object.assign(e.kill, { exitCode: 0, stderr: '', processGone: true });
}

function causes(answers: Answers): [string, string, string] {
  return [answers.pid.cause, answers.stopContainer.cause, answers.killFromInside.cause];
}

describe('answerAll on the Ubuntu + AppArmor fixture', () => {
  const answers = answerAll(ubuntuAppArmor());

  it('question 1: two PIDs, nested PID namespace', () => {
    assert.equal(answers.pid.cause, 'nested-pid-namespace');
    assert.equal(answers.pid.same, false);
    assert.equal(answers.pid.host, 46926);
    assert.equal(answers.pid.container, 64);
    assert.deepEqual(answers.pid.nspid, [46926, 64]);
    assert.match(answers.pid.answer, /^No: .*46926.*64/);
  });

  it('question 2: the kernel kills the sleep when the init exits', () => {
    assert.equal(answers.stopContainer.cause, 'pid-namespace-init-exit');
    assert.equal(answers.stopContainer.processSurvived, false);
    assert.match(answers.stopContainer.explanation, /not a cgroup kill/);
  });

  it('question 3: AppArmor refuses the kill', () => {
    const kill = answers.killFromInside;
    assert.equal(kill.cause, 'apparmor');
    assert.equal(kill.killed, false);
    assert.equal(kill.exitCode, 1);
    assert.equal(kill.stderr, 'kill: (64): Permission denied');
    assert.match(kill.answer, /^No: /);
    assert.ok(kill.evidence.includes('AppArmor label of the sleep (the target): unconfined'));
  });

  it('answers every control with the cause that control is meant to show', () => {
    const byName = Object.fromEntries(answers.controls.map((c) => [c.name, c.answers.map((a) => a.cause)]));
    assert.deepEqual(byName, {
      'no-fork': ['outside-pid-namespace', 'outside-pid-namespace'],
      'apparmor-unconfined': ['nested-pid-namespace', 'unconfined-sender'],
    });
  });

  it('is pure: the same evidence gives the same answers and is not modified', () => {
    const evidence = ubuntuAppArmor();
    const before = structuredClone(evidence);
    assert.deepEqual(answerAll(evidence), answerAll(evidence));
    assert.deepEqual(evidence, before);
  });
});

describe('answerAll on the no-LSM fixture', () => {
  const answers = answerAll(noLsm());

  it('gives no-lsm: the kill works', () => {
    assert.equal(answers.killFromInside.cause, 'no-lsm');
    assert.equal(answers.killFromInside.killed, true);
    assert.equal(answers.killFromInside.exitCode, 0);
    assert.equal(answers.killFromInside.stderr, '');
    assert.match(answers.killFromInside.answer, /^Yes: /);
  });

  it('still gives two PIDs and the init-exit kill', () => {
    assert.deepEqual(causes(answers).slice(0, 2), ['nested-pid-namespace', 'pid-namespace-init-exit']);
    assert.equal(answers.pid.same, false);
    assert.deepEqual([answers.pid.host, answers.pid.container], [14708, 10]);
    assert.deepEqual(answers.controls, []);
  });
});

describe('unexplained observations are never given a known cause', () => {
  it('kill refused with "Operation not permitted" on a host without LSM', () => {
    const e = variant(noLsm(), (x) => Object.assign(x.kill, { exitCode: 1, stderr: 'kill: (10): Operation not permitted\n', processGone: false }));
    const kill = answerAll(e).killFromInside;
    assert.equal(kill.cause, 'unexplained');
    assert.equal(kill.killed, false);
    assert.match(kill.answer, /survived the kill \(exit 1\)/);
  });

  it('kill refused with "Operation not permitted" under AppArmor (EPERM is not an AppArmor denial)', () => {
    const e = variant(ubuntuAppArmor(), (x) => { x.kill.stderr = 'kill: (64): Operation not permitted'; });
    assert.equal(answerAll(e).killFromInside.cause, 'unexplained');
  });

  it('kill reports failure yet the process is gone', () => {
    for (const base of [noLsm(), ubuntuAppArmor()]) {
      const e = variant(base, (x) => Object.assign(x.kill, { exitCode: 1, stderr: 'kill: failed', processGone: true }));
      assert.equal(answerAll(e).killFromInside.cause, 'unexplained');
    }
  });

  it('the sleep survives the stop although it was inside the PID namespace', () => {
    const e = variant(ubuntuAppArmor(), (x) => { x.stop.processSurvived = true; });
    const stop = answerAll(e).stopContainer;
    assert.equal(stop.cause, 'unexplained');
    assert.equal(stop.processSurvived, true);
  });

  it('the sleep is gone after the stop although it was outside the PID namespace', () => {
    const e = variant(ubuntuAppArmor(), (x) => { x.stop.nspid = [46931]; });
    assert.equal(answerStop(e.stop).cause, 'unexplained');
  });

  it('survived, but NSpid was never read: absence is not proof of being outside', () => {
    const e = variant(ubuntuAppArmor(), (x) => Object.assign(x.stop, { nspid: [], processSurvived: true }));
    assert.equal(answerStop(e.stop).cause, 'unexplained');
  });

  it('the container PID contradicts NSpid', () => {
    const e = variant(ubuntuAppArmor(), (x) => { x.sleep.containerPid = 65; });
    const pid = answerPid(e.sleep);
    assert.equal(pid.cause, 'unexplained');
    assert.equal(pid.same, false);
  });

  it('the host PID contradicts NSpid', () => {
    const nested = variant(ubuntuAppArmor(), (x) => { x.sleep.nspid = [46927, 64]; });
    assert.equal(answerPid(nested.sleep).cause, 'unexplained');
    const flat = variant(ubuntuAppArmor(), (x) => Object.assign(x.sleep, { containerPid: 46926, nspid: [5] }));
    assert.equal(answerPid(flat.sleep).cause, 'unexplained');
  });

  it('NSpid matches but the namespaces differ', () => {
    const e = variant(ubuntuAppArmor(), (x) => { x.sleep.pidNamespace = 'pid:[4026531836]'; });
    assert.equal(answerPid(e.sleep).cause, 'unexplained');
  });

  it('AppArmor on but the labels could not be read', () => {
    const e = variant(ubuntuAppArmor(), (x) => { x.sleep.label = null; });
    assert.equal(answerAll(e).killFromInside.cause, 'unexplained');
  });

  it('AppArmor on, the kill worked, but sender and target profiles differ and the sender is confined', () => {
    const e = variant(ubuntuAppArmor(), killSucceeded);
    const kill = answerAll(e).killFromInside;
    assert.equal(kill.cause, 'unexplained');
    assert.ok(!KNOWN_KILL.includes(kill.cause));
    assert.equal(kill.killed, true);
  });

  it('the exec label is unreadable while the container has docker-default: no unconfined-sender guess', () => {
    const e = variant(ubuntuAppArmor(), (x) => { killSucceeded(x); x.container.execLabel = null; });
    assert.equal(answerAll(e).killFromInside.cause, 'unexplained');
  });
});

describe('flipping one observation flips the answer', () => {
  it('sleep labelled docker-default and the kill succeeded -> same-profile', () => {
    const e = variant(ubuntuAppArmor(), (x) => { x.sleep.label = 'docker-default (enforce)'; killSucceeded(x); });
    const kill = answerAll(e).killFromInside;
    assert.equal(kill.cause, 'same-profile');
    assert.equal(kill.killed, true);
    assert.match(kill.explanation, /"docker-default"/);
  });

  it('exec label unconfined and the kill succeeded -> unconfined-sender', () => {
    const e = variant(ubuntuAppArmor(), (x) => { x.container.execLabel = 'unconfined'; killSucceeded(x); });
    assert.equal(answerAll(e).killFromInside.cause, 'unconfined-sender');
  });

  it('no exec label on a container without a profile, kill succeeded, AppArmor on -> unconfined-sender', () => {
    const e = variant(ubuntuAppArmor(), (x) => {
      Object.assign(x.container, { appArmorProfile: 'unconfined', execLabel: null });
      killSucceeded(x);
    });
    assert.equal(answerAll(e).killFromInside.cause, 'unconfined-sender');
  });

  it('the same refusal without AppArmor is unexplained, not apparmor', () => {
    const e = variant(ubuntuAppArmor(), (x) => Object.assign(x.environment, { apparmorEnabled: false, lsms: ['capability'] }));
    assert.equal(answerAll(e).killFromInside.cause, 'unexplained');
  });

  it('the no-LSM kill with AppArmor turned on is no longer no-lsm', () => {
    const e = variant(noLsm(), (x) => { x.environment.apparmorEnabled = true; });
    assert.notEqual(answerAll(e).killFromInside.cause, 'no-lsm');
  });

  it('stop with a single-level NSpid and the sleep survived -> outside-pid-namespace', () => {
    const e = variant(ubuntuAppArmor(), (x) => Object.assign(x.stop, { nspid: [46931], processSurvived: true }));
    const stop = answerAll(e).stopContainer;
    assert.equal(stop.cause, 'outside-pid-namespace');
    assert.equal(stop.processSurvived, true);
    assert.match(stop.answer, /^It survives/);
  });

  it('stop while in the container cgroup changes only the explanation', () => {
    const e = variant(ubuntuAppArmor(), (x) => { x.stop.inContainerCgroup = true; });
    const stop = answerAll(e).stopContainer;
    assert.equal(stop.cause, 'pid-namespace-init-exit');
    assert.match(stop.explanation, /kill comes from the namespace, not the cgroup/);
  });

  it('container PID equal to host PID with a single-level NSpid -> same, same-pid-namespace', () => {
    const e = variant(ubuntuAppArmor(), (x) => Object.assign(x.sleep, { containerPid: 46926, nspid: [46926] }));
    const pid = answerAll(e).pid;
    assert.equal(pid.cause, 'same-pid-namespace');
    assert.equal(pid.same, true);
    assert.match(pid.answer, /^Yes: .*46926/);
  });

  it('sleep not listed, single NSpid, other namespace -> outside-pid-namespace', () => {
    const e = variant(ubuntuAppArmor(), (x) => Object.assign(x.sleep, { containerPid: null, nspid: [46926], pidNamespace: 'pid:[4026531836]' }));
    const pid = answerPid(e.sleep);
    assert.equal(pid.cause, 'outside-pid-namespace');
    assert.equal(pid.same, false);
    assert.equal(pid.container, null);
  });
});

describe('answerKill and profileOf', () => {
  it('profileOf strips the mode and treats empty as none', () => {
    assert.equal(profileOf('docker-default (enforce)'), 'docker-default');
    assert.equal(profileOf('docker-default (complain)'), 'docker-default');
    assert.equal(profileOf('unconfined'), 'unconfined');
    assert.equal(profileOf(''), null);
    assert.equal(profileOf(null), null);
  });

  it('names the command, the error and both labels in its evidence', () => {
    const e = ubuntuAppArmor();
    const kill = answerKill(e.kill, e.sleep, e.container, e.environment);
    assert.equal(kill.evidence[0], '`docker exec my-nginx-cntr kill 64` exited 1 with "kill: (64): Permission denied"');
    assert.equal(kill.evidence[1], 'process 46926 after the kill: still running');
    assert.ok(kill.evidence.includes('AppArmor label of a docker exec process (the sender): docker-default (enforce)'));
  });

  it('counts AppArmor as active when only the LSM list names it', () => {
    const e = variant(ubuntuAppArmor(), (x) => { x.environment.apparmorEnabled = false; });
    assert.equal(answerAll(e).killFromInside.cause, 'apparmor');
  });
});

describe('answerKill with other security modules', () => {
  it('does not call a successful kill "no-lsm" when SELinux is active', () => {
    const evidence = noLsm();
    evidence.environment.lsms = ['capability', 'selinux'];
    assert.equal(answerAll(evidence).killFromInside.cause, 'unexplained');
    evidence.environment.lsms = ['capability', 'yama'];
    assert.equal(answerAll(evidence).killFromInside.cause, 'no-lsm');
  });
});
