import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  answerAll,
  answerKill,
  answerPid,
  answerStop,
  appArmorLabel,
  profileOf,
  type Answers,
} from '../../src/lab/answers.js';
import type { Evidence } from '../../src/lab/evidence.js';
import { appArmor, dockerInit, noLsm, rootless, selinux, variant } from '../fixtures/evidence.js';

const KNOWN_KILL = ['apparmor', 'selinux', 'user-namespace', 'no-lsm', 'unconfined-sender', 'same-profile'];

/** The kill from inside reported success and the sleep is gone. */
function killSucceeded(e: Evidence): void {
  Object.assign(e.kill, { exitCode: 0, stderr: '', processGone: true });
  delete e.kill.audit;
}

/** The kill from inside was refused with this error, and the sleep lives on. */
function killRefused(e: Evidence, error: string): void {
  Object.assign(e.kill, { exitCode: 1, stderr: `kill: (${e.kill.targetPid}): ${error}\n`, processGone: false });
}

const killCause = (e: Evidence) => answerAll(e).killFromInside.cause;

function causes(answers: Answers): [string, string, string] {
  return [answers.pid.cause, answers.stopContainer.cause, answers.killFromInside.cause];
}

describe('each host kind gives its cause (one fixture each)', () => {
  const cases: Array<[string, () => Evidence, string]> = [
    ['AppArmor (recorded on the QEMU VM)', appArmor, 'apparmor'],
    ['no LSM (recorded on a stand-in)', noLsm, 'no-lsm'],
    ['SELinux (derived)', selinux, 'selinux'],
    ['rootless Docker (derived)', rootless, 'user-namespace'],
    ['docker run --init (derived)', dockerInit, 'no-lsm'],
  ];
  for (const [name, load, cause] of cases) {
    it(`${name}: question 3 is ${cause}, questions 1 and 2 are the nested namespace and the init's exit`, () => {
      assert.deepEqual(causes(answerAll(load())), ['nested-pid-namespace', 'pid-namespace-init-exit', cause]);
    });
  }
});

describe('answerAll on the AppArmor fixture', () => {
  const evidence = appArmor();
  const answers = answerAll(evidence);

  it('question 1: two PIDs, nested PID namespace', () => {
    assert.equal(answers.pid.cause, 'nested-pid-namespace');
    assert.equal(answers.pid.same, false);
    assert.deepEqual(answers.pid.nspid, [evidence.sleep.hostPid, evidence.sleep.containerPid]);
    assert.match(answers.pid.answer, new RegExp(`^No: .*${evidence.sleep.hostPid}.*${evidence.sleep.containerPid}`));
  });

  it('question 2: the kernel kills the sleep when the init, observed as nginx, exits', () => {
    assert.equal(answers.stopContainer.cause, 'pid-namespace-init-exit');
    assert.equal(answers.stopContainer.processSurvived, false);
    assert.match(
      answers.stopContainer.explanation,
      /only to the container's init, nginx \(PID 1 in the container\)\. When/,
    );
    assert.match(answers.stopContainer.explanation, /not a cgroup kill/);
  });

  it("question 3: AppArmor refuses the kill, and the kernel's audit line is quoted", () => {
    const kill = answers.killFromInside;
    assert.equal(kill.cause, 'apparmor');
    assert.equal(kill.killed, false);
    assert.equal(kill.exitCode, 1);
    assert.equal(kill.stderr, `kill: (${evidence.sleep.containerPid}): Permission denied`);
    assert.match(kill.answer, /^No: /);
    assert.ok(kill.evidence.includes('AppArmor label of the sleep (the target): unconfined'));
    const line = evidence.kill.audit!.lines[0]!;
    assert.match(line, /apparmor="DENIED" operation="signal"/);
    assert.ok(kill.explanation.includes(`The kernel logged the refusal: ${line}`));
    assert.ok(kill.evidence.includes(`kernel audit log during the kill: ${line}`));
    assert.doesNotMatch(kill.explanation, /From the host, the same kill works/);
  });

  it('answers every control with the cause that control is meant to show', () => {
    const byName = Object.fromEntries(answers.controls.map((c) => [c.name, c.answers.map((a) => a.cause)]));
    assert.deepEqual(byName, {
      'no-fork': ['outside-pid-namespace', 'outside-pid-namespace'],
      'apparmor-unconfined': ['nested-pid-namespace', 'unconfined-sender'],
    });
  });

  it('is pure: the same evidence gives the same answers and is not modified', () => {
    const before = structuredClone(evidence);
    assert.deepEqual(answerAll(evidence), answerAll(evidence));
    assert.deepEqual(evidence, before);
  });
});

describe('flipping one observation flips the cause of question 3', () => {
  it('apparmor: the refusal without its audit line is still AppArmor by the labels, and says the line was not found', () => {
    const e = variant(appArmor(), (x) => {
      x.kill.audit = { read: true, lines: [] };
    });
    const kill = answerAll(e).killFromInside;
    assert.equal(kill.cause, 'apparmor');
    assert.match(kill.explanation, /found no AppArmor audit line/);
    assert.ok(kill.evidence.includes('kernel audit log during the kill: no signal denial logged'));
  });

  it('apparmor: an unreadable kernel log is shown as such', () => {
    const e = variant(appArmor(), (x) => {
      x.kill.audit = { read: false, lines: [], error: 'sudo dmesg exited 1' };
    });
    assert.ok(
      answerAll(e).killFromInside.evidence.includes('kernel audit log: could not be read (sudo dmesg exited 1)'),
    );
  });

  it("apparmor -> unexplained: the sleep's AppArmor label was not observed", () => {
    assert.equal(
      killCause(
        variant(appArmor(), (x) => {
          x.sleep.label = null;
          x.sleep.appArmorLabel = null;
        }),
      ),
      'unexplained',
    );
  });

  it('apparmor -> unexplained: the same refusal with AppArmor absent from the kernel', () => {
    assert.equal(
      killCause(
        variant(appArmor(), (x) => Object.assign(x.environment, { apparmorEnabled: false, lsms: ['capability'] })),
      ),
      'unexplained',
    );
  });

  it('apparmor -> unexplained: "Operation not permitted" (EPERM) is not an AppArmor denial', () => {
    assert.equal(killCause(variant(appArmor(), (x) => killRefused(x, 'Operation not permitted'))), 'unexplained');
  });

  it('apparmor -> same-profile: the sleep labelled docker-default and the kill worked', () => {
    const e = variant(appArmor(), (x) => {
      x.sleep.appArmorLabel = x.sleep.label = 'docker-default (enforce)';
      killSucceeded(x);
    });
    const kill = answerAll(e).killFromInside;
    assert.equal(kill.cause, 'same-profile');
    assert.match(kill.explanation, /"docker-default"/);
  });

  it('apparmor -> unconfined-sender: the exec label unconfined and the kill worked', () => {
    const e = variant(appArmor(), (x) => {
      x.container.execAppArmorLabel = x.container.execLabel = 'unconfined';
      killSucceeded(x);
    });
    const kill = answerAll(e).killFromInside;
    assert.equal(kill.cause, 'unconfined-sender');
    assert.doesNotMatch(kill.explanation, /always passes/);
  });

  it('apparmor -> unconfined-sender: no exec label, Docker reports the container unconfined, the kill worked', () => {
    const e = variant(appArmor(), (x) => {
      Object.assign(x.container, { appArmorProfile: 'unconfined', execLabel: null, execAppArmorLabel: null });
      killSucceeded(x);
    });
    assert.equal(killCause(e), 'unconfined-sender');
  });

  it('apparmor -> unexplained: the kill worked while a confined sender and an unconfined target differ', () => {
    const e = variant(appArmor(), killSucceeded);
    assert.equal(killCause(e), 'unexplained');
    assert.equal(answerAll(e).killFromInside.killed, true);
  });

  it('the exec label unreadable while the container has docker-default: no unconfined-sender guess', () => {
    const e = variant(appArmor(), (x) => {
      killSucceeded(x);
      x.container.execLabel = null;
      x.container.execAppArmorLabel = null;
    });
    assert.equal(killCause(e), 'unexplained');
  });

  it('selinux -> unexplained: permissive mode', () => {
    assert.equal(
      killCause(
        variant(selinux(), (x) => {
          x.environment.selinuxEnforcing = false;
        }),
      ),
      'unexplained',
    );
  });

  it('selinux -> unexplained: Docker does not label containers (no name=selinux)', () => {
    assert.equal(
      killCause(
        variant(selinux(), (x) => {
          x.environment.dockerSecurityOptions = x.environment.dockerSecurityOptions.filter((o) => o !== 'name=selinux');
        }),
      ),
      'unexplained',
    );
  });

  it("selinux -> unexplained: the sleep has the container's own type", () => {
    assert.equal(
      killCause(
        variant(selinux(), (x) => {
          x.sleep.label = x.container.execLabel;
        }),
      ),
      'unexplained',
    );
  });

  it('selinux: the SELinux context is never shown as an AppArmor label', () => {
    const e = selinux();
    const kill = answerAll(e).killFromInside;
    assert.ok(kill.evidence.includes('AppArmor label of the sleep (the target): none observed'));
    assert.ok(kill.evidence.some((line) => line.startsWith(`SELinux context of the sender: ${e.container.execLabel}`)));
    assert.match(kill.explanation, /avc: +denied +\{ signal \}/);
  });

  it('user-namespace -> unexplained: the uid_map is the identity and Docker reports no rootless/userns', () => {
    const e = variant(rootless(), (x) => {
      x.container.uidMap = '0 0 4294967295';
      x.environment.dockerSecurityOptions = x.environment.dockerSecurityOptions.filter(
        (o) => !/rootless|userns/.test(o),
      );
    });
    assert.equal(killCause(e), 'unexplained');
  });

  it("user-namespace: Docker's name=userns alone is evidence enough (uid_map not observed)", () => {
    const e = variant(rootless(), (x) => {
      delete x.container.uidMap;
      x.environment.dockerSecurityOptions = ['name=seccomp,profile=default', 'name=userns'];
    });
    assert.equal(killCause(e), 'user-namespace');
  });

  it('user-namespace -> unexplained: EACCES is not the user-namespace refusal', () => {
    assert.equal(killCause(variant(rootless(), (x) => killRefused(x, 'Permission denied'))), 'unexplained');
  });

  it('no-lsm -> unexplained: the LSM list could not be read (not observed is not "none")', () => {
    const e = variant(noLsm(), (x) => Object.assign(x.environment, { lsms: [], lsmListRead: false }));
    const kill = answerAll(e).killFromInside;
    assert.equal(kill.cause, 'unexplained');
    assert.ok(kill.evidence.some((line) => line.includes('not observed (/sys/kernel/security/lsm could not be read)')));
  });

  it('no-lsm is worded truly when landlock and bpf are listed', () => {
    const e = variant(noLsm(), (x) => {
      x.environment.lsms = ['lockdown', 'capability', 'landlock', 'bpf'];
    });
    const kill = answerAll(e).killFromInside;
    assert.equal(kill.cause, 'no-lsm');
    assert.match(
      kill.explanation,
      /landlock and bpf are listed, but they refuse signals only for processes that a sandbox or a loaded BPF program targets/,
    );
    assert.doesNotMatch(kill.explanation, /On an Ubuntu host with AppArmor the same kill is refused/);
  });

  it('no-lsm no longer: SELinux listed, or AppArmor enabled', () => {
    assert.equal(
      killCause(
        variant(noLsm(), (x) => {
          x.environment.lsms = ['capability', 'selinux'];
        }),
      ),
      'unexplained',
    );
    assert.notEqual(
      killCause(
        variant(noLsm(), (x) => {
          x.environment.apparmorEnabled = true;
        }),
      ),
      'no-lsm',
    );
    assert.equal(
      killCause(
        variant(noLsm(), (x) => {
          x.environment.lsms = ['capability', 'yama'];
        }),
      ),
      'no-lsm',
    );
  });

  it('no-lsm -> unexplained: the kill reports failure yet the process is gone', () => {
    for (const base of [noLsm(), appArmor()]) {
      const e = variant(base, (x) => Object.assign(x.kill, { exitCode: 1, stderr: 'kill: failed', processGone: true }));
      assert.equal(killCause(e), 'unexplained');
      assert.ok(!KNOWN_KILL.includes(killCause(e)));
    }
  });

  it('no-lsm -> unexplained: a refusal with no module to explain it', () => {
    const kill = answerAll(variant(noLsm(), (x) => killRefused(x, 'Operation not permitted'))).killFromInside;
    assert.equal(kill.cause, 'unexplained');
    assert.match(kill.answer, /survived the kill \(exit 1\)/);
  });
});

describe('the AppArmor label comes from attr/apparmor/current, or from attr/current only when AppArmor is the major LSM', () => {
  const env = (lsms: string[]) => ({ ...appArmor().environment, lsms });
  it("prefers AppArmor's own file", () => {
    assert.equal(
      appArmorLabel('unconfined', 'system_u:system_r:unconfined_t:s0', env(['capability', 'selinux'])),
      'unconfined',
    );
  });
  it('falls back to attr/current under AppArmor, never under SELinux', () => {
    assert.equal(
      appArmorLabel(undefined, 'docker-default (enforce)', env(['capability', 'apparmor'])),
      'docker-default (enforce)',
    );
    assert.equal(
      appArmorLabel(null, 'system_u:system_r:container_t:s0', env(['capability', 'selinux', 'apparmor'])),
      null,
    );
    assert.equal(appArmorLabel(undefined, 'x', env([])), null);
  });
});

describe('questions 1 and 2: unexplained observations are never given a known cause', () => {
  it('the sleep survives the stop although it was inside the PID namespace', () => {
    const e = variant(appArmor(), (x) => {
      x.stop.processSurvived = true;
    });
    assert.equal(answerAll(e).stopContainer.cause, 'unexplained');
  });

  it('the sleep is gone after the stop although it was outside the PID namespace', () => {
    const e = variant(appArmor(), (x) => {
      x.stop.nspid = [x.stop.hostPid];
    });
    assert.equal(answerStop(e.stop, e.container).cause, 'unexplained');
  });

  it('survived, but NSpid was never read: absence is not proof of being outside', () => {
    const e = variant(appArmor(), (x) => Object.assign(x.stop, { nspid: [], processSurvived: true }));
    assert.equal(answerStop(e.stop, e.container).cause, 'unexplained');
  });

  it('the container PID contradicts NSpid', () => {
    const e = variant(appArmor(), (x) => {
      x.sleep.containerPid = x.sleep.containerPid! + 1;
    });
    assert.equal(answerPid(e.sleep).cause, 'unexplained');
  });

  it('the host PID contradicts NSpid', () => {
    const e = variant(appArmor(), (x) => {
      x.sleep.nspid = [x.sleep.hostPid + 1, x.sleep.containerPid!];
    });
    assert.equal(answerPid(e.sleep).cause, 'unexplained');
  });

  it('NSpid matches but the namespaces differ', () => {
    const e = variant(appArmor(), (x) => {
      x.sleep.pidNamespace = 'pid:[4026531836]';
    });
    assert.equal(answerPid(e.sleep).cause, 'unexplained');
  });

  it('stop with a single-level NSpid and the sleep survived -> outside-pid-namespace, explained without "moves only"', () => {
    const e = variant(appArmor(), (x) => Object.assign(x.stop, { nspid: [x.stop.hostPid], processSurvived: true }));
    const stop = answerAll(e).stopContainer;
    assert.equal(stop.cause, 'outside-pid-namespace');
    assert.match(stop.answer, /^It survives/);
  });

  it('sleep not listed, single NSpid, other namespace -> outside-pid-namespace: nothing "moves"', () => {
    const e = variant(appArmor(), (x) =>
      Object.assign(x.sleep, { containerPid: null, nspid: [x.sleep.hostPid], pidNamespace: 'pid:[4026531836]' }),
    );
    const pid = answerPid(e.sleep);
    assert.equal(pid.cause, 'outside-pid-namespace');
    assert.match(
      pid.explanation,
      /does not move the caller into the PID namespace: only children it creates afterwards are born there/,
    );
  });

  it('container PID equal to host PID with a single-level NSpid -> same-pid-namespace', () => {
    const e = variant(appArmor(), (x) =>
      Object.assign(x.sleep, { containerPid: x.sleep.hostPid, nspid: [x.sleep.hostPid] }),
    );
    assert.equal(answerAll(e).pid.cause, 'same-pid-namespace');
  });
});

describe('question 2 names the init it observed', () => {
  it('docker-init passes the stop signal on to nginx', () => {
    const stop = answerAll(dockerInit()).stopContainer;
    assert.match(
      stop.explanation,
      /only to the container's init, docker-init \(PID 1 in the container\), which passes it on to nginx\./,
    );
  });

  it('an init whose name was not observed is not called nginx', () => {
    const e = variant(noLsm(), (x) => {
      delete x.container.initComm;
    });
    const stop = answerAll(e).stopContainer;
    assert.match(stop.explanation, /the process that is PID 1 in the container \(its name was not observed\)/);
    assert.doesNotMatch(stop.explanation, /nginx/);
  });

  it('stop while in the container cgroup changes only the explanation', () => {
    const e = variant(appArmor(), (x) => {
      x.stop.inContainerCgroup = true;
    });
    const stop = answerAll(e).stopContainer;
    assert.equal(stop.cause, 'pid-namespace-init-exit');
    assert.match(stop.explanation, /kill comes from the namespace, not the cgroup/);
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
    const e = appArmor();
    const kill = answerKill(e.kill, e.sleep, e.container, e.environment);
    const pid = e.sleep.containerPid;
    assert.equal(
      kill.evidence[0],
      `\`docker exec my-nginx-cntr kill ${pid}\` exited 1 with "kill: (${pid}): Permission denied"`,
    );
    assert.equal(kill.evidence[1], `process ${e.sleep.hostPid} after the kill: still running`);
    assert.ok(kill.evidence.includes('AppArmor label of a docker exec process (the sender): docker-default (enforce)'));
  });

  it('counts AppArmor as active when only the LSM list names it', () => {
    assert.equal(
      killCause(
        variant(appArmor(), (x) => {
          x.environment.apparmorEnabled = false;
        }),
      ),
      'apparmor',
    );
  });
});
