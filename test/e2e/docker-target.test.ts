import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { LabvmEnv, NGINX_BASE_IMAGE, docker, finished, interruptWhen, uniqueName } from '../support/labvm.js';

/**
 * labvm exercise --docker on this machine's own engine: a real "Linux engine" target. The test reads /proc itself
 * (this machine is the engine's host) and checks the engine only for what its runs labelled, because other
 * stand-ins run their own sleeps on the same kernel.
 */

const SOCKET = '/var/run/docker.sock';
const EXERCISE_LABEL = 'org.labvm.exercise';
const skip =
  docker(['image', 'inspect', NGINX_BASE_IMAGE]).code === 0
    ? undefined
    : `no ${NGINX_BASE_IMAGE}: run \`bash scripts/test-host/prepare.sh\``;

interface ReportJson {
  environment: {
    method: string;
    targetKind: string;
    endpoint: string;
    endpointSource: string;
    dockerOperatingSystem: string;
    dockerKernelVersion: string;
    nativeMethod: string;
    kernel: string;
  };
  pid: { host: number; container: number | null; nspid: number[]; cause: string };
  killFromInside: { killed: boolean; cause: string };
  stopContainer: { processSurvived: boolean; cause: string };
  evidence: { container: { http: { status: number } }; stop: { hostPid: number } };
  controls: Array<{ name: string; answers: Array<{ cause: string; processSurvived?: boolean; killed?: boolean }> }>;
}

/** Reads a /proc file, or undefined when the process ended meanwhile. */
const procFile = (pid: number, file: string) => readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => undefined);

/**
 * Every `sleep 600` on this machine and its NSpid, read from /proc by the test itself. PIDs seen running something
 * that will not become our sleep (anything but nsenter, or a sleep already read) are skipped on later sweeps, so
 * a sweep stays short on a loaded machine and catches a sleep that lives for less than a second.
 */
async function sleepsOnThisKernel(skip = new Set<number>()): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  const pids = (await readdir('/proc'))
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => !skip.has(pid));
  await Promise.all(
    pids.map(async (pid) => {
      const cmdline = await procFile(pid, 'cmdline');
      if (cmdline === undefined) return;
      if (cmdline !== 'sleep\u0000600\u0000') {
        if (cmdline && !cmdline.startsWith('nsenter\u0000')) skip.add(pid);
        return;
      }
      const nspid = /^NSpid:\s*(.+)$/m
        .exec((await procFile(pid, 'status')) ?? '')?.[1]
        ?.trim()
        .split(/\s+/)
        .join(' ');
      if (nspid) found.set(pid, nspid);
    }),
  );
  return found;
}

/**
 * Watches the sleeps while labvm runs and keeps the ones this engine's exercise containers started: their cgroup is
 * that of a container labelled org.labvm.exercise (other tests' VM stand-ins run sleeps on this kernel too).
 */
function watchSleeps(): { stop: () => Promise<Map<number, string>> } {
  const seen = new Map<number, string>();
  const skip = new Set<number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [pid, nspid] of await sleepsOnThisKernel(skip)) {
        skip.add(pid);
        if (await startedByTheExercise(pid)) seen.set(pid, nspid);
      }
      await delay(20);
    }
  })();
  return { stop: async () => ((running = false), await loop, seen) };
}

async function startedByTheExercise(pid: number): Promise<boolean> {
  const id = /[0-9a-f]{64}/.exec((await procFile(pid, 'cgroup')) ?? '')?.[0];
  if (!id) return false;
  const labels = await new Promise<string>((resolve) =>
    execFile('docker', ['inspect', '-f', `{{index .Config.Labels "${EXERCISE_LABEL}"}}`, id], (error, stdout) =>
      resolve(error ? '' : stdout.trim()),
    ),
  );
  return labels !== '' && labels !== '<no value>';
}

function labelledContainers(): string[] {
  return docker(['ps', '-a', '--filter', `label=${EXERCISE_LABEL}`, '--format', '{{.Names}}'])
    .stdout.split('\n')
    .filter(Boolean);
}

async function assertNothingLeft(sleepPids: Iterable<number>): Promise<void> {
  assert.deepEqual(labelledContainers(), [], 'no helper or exercise container is left on the engine');
  const running = await sleepsOnThisKernel();
  for (const pid of sleepPids) assert.ok(!running.has(pid), `sleep 600 with PID ${pid} from this run is gone`);
}

describe("labvm exercise --docker (this machine's engine)", { skip, concurrency: false }, () => {
  let lab: LabvmEnv;
  let work: string;
  const exercise = (...args: string[]) => ['exercise', '--docker', '--base-image', NGINX_BASE_IMAGE, ...args];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'labvm-docker-target-'));
    // An empty Docker config, and no engine chosen by the environment, unless a test sets one.
    lab = await LabvmEnv.create({
      DOCKER_CONFIG: join(work, 'empty-config'),
      DOCKER_HOST: undefined,
      DOCKER_CONTEXT: undefined,
    });
  });
  after(async () => {
    await lab.dispose();
    await rm(work, { recursive: true, force: true });
  });

  async function runAndCheck(
    method: 'native' | 'container',
    extraArgs: string[],
    env: NodeJS.ProcessEnv = {},
  ): Promise<ReportJson> {
    const watcher = watchSleeps();
    const run = await lab.run(exercise('--method', method, '--json', ...extraArgs), env);
    const seen = await watcher.stop();
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as ReportJson;
    assert.equal(report.environment.method, method);
    assert.equal(report.environment.targetKind, 'docker-engine');
    assert.equal(report.evidence.container.http.status, 200, 'nginx answered on 8080, checked from the helper');
    // Question 1: the pair the report gives is the one the test read from /proc while the sleep lived.
    assert.equal(report.pid.nspid.length, 2);
    assert.equal(
      seen.get(report.pid.host),
      report.pid.nspid.join(' '),
      `NSpid of ${report.pid.host} seen by the test: ${[...seen].join('; ')}`,
    );
    assert.equal(report.pid.container, report.pid.nspid[1]);
    assert.equal(report.pid.cause, 'nested-pid-namespace');
    // This kernel has no AppArmor (the test checks), so the kill works; the stop kills the namespace.
    assert.equal(
      (await readFile('/sys/module/apparmor/parameters/enabled', 'utf8').catch(() => 'absent')).trim() === 'Y',
      false,
    );
    assert.equal(report.killFromInside.killed, true);
    assert.equal(report.killFromInside.cause, 'no-lsm');
    assert.equal(report.stopContainer.processSurvived, false);
    assert.equal(report.stopContainer.cause, 'pid-namespace-init-exit');
    await assertNothingLeft(seen.keys());
    return report;
  }

  test('native: nsenter from the privileged helper; the report names the engine, and nothing is left', async () => {
    const report = await runAndCheck('native', []);
    const info = docker(['info', '--format', '{{.OperatingSystem}}|{{.KernelVersion}}']).stdout.trim().split('|');
    assert.equal(report.environment.endpoint, `unix://${SOCKET}`);
    assert.equal(report.environment.endpointSource, 'the default socket');
    assert.deepEqual([report.environment.dockerOperatingSystem, report.environment.dockerKernelVersion], info);
    assert.match(report.environment.nativeMethod, /privileged helper container in the engine host's PID namespace/);
  });

  test('container method with --controls: no-fork survives the stop, the unconfined kill works', async () => {
    const report = await runAndCheck('container', ['--controls']);
    const noFork = report.controls.find((control) => control.name === 'no-fork');
    assert.deepEqual(
      noFork?.answers.map((answer) => answer.cause),
      ['outside-pid-namespace', 'outside-pid-namespace'],
    );
    assert.equal(noFork?.answers[1]?.processSurvived, true);
    assert.equal(report.controls.find((control) => control.name === 'apparmor-unconfined')?.answers[1]?.killed, true);
  });

  test('the terminal report says in words what native means here', async () => {
    const run = await lab.run(exercise());
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Target kind\s+local Docker engine \(docker-engine\)/);
    assert.match(run.stdout, /Engine host\s+.+, kernel .+, no AppArmor/);
    assert.match(run.stdout, /Method\s+native \(nsenter run from a privileged helper container/);
    assert.deepEqual(labelledContainers(), []);
  });

  test('Ctrl-C after the sleep started removes everything (exit 130), and the next run passes', async () => {
    const watcher = watchSleeps();
    const child = lab.spawn(exercise());
    interruptWhen(child, 'killing it from inside the container');
    const run = await finished(child);
    const seen = await watcher.stop();
    assert.equal(run.code, 130, run.stderr);
    assert.ok(seen.size > 0, 'the sleep had started when Ctrl-C came');
    await assertNothingLeft(seen.keys());
    await runAndCheck('native', []);
  });

  test('a helper left by a crashed run is replaced', async () => {
    docker([
      'run',
      '-d',
      '--name',
      'labvm-engine-helper',
      '--label',
      `${EXERCISE_LABEL}=engine-helper`,
      NGINX_BASE_IMAGE,
      'sleep',
      'infinity',
    ]);
    await runAndCheck('native', []);
  });

  test('DOCKER_HOST=unix:// at a second path to the same engine', async () => {
    const link = join(work, 'second-path.sock');
    await symlink(SOCKET, link);
    const report = await runAndCheck('native', [], { DOCKER_HOST: `unix://${link}` });
    assert.equal(report.environment.endpoint, `unix://${link}`);
    assert.equal(report.environment.endpointSource, 'DOCKER_HOST');
  });

  test('a context made with the docker CLI, chosen by --context and by currentContext', async () => {
    const config = join(work, 'config');
    const context = uniqueName('labvm-ctx');
    const link = join(work, 'context-path.sock');
    await symlink(SOCKET, link);
    const created = docker(['--config', config, 'context', 'create', context, '--docker', `host=unix://${link}`]);
    assert.equal(created.code, 0, created.stderr);
    const byFlag = await runAndCheck('native', ['--context', context], { DOCKER_CONFIG: config });
    assert.equal(byFlag.environment.endpoint, `unix://${link}`);
    assert.equal(byFlag.environment.endpointSource, `context ${context} (--context)`);
    assert.equal(docker(['--config', config, 'context', 'use', context]).code, 0);
    const byCurrent = await runAndCheck('native', [], { DOCKER_CONFIG: config });
    assert.equal(byCurrent.environment.endpoint, `unix://${link}`);
    assert.equal(
      byCurrent.environment.endpointSource,
      `context ${context} (currentContext in ${join(config, 'config.json')})`,
    );
  });

  test('an engine that does not answer: exit 3, naming the endpoint and where it came from', async () => {
    const missing = join(work, 'no-engine-here.sock');
    const run = await lab.run(exercise(), { DOCKER_HOST: `unix://${missing}` });
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, new RegExp(`unix://${missing} \\(from DOCKER_HOST\\) did not answer`));
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });

  test('ssh:// is refused with a hint to --host; --docker with --name or --host is a usage error', async () => {
    const ssh = await lab.run(exercise(), { DOCKER_HOST: 'ssh://ana@192.0.2.1' });
    assert.equal(ssh.code, 2, ssh.stderr);
    assert.match(ssh.stderr, /ssh:\/\/ana@192\.0\.2\.1 \(DOCKER_HOST\)/);
    assert.match(ssh.stderr, /labvm exercise --host ana@192\.0\.2\.1/);
    for (const extra of [
      ['--name', 'labvm'],
      ['--host', 'ana@192.0.2.1'],
    ]) {
      const run = await lab.run(exercise(...extra));
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /--docker .* does not go with --name or --host/);
    }
    const context = await lab.run(['exercise', '--context', 'x']);
    assert.equal(context.code, 2, context.stderr);
  });
});
