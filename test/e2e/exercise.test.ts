import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { generateEd25519 } from '../../src/vm/keys.js';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  LabvmEnv,
  NGINX_BASE_IMAGE,
  ROOT,
  docker,
  e2eUnavailable,
  finished,
  interruptWhen,
  inVm,
  labWithReadyVm,
  purgeInstance,
  standinContainer,
  uniqueName,
} from '../support/labvm.js';

/** labvm exercise on a real VM stand-in; the test checks the answers against what it observes itself. */

const skip = e2eUnavailable();

interface ReportJson {
  pid: { host: number; container: number | null; nspid: number[]; same: boolean; cause: string };
  killFromInside: { killed: boolean; exitCode: number; stderr: string; cause: string; evidence: string[] };
  stopContainer: { processSurvived: boolean; cause: string };
  environment: { kernel: string; dockerVersion: string; lsm: string[]; method: string };
  evidence: { container: { http: { status: number; port: number } }; sleep: { psAux: string } };
  controls: Array<{ name: string; answers: Array<{ cause: string; processSurvived?: boolean; killed?: boolean }> }>;
}

describe('labvm exercise', { skip, concurrency: false }, () => {
  const name = uniqueName('ex');
  let lab: LabvmEnv;
  const exercise = (...args: string[]) => ['exercise', '--name', name, '--base-image', NGINX_BASE_IMAGE, ...args];

  before(async () => (lab = await labWithReadyVm(name)));
  after(async () => {
    purgeInstance(name);
    await lab.dispose();
  });

  /** What the test sees itself in the VM, with no help from labvm. */
  const apparmorInKernel = () => inVm(name, 'test -d /sys/module/apparmor').code === 0;
  const sshLogins = () => (docker(['logs', standinContainer(name)]).stderr.match(/Accepted publickey/g) ?? []).length;
  function assertNothingLeft(): void {
    const containers = inVm(name, 'docker ps -a --format "{{.Names}}"').stdout.trim();
    assert.equal(containers, '', 'no container is left in the VM');
    const processes = inVm(name, 'ps -eo args | grep -E "^(sleep 600|nsenter)" || true').stdout.trim();
    assert.equal(processes, '', 'no sleep or nsenter process is left in the VM');
    assert.equal(
      inVm(name, 'ls /tmp | grep labvm-nsenter || true').stdout.trim(),
      '',
      'no nsenter error file is left in the VM',
    );
  }

  /** Watches every `sleep 600` in the VM while labvm runs, reading NSpid from /proc itself. */
  function watchNSpid(): { stop: () => Promise<Set<string>> } {
    const seen = new Set<string>();
    let running = true;
    const loop = (async () => {
      while (running) {
        const out = inVm(name, 'for p in $(pgrep -x sleep); do grep NSpid /proc/$p/status; done 2>/dev/null').stdout;
        for (const line of out.split('\n'))
          if (line.trim())
            seen.add(
              line
                .replace(/^NSpid:\s*/, '')
                .trim()
                .split(/\s+/)
                .join(' '),
            );
        await delay(50);
      }
    })();
    return { stop: async () => ((running = false), await loop, seen) };
  }

  for (const method of ['native', 'container'] as const) {
    test(`--method ${method}: answers match what the test observes, over one SSH connection`, async () => {
      const loginsBefore = sshLogins();
      const watcher = watchNSpid();
      const run = await lab.run(exercise('--method', method, '--json'));
      const nspidSeenByTest = await watcher.stop();
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout) as ReportJson;

      assert.equal(sshLogins() - loginsBefore, 1, 'the whole run used one SSH connection');
      assert.equal(report.environment.method, method);
      assert.equal(
        (report as ReportJson & { environment: { target: string } }).environment.target,
        name,
        'the bare instance name, as the README says',
      );
      assert.equal(report.evidence.container.http.status, 200, 'nginx answered on port 8080');
      assert.equal(report.evidence.container.http.port, 8080);

      // Question 1: the test read NSpid itself while the sleep lived.
      assert.equal(report.pid.nspid.length, 2);
      assert.ok(
        nspidSeenByTest.has(report.pid.nspid.join(' ')),
        `NSpid ${report.pid.nspid.join(' ')} seen by the test in ${[...nspidSeenByTest].join(', ')}`,
      );
      assert.equal(report.pid.host, report.pid.nspid[0]);
      assert.equal(report.pid.container, report.pid.nspid[1]);
      assert.equal(report.pid.same, false);
      assert.equal(report.pid.cause, 'nested-pid-namespace');
      assert.match(report.evidence.sleep.psAux, new RegExp(`^root\\s+${report.pid.container}\\s.*sleep 600$`, 'm'));

      // Question 3: this kernel has no AppArmor (the test checks), so the kill from inside works.
      assert.equal(apparmorInKernel(), false, 'these tests expect a kernel without AppArmor');
      assert.equal(report.killFromInside.killed, true);
      assert.equal(report.killFromInside.exitCode, 0);
      assert.equal(report.killFromInside.cause, 'no-lsm');

      // Question 2: the PID namespace's init exited, and its members were killed.
      assert.equal(report.stopContainer.processSurvived, false);
      assert.equal(report.stopContainer.cause, 'pid-namespace-init-exit');

      assertNothingLeft();
    });
  }

  test('--controls: nsenter -F keeps the sleep outside the PID namespace, and it survives the stop', async () => {
    const run = await lab.run(exercise('--controls', '--json'));
    assert.equal(run.code, 0, run.stderr);
    const controls = (JSON.parse(run.stdout) as ReportJson).controls;
    const noFork = controls.find((control) => control.name === 'no-fork');
    assert.deepEqual(
      noFork?.answers.map((answer) => answer.cause),
      ['outside-pid-namespace', 'outside-pid-namespace'],
    );
    assert.equal(noFork?.answers[1]?.processSurvived, true);
    const unconfined = controls.find((control) => control.name === 'apparmor-unconfined');
    assert.equal(unconfined?.answers[1]?.killed, true);
    assertNothingLeft();
  });

  test('--report writes a Markdown report, and the terminal report shows both PIDs', async () => {
    const file = join(lab.home, 'namespaces.md');
    const run = await lab.run(exercise('--report', file));
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(UTC[+-]\d\d:\d\d\)/,
      'local time with its offset',
    );
    const markdown = await readFile(file, 'utf8');
    for (const question of [
      'Is the PID the same inside and outside the container?',
      'What happens to the process when the container is stopped?',
      'Can the process be killed from inside the container?',
    ]) {
      assert.ok(markdown.includes(question), question);
      assert.ok(run.stdout.includes(question), question);
    }
    const pids = /sleep 600 \(nsenter\)\s+(\d+)\s+(\d+)\s+(\d+) (\d+)/.exec(run.stdout);
    assert.ok(pids, 'the process table has the sleep with both PIDs and NSpid');
    assert.equal(pids[1], pids[3], 'host PID = NSpid outer');
    assert.equal(pids[2], pids[4], 'container PID = NSpid inner');
    assert.notEqual(pids[1], pids[2]);
    assert.doesNotMatch(run.stdout, /\x1b\[/, 'no colour when stdout is not a terminal');
    assertNothingLeft();
  });

  test('a different observation gives a different answer: a kill that is refused is reported, not explained away', async () => {
    // An image whose kill refuses like AppArmor would, on a host without AppArmor: labvm must not claim AppArmor.
    const refusing = 'labvm-test/nginx-refusing-kill:latest';
    const dockerfile = `FROM ${NGINX_BASE_IMAGE}\nRUN printf '#!/bin/sh\\necho "kill: ($1): Permission denied" >&2\\nexit 1\\n' > /usr/bin/kill && chmod 755 /usr/bin/kill\n`;
    const build = docker(
      ['exec', '-i', standinContainer(name), 'docker', 'build', '-q', '-t', refusing, '-'],
      dockerfile,
    );
    assert.equal(build.code, 0, build.stderr);
    const run = await lab.run(['exercise', '--name', name, '--base-image', refusing, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as ReportJson;
    assert.equal(report.killFromInside.killed, false);
    assert.equal(report.killFromInside.exitCode, 1);
    assert.match(report.killFromInside.stderr, /Permission denied/);
    assert.equal(report.killFromInside.cause, 'unexplained', 'no AppArmor here, so the refusal has no known cause');
    // labvm looked for the kernel's record of the refusal and says what it found: nothing, here.
    assert.ok(
      report.killFromInside.evidence.some((line) =>
        /^kernel audit log(: could not be read| during the kill: no signal denial logged)/.test(line),
      ),
      report.killFromInside.evidence.join('\n'),
    );
    // The sleep lived on, so question 2 was observed on that same sleep, and the stop still killed it.
    assert.equal(report.stopContainer.processSurvived, false);
    assert.equal(report.stopContainer.cause, 'pid-namespace-init-exit');
    assertNothingLeft();
  });

  test('--keep leaves the container for exploring by hand; the next run replaces it', async () => {
    const kept = await lab.run(exercise('--keep', '--controls', '--method', 'container', '--json'));
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(
      kept.stderr,
      new RegExp(
        `Kept my-nginx-cntr \\(stopped\\) for exploring\\. Log in with:\\n {2}ssh -F "${join(lab.home, name, 'ssh_config')}" labvm-${name}\\n`,
      ),
    );
    assert.match(kept.stderr, /then: docker start my-nginx-cntr && docker exec -it my-nginx-cntr sh/);
    assert.equal(
      inVm(name, 'docker ps -a --format "{{.Names}}"').stdout.trim(),
      'my-nginx-cntr',
      'helpers and controls removed',
    );
    const processes = inVm(name, 'ps -eo args | grep -E "^(sleep 600|nsenter)" || true').stdout.trim();
    assert.equal(processes, '', 'the no-fork sleep, which survives the stop, was still ended');
    const next = await lab.run(exercise('--json'));
    assert.equal(next.code, 0, next.stderr);
    assertNothingLeft();
  });

  test('a container left by a crashed run is replaced, not an error', async () => {
    const leftover = inVm(name, `docker run -d --name my-nginx-cntr ${NGINX_BASE_IMAGE}`);
    assert.equal(leftover.code, 0, leftover.stderr);
    const run = await lab.run(exercise('--json'));
    assert.equal(run.code, 0, run.stderr);
    assertNothingLeft();
  });

  test('the exercise image is reused while its Dockerfile and base image are unchanged, and rebuilt when one changes', async () => {
    const built = () => /step 1\/\d+: /.test(last.stderr) && !/up to date/.test(last.stderr);
    const reused = () => /✔ building the exercise image .* — up to date: built earlier/.test(last.stderr);
    let last = await lab.run(exercise());
    assert.equal(last.code, 0, last.stderr);
    last = await lab.run(exercise());
    assert.equal(last.code, 0, last.stderr);
    assert.ok(reused(), `an unchanged image is reused:\n${last.stderr}`);

    // The label is the hash of the Dockerfile labvm ships and of the base image's ID, as the test reads them.
    const dockerfile = await readFile(join(ROOT, 'src', 'lab', 'image', 'Dockerfile'), 'utf8');
    const baseId = inVm(name, `docker image inspect -f '{{.Id}}' ${NGINX_BASE_IMAGE}`).stdout.trim();
    const label = inVm(
      name,
      `docker image inspect -f '{{index .Config.Labels "org.labvm.recipe"}}' labvm-exercise:latest`,
    );
    assert.equal(label.stdout.trim(), createHash('sha256').update(`${dockerfile}\n${baseId}`).digest('hex'));

    // Another base image: built on it; back to the first: built again (its layers no longer lead the image's).
    const other = 'labvm-test/nginx-other:latest';
    const build = docker(
      ['exec', '-i', standinContainer(name), 'docker', 'build', '-q', '-t', other, '-'],
      `FROM ${NGINX_BASE_IMAGE}\nRUN echo other > /other-base\n`,
    );
    assert.equal(build.code, 0, build.stderr);
    last = await lab.run(['exercise', '--name', name, '--base-image', other]);
    assert.equal(last.code, 0, last.stderr);
    assert.ok(built(), `another base image means a build:\n${last.stderr}`);
    last = await lab.run(exercise());
    assert.equal(last.code, 0, last.stderr);
    assert.ok(built(), `the first base image again means a build:\n${last.stderr}`);
    last = await lab.run(exercise());
    assert.ok(reused(), `then it is reused again:\n${last.stderr}`);
    assert.equal(inVm(name, `docker image prune -f >/dev/null && docker rmi ${other}`).code, 0);
    assertNothingLeft();
  });

  for (const [method, after] of [
    ['native', 'starting sleep 600'],
    ['container', 'killing it from inside'],
  ] as const) {
    test(`Ctrl-C after "${after}" (--method ${method}) leaves nothing behind, and the next run succeeds`, async () => {
      const child = lab.spawn(exercise('--method', method));
      const done = finished(child);
      interruptWhen(child, `✔ ${after}`);
      const run = await done;
      assert.equal(run.code, 130, run.stderr);
      assert.match(run.stderr, /interrupted/i);
      assert.match(run.stderr, /✔ cleaning up/);
      assertNothingLeft();
      const again = await lab.run(exercise('--method', method, '--json'));
      assert.equal(again.code, 0, again.stderr);
    });
  }

  test('--host runs on any Linux host, trusting only the host key in ~/.ssh/known_hosts', async () => {
    const home = await mkdtemp(join(tmpdir(), 'labvm-home-'));
    try {
      const ip = (JSON.parse((await lab.run(['status', '--name', name, '--json'])).stdout) as { ipv4: string }).ipv4;
      const [, type, key] = (await readFile(join(lab.home, name, 'known_hosts'), 'utf8')).trim().split(/\s+/);
      const identity = join(lab.home, name, 'id_ed25519');
      const hostArgs = [
        'exercise',
        '--host',
        `ubuntu@${ip}`,
        '--identity',
        identity,
        '--base-image',
        NGINX_BASE_IMAGE,
        '--json',
      ];
      await mkdir(join(home, '.ssh'), { mode: 0o700 });
      const knownHosts = join(home, '.ssh', 'known_hosts');

      const unknown = await lab.run(hostArgs, { HOME: home });
      assert.equal(unknown.code, 6, unknown.stderr);
      assert.match(
        unknown.stderr,
        /has no trusted host key in .*known_hosts[\s\S]*next: Connect once with `ssh ubuntu@/,
      );

      await writeFile(knownHosts, `${ip} ${type} ${generateEd25519('other').publicKey.split(' ')[1]}\n`);
      const wrong = await lab.run(hostArgs, { HOME: home });
      assert.equal(wrong.code, 6, wrong.stderr);
      assert.match(wrong.stderr, /presented SSH host key SHA256:\S+, which does not match the key recorded for it in/);

      await writeFile(knownHosts, `# a comment\n${ip} ${type} ${key}\n`);
      const run = await lab.run(hostArgs, { HOME: home });
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout) as ReportJson & { environment: { target: string } };
      assert.equal(report.environment.target, `ubuntu@${ip}`);
      assert.equal(report.pid.cause, 'nested-pid-namespace');
      assertNothingLeft();
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  test('Ctrl-C during the image build cancels the build itself, and leaves nothing behind', async () => {
    // A base image whose `ps` takes 30 s, so the Dockerfile's procps check makes the build slow.
    const slow = 'labvm-test/nginx-slow-ps:latest';
    const dockerfile = `FROM ${NGINX_BASE_IMAGE}\nRUN mv /usr/bin/ps /usr/bin/ps.real && printf '#!/bin/sh\\nsleep 30\\nexec /usr/bin/ps.real "$@"\\n' > /usr/bin/ps && chmod 755 /usr/bin/ps\n`;
    const build = docker(['exec', '-i', standinContainer(name), 'docker', 'build', '-q', '-t', slow, '-'], dockerfile);
    assert.equal(build.code, 0, build.stderr);
    const child = lab.spawn(['exercise', '--name', name, '--base-image', slow]);
    const done = finished(child);
    // Ctrl-C once the build's RUN step has its container running in the VM (the step the slow `ps` holds up).
    const stepRunning = () =>
      inVm(name, 'docker ps -q --filter status=running --filter ancestor=' + slow).stdout.trim() !== '';
    let waited = 0;
    while (!stepRunning() && child.exitCode === null && waited < 240) {
      await delay(500);
      waited += 0.5;
    }
    child.kill('SIGINT');
    const run = await done;
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stderr, /✖ building the exercise image/, 'the build was cut short, not waited for');
    assertNothingLeft();
  });

  test('without a VM, exercise names the labvm VMs there are, and how to create this one', async () => {
    const run = await lab.run(['exercise', '--name', 'never-created']);
    assert.equal(run.code, 4);
    assert.match(
      run.stderr,
      new RegExp(
        `no labvm VM named "never-created"; labvm has "${name}"\\.\\n {2}next: Run \`labvm exercise --name ${name}\`, or \`labvm up --name never-created\` to create "never-created"\\.`,
      ),
    );
  });
});
