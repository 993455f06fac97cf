import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppArmorVm, apparmorVmUnavailable } from '../support/apparmor-vm.js';
import { LabvmEnv, NGINX_BASE_IMAGE, e2eUnavailable } from '../support/labvm.js';

/**
 * labvm exercise --host on a real AppArmor kernel (a QEMU VM running Debian 12's kernel, Docker loading
 * docker-default). The test reads the labels and the kernel's audit lines itself and checks labvm's answers against
 * them, for both methods, with the controls. Slow under TCG: one run per method covers every case.
 */

const skip = apparmorVmUnavailable() ?? e2eUnavailable();

interface Answer {
  cause: string;
  answer: string;
  explanation: string;
  killed?: boolean;
  exitCode?: number;
  stderr?: string;
  processSurvived?: boolean;
}
interface ReportJson {
  pid: Answer & { host: number; container: number | null; nspid: number[] };
  killFromInside: Answer & { killed: boolean; exitCode: number; stderr: string };
  stopContainer: Answer & { processSurvived: boolean };
  environment: { lsm: string[]; method: string; target: string };
  controls: Array<{ name: string; answers: Answer[] }>;
  commands: Array<{ command: string; result?: string }>;
  evidence: {
    container: {
      hostPid: number;
      initComm?: string;
      initAppArmorLabel?: string | null;
      execAppArmorLabel?: string | null;
    };
    sleep: { hostPid: number; appArmorLabel?: string | null };
    kill: { audit?: { read: boolean; lines: string[] } };
    controls: Array<{ name: string; sleep: { hostPid: number; appArmorLabel?: string | null } }>;
  };
}

describe(
  'labvm exercise --host on a real AppArmor kernel (QEMU VM)',
  { skip, concurrency: false, timeout: 45 * 60_000 },
  () => {
    let vm: AppArmorVm | undefined;
    let lab: LabvmEnv;
    let home: string;

    before(async () => {
      lab = await LabvmEnv.create();
      home = await mkdtemp(join(tmpdir(), 'labvm-home-'));
      const started = Date.now();
      vm = await AppArmorVm.boot((line) => console.log(`# ${line}`));
      const booted = Date.now();
      vm.loadImage();
      console.log(
        `# AppArmor VM: boot ${((booted - started) / 1000).toFixed(0)} s, docker load ${((Date.now() - booted) / 1000).toFixed(0)} s`,
      );
      // --host trusts only ~/.ssh/known_hosts: it holds the key the VM was given.
      await mkdir(join(home, '.ssh'), { mode: 0o700 });
      await writeFile(join(home, '.ssh', 'known_hosts'), `${vm.knownHostsLine}\n`, { mode: 0o600 });
    });
    after(async () => {
      await vm?.dispose();
      await rm(home, { recursive: true, force: true });
      await lab.dispose();
    });

    const theVm = (): AppArmorVm => vm ?? assert.fail('the VM did not boot');

    /** What the test sees itself in the VM: the AppArmor label of every nginx and `sleep 600`, polled while labvm runs. */
    function watchLabels(): { stop: () => Promise<Map<number, string>> } {
      const loop =
        'sudo sh -c \'while :; do for p in $(pgrep -x nginx) $(pgrep -fx "sleep 600"); do ' +
        'read -r l </proc/$p/attr/apparmor/current 2>/dev/null && echo "$p $l"; done; echo .; sleep 1; done\'';
      // The `echo .` ends the loop once the watcher's ssh is gone (SIGPIPE), so nothing keeps running in the VM.
      const watcher = theVm().watch(loop);
      return {
        stop: async () =>
          new Map(
            (await watcher.stop()).split('\n').flatMap((line) => {
              const match = /^(\d+) (.+)$/.exec(line.trim());
              return match ? [[Number(match[1]), match[2]!] as [number, string]] : [];
            }),
          ),
      };
    }

    /** The kernel log's denial lines, without their time stamps (the test's own `sudo dmesg`). */
    const denials = (): string[] =>
      theVm()
        .ssh('sudo dmesg')
        .stdout.split('\n')
        .filter((line) => line.includes('apparmor="DENIED"'))
        .map((line) => line.replace(/^\[[^\]]*\]\s*/, '').trim());

    function assertNothingLeft(): void {
      const left = theVm().ssh(
        'docker ps -a --format "{{.Names}}"; pgrep -fa "^(sleep 600|nsenter)" || true; ls /tmp | grep labvm-nsenter || true',
      );
      assert.equal(left.code, 0, left.stderr);
      assert.equal(left.stdout.trim(), '', 'no container, sleep, nsenter or nsenter error file is left in the VM');
    }

    for (const method of ['native', 'container'] as const) {
      test(`--method ${method} --controls: AppArmor refuses the kill from inside, as the test observes it`, async () => {
        const kernelLogBefore = new Set(denials());
        const watcher = watchLabels();
        const started = Date.now();
        const run = await lab.run(
          [
            'exercise',
            '--host',
            theVm().spec,
            '--identity',
            theVm().identity,
            '--base-image',
            NGINX_BASE_IMAGE,
            '--method',
            method,
            '--controls',
            '--json',
          ],
          { HOME: home },
        );
        console.log(`# --method ${method} --controls took ${((Date.now() - started) / 1000).toFixed(0)} s on the VM`);
        const labels = await watcher.stop();
        assert.equal(run.code, 0, run.stderr);
        const report = JSON.parse(run.stdout) as ReportJson;
        const { evidence } = report;
        const newDenials = denials().filter((line) => !kernelLogBefore.has(line));

        assert.ok(
          report.environment.lsm.includes('apparmor'),
          `AppArmor is an active LSM: ${report.environment.lsm.join(',')}`,
        );
        assert.equal(report.pid.cause, 'nested-pid-namespace');
        assert.equal(evidence.container.initComm, 'nginx', 'the init was observed by name');

        // The labels labvm reports are those the test read from /proc/PID/attr/apparmor/current itself.
        assert.equal(labels.get(evidence.container.hostPid), 'docker-default (enforce)');
        assert.equal(evidence.container.initAppArmorLabel, 'docker-default (enforce)');
        assert.equal(evidence.container.execAppArmorLabel, 'docker-default (enforce)');
        assert.equal(labels.get(evidence.sleep.hostPid), 'unconfined', `the ${method} method's sleep is unconfined`);
        assert.equal(evidence.sleep.appArmorLabel, 'unconfined');

        // Question 3: refused, and the kernel's own audit line is the evidence; the test finds the same line.
        assert.equal(report.killFromInside.cause, 'apparmor');
        assert.equal(report.killFromInside.killed, false);
        assert.equal(report.killFromInside.exitCode, 1);
        assert.match(
          report.killFromInside.stderr,
          new RegExp(`^kill: \\(${report.pid.container}\\): Permission denied$`),
        );
        const audit = evidence.kill.audit;
        assert.equal(audit?.read, true, 'labvm read the kernel log');
        assert.equal(audit.lines.length, 1, audit.lines.join('\n'));
        assert.match(
          audit.lines[0]!,
          /apparmor="DENIED" operation="signal".*profile="docker-default".*comm="kill".*requested_mask="send".*peer="unconfined"/,
        );
        assert.ok(
          newDenials.includes(audit.lines[0]!.replace(/^\[[^\]]*\]\s*/, '')),
          `the test's dmesg has labvm's audit line:\n${newDenials.join('\n')}`,
        );
        assert.ok(
          report.killFromInside.explanation.includes(audit.lines[0]!),
          'the explanation quotes the logged refusal',
        );
        // No ptrace denial: the helper (container method) may open the unconfined target's namespaces.
        assert.deepEqual(
          newDenials.filter((line) => line.includes('operation="ptrace"')),
          [],
        );

        assert.equal(report.stopContainer.cause, 'pid-namespace-init-exit');
        assert.equal(report.stopContainer.processSurvived, false);

        // Controls: nsenter -F stays outside; in a container with apparmor=unconfined the same kill works.
        const causes = Object.fromEntries(report.controls.map((c) => [c.name, c.answers.map((a) => a.cause)]));
        assert.deepEqual(causes, {
          'no-fork': ['outside-pid-namespace', 'outside-pid-namespace'],
          'apparmor-unconfined': ['nested-pid-namespace', 'unconfined-sender'],
        });
        const unconfined = evidence.controls.find((c) => c.name === 'apparmor-unconfined')!;
        assert.equal(labels.get(unconfined.sleep.hostPid), 'unconfined');

        // The report teaches the same steps as commands, with this run's values.
        const commands = report.commands.map((c) => c.command);
        assert.ok(commands.includes(`docker exec my-nginx-cntr kill ${report.pid.container}`), commands.join('\n'));
        assert.ok(commands.includes("docker inspect --format '{{.State.Pid}}' my-nginx-cntr"));
        assert.ok(
          commands.some((c) =>
            c.includes(`nsenter --target ${evidence.container.hostPid} --mount --uts --ipc --net --pid -- sleep 600`),
          ),
        );
        assertNothingLeft();

        // `labvm report` re-explains the saved run to the same answers.
        const saved = join(home, `${method}.json`);
        await writeFile(saved, run.stdout);
        const again = await lab.run(['report', saved, '--json']);
        assert.equal(again.code, 0, again.stderr);
        const reexplained = JSON.parse(again.stdout) as ReportJson;
        for (const key of ['pid', 'stopContainer', 'killFromInside'] as const)
          assert.deepEqual(reexplained[key], report[key]);
        assert.deepEqual(reexplained.controls, report.controls);
        assert.match(again.stderr, /match those recomputed from its evidence/);
      });
    }
  },
);
