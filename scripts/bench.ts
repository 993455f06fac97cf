/**
 * Speed of labvm's remote paths, as RATIOS against baselines measured in the same run (machines are shared and
 * noisy, so absolute times mean little and tests never assert on them). Needs the Multipass test double and its
 * stand-ins (`bash scripts/test-host/prepare.sh`). Starts one VM through the double, removes it at the end.
 *
 *   npm run bench        (= npm run build && node dist/scripts/bench.js)
 *
 * Each operation is warmed up once, then labvm's path and the baseline run alternately (so load drifts hit both
 * alike) until the iteration count or the time budget is reached. Exits 0 whatever the ratios are; non-zero only
 * when the benchmark itself fails (no VM, a command failing, results that disagree).
 */
import { spawn } from 'node:child_process';
import type { Agent } from 'node:http';
import { createRequire } from 'node:module';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Docker from 'dockerode';
import type { ConnectConfig } from 'ssh2';
import { collectOutput, type ProcessOutput } from '../src/core/process.js';
import { InstanceState } from '../src/core/state.js';
import { publicKeyBlob } from '../src/remote/host-keys.js';
import type { RemoteHost } from '../src/remote/ssh.js';
import { connectToInstance, hostAlias, VM_USER } from '../src/vm/instance.js';
import { CLI, MULTIPASS_DOUBLE, NGINX_BASE_IMAGE, ROOT, loadImageIntoVm, uniqueName } from '../test/support/labvm.js';
import { HELPER_CAPABILITIES } from '../src/lab/engine-host.js';
import { EXERCISE_IMAGE } from '../src/lab/exercise-image.js';

const ITERATIONS = { docker: 30, shell: 30, up: 10, exercise: 5, startup: 20, engine: 5 };
/** Per operation, labvm's path and the baseline together; a slow machine gets fewer iterations, not a hang. */
const BUDGET_MS = { docker: 20_000, shell: 20_000, up: 40_000, exercise: 240_000, startup: 20_000, engine: 150_000 };

function exec(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<ProcessOutput> {
  return collectOutput(spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

async function execOk(command: string, args: string[], env: NodeJS.ProcessEnv, what: string): Promise<ProcessOutput> {
  const run = await exec(command, args, env);
  if (run.code !== 0)
    throw new Error(`${what} failed (exit ${run.code}): ${(run.stderr || run.stdout).trim().slice(-1500)}`);
  return run;
}

let interrupted = false;

interface Samples {
  labvm: number[];
  baseline: number[];
}

/** One untimed warm-up of each, then alternating timed runs until `iterations` or the budget. */
async function measure(
  iterations: number,
  budgetMs: number,
  labvm: () => Promise<unknown>,
  baseline: () => Promise<unknown>,
): Promise<Samples> {
  await labvm();
  await baseline();
  const samples: Samples = { labvm: [], baseline: [] };
  const started = performance.now();
  const time = async (fn: () => Promise<unknown>, into: number[]) => {
    const t0 = performance.now();
    await fn();
    into.push(performance.now() - t0);
  };
  for (let i = 0; i < iterations && performance.now() - started < budgetMs; i++) {
    if (interrupted) throw new Error('interrupted');
    await time(labvm, samples.labvm);
    await time(baseline, samples.baseline);
  }
  return samples;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low]! + (sorted[Math.ceil(at)]! - sorted[low]!) * (at - low);
}

function ms(value: number): string {
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  return value >= 10 ? `${value.toFixed(0)} ms` : `${value.toFixed(1)} ms`;
}

interface Row {
  operation: string;
  baselineName: string;
  samples: Samples;
  verdict: (ratio: number) => string;
}

function printTable(rows: Row[]): void {
  const header = ['operation', 'n', 'labvm median (p90)', 'baseline median (p90)', 'ratio baseline/labvm'];
  const lines = rows.map((row) => {
    const lm = quantile(row.samples.labvm, 0.5);
    const bm = quantile(row.samples.baseline, 0.5);
    return [
      row.operation,
      String(row.samples.labvm.length),
      `${ms(lm)} (${ms(quantile(row.samples.labvm, 0.9))})`,
      `${ms(bm)} (${ms(quantile(row.samples.baseline, 0.9))})`,
      row.verdict(bm / lm),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i]!.length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  console.log(format(header));
  console.log(format(widths.map((w) => '-'.repeat(w))));
  for (const line of lines) console.log(format(line));
  console.log('\nbaselines:');
  for (const row of rows) console.log(`  ${row.operation}: ${row.baselineName}`);
}

/** docker-modem's SSH transport: an http.Agent whose every connection is a new SSH login running `docker system dial-stdio`. */
const modemSshAgent = createRequire(import.meta.url)('docker-modem/lib/ssh.js') as (options: ConnectConfig) => Agent;

/**
 * `docker version` the way dockerode's protocol:'ssh' does it: a fresh docker-modem SSH agent per request. The agent
 * is given under an http:// address, as docker-modem's protocol:'ssh' would build `ssh:IP:22IP` as the request URL,
 * which url.parse() warns about on every Node version ([DEP0170] The URL ... is invalid).
 */
function modemSshDockerVersion(ip: string, privateKey: string, trusted: Buffer): () => Promise<Docker.DockerVersion> {
  return () => {
    const agent = modemSshAgent({
      host: ip,
      port: 22,
      username: VM_USER,
      privateKey,
      hostVerifier: (key: Buffer) => key.equals(trusted),
    });
    return new Docker({ protocol: 'http', host: 'localhost', port: 2375, agent } as Docker.DockerOptions).version();
  };
}

const HAND_CONTAINER = 'bench-by-hand-nginx';
const NSENTER = (pid: string) => `nsenter --target ${pid} --mount --uts --ipc --net --pid -- sleep 600`;

/**
 * The exercise as a person scripts it from the seed's instructions: every Docker step a `docker` CLI call over
 * DOCKER_HOST=ssh:// (a new SSH login and `docker system dial-stdio` each), every host step one `ssh`. The docker CLI
 * runs `ssh` from PATH, so a wrapper there adds labvm's ssh_config (pinned host key, the VM's key).
 */
async function handScriptedExercise(home: string, sshConfig: string, alias: string): Promise<() => Promise<void>> {
  const bin = join(home, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F "${sshConfig}" -o BatchMode=yes "$@"\n`);
  await chmod(join(bin, 'ssh'), 0o755);
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, DOCKER_HOST: `ssh://${alias}` };
  const docker = async (...args: string[]) =>
    (await execOk('docker', args, env, `docker ${args[0] ?? ''}`)).stdout.trim();
  const ssh = async (script: string) => (await execOk('ssh', [alias, script], env, `ssh ${script}`)).stdout.trim();
  const startSleep = async (pid: string) => {
    const launcher = await ssh(`sudo sh -c 'setsid ${NSENTER(pid)} </dev/null >/dev/null 2>&1 & echo $!'`);
    return ssh(`sleep 0.3; ps -o pid= --ppid ${launcher}`);
  };
  return async () => {
    await exec('docker', ['rm', '-f', HAND_CONTAINER], env);
    await docker('run', '-d', '--name', HAND_CONTAINER, '-p', '8080:80', 'labvm-exercise:latest');
    const pid = await docker('inspect', '-f', '{{.State.Pid}}', HAND_CONTAINER);
    const sleep = await startSleep(pid);
    const ps = await docker('exec', HAND_CONTAINER, 'ps', 'aux');
    const inner = ps
      .split('\n')
      .find((line) => line.endsWith('sleep 600'))
      ?.trim()
      .split(/\s+/)[1];
    if (!inner) throw new Error(`by hand: the sleep is not in the container's ps aux:\n${ps}`);
    await ssh(`grep NSpid /proc/${sleep}/status`);
    await exec('docker', ['exec', HAND_CONTAINER, 'kill', inner], env); // refused where AppArmor confines the container
    const killed = (await exec('ssh', [alias, `sudo kill -0 ${sleep}`], env)).code !== 0;
    const survivor = killed ? await startSleep(pid) : sleep;
    await docker('stop', HAND_CONTAINER);
    await exec('ssh', [alias, `sudo kill -0 ${survivor}`], env);
    await docker('rm', '-f', HAND_CONTAINER);
  };
}

async function main(): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), 'labvm-bench-'));
  const name = uniqueName('bench');
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', LABVM_HOME: home, LABVM_MULTIPASS: MULTIPASS_DOUBLE };
  const labvm = (args: string[], what: string) => execOk(process.execPath, [CLI, ...args], env, what);
  let remote: RemoteHost | undefined;

  console.log(
    `labvm bench: Node ${process.version}, ${process.platform}/${process.arch}, ${cpus().length} CPUs; ` +
      `iterations: ${Object.entries(ITERATIONS)
        .map(([op, n]) => `${op} ${n} (budget ${BUDGET_MS[op as keyof typeof BUDGET_MS] / 1000} s)`)
        .join(', ')}`,
  );
  try {
    const upStarted = performance.now();
    await labvm(
      ['up', '--name', name, '--timeout', '300'],
      `labvm up --name ${name} (is the test host prepared? bash scripts/test-host/prepare.sh)`,
    );
    console.log(`VM ${name} ready through the Multipass double in ${ms(performance.now() - upStarted)}\n`);

    const status = JSON.parse((await labvm(['status', '--name', name, '--json'], 'labvm status')).stdout) as {
      ipv4: string | null;
    };
    if (!status.ipv4) throw new Error(`labvm status reports no IPv4 address for ${name}`);
    const ip = status.ipv4;
    const state = new InstanceState(name, home);
    const record = await state.readRecord();
    const privateKey = await state.read('clientKey');
    if (!record || !privateKey) throw new Error(`labvm's state for ${name} is incomplete in ${state.dir}`);

    const rows: Row[] = [];

    // 1. Docker API: one keep-alive channel on labvm's connection vs a new SSH connection per request.
    remote = await connectToInstance(state, record, ip);
    const viaLabvm = remote.docker.api;
    const viaModemSsh = modemSshDockerVersion(ip, privateKey, publicKeyBlob(record.hostPublicKey));
    const [a, b] = [await viaLabvm.version(), await viaModemSsh()];
    if (a.Version !== b.Version) throw new Error(`the two Docker paths disagree: ${a.Version} vs ${b.Version}`);
    rows.push({
      operation: 'docker version',
      baselineName:
        "dockerode over docker-modem's SSH agent, new per request as its protocol:'ssh' does (new SSH login + docker system dial-stdio per request)",
      samples: await measure(ITERATIONS.docker, BUDGET_MS.docker, () => viaLabvm.version(), viaModemSsh),
      verdict: (r) => `${r.toFixed(1)}× faster`,
    });

    // 2. Shell commands: exec channels on the open connection vs one OpenSSH client process (and login) per command.
    const sshArgs = ['-F', state.path('sshConfig'), '-o', 'BatchMode=yes', hostAlias(name), 'true'];
    rows.push({
      operation: 'shell `true`',
      baselineName: `ssh ${sshArgs.join(' ')} (system OpenSSH client per command)`,
      samples: await measure(
        ITERATIONS.shell,
        BUDGET_MS.shell,
        async () => {
          const result = await remote!.run('true');
          if (result.exitCode !== 0)
            throw new Error(`\`true\` over labvm's connection exited ${result.exitCode}: ${result.stderr}`);
        },
        () => execOk('ssh', sshArgs, env, 'ssh -F ssh_config'),
      ),
      verdict: (r) => `${r.toFixed(1)}× faster`,
    });
    remote.close();
    remote = undefined;

    // 3. `labvm up` on a ready VM vs the cheapest thing it must do anyway: ask Multipass about the instance.
    rows.push({
      operation: 'up (ready VM)',
      baselineName: `multipass info ${name} --format json (the double, as labvm calls it)`,
      samples: await measure(
        ITERATIONS.up,
        BUDGET_MS.up,
        async () => {
          const run = await labvm(['up', '--name', name], 'labvm up on a ready VM');
          if (!run.stdout.includes(`${name} was already ready`))
            throw new Error(`labvm up did not take the ready path:\n${run.stdout}`);
        },
        () => execOk(MULTIPASS_DOUBLE, ['info', name, '--format', 'json'], env, 'multipass info'),
      ),
      verdict: (r) => `up = ${(1 / r).toFixed(1)}× a bare multipass info`,
    });

    // 4. The whole exercise: `labvm exercise --host` (one SSH connection) vs the seed's steps by hand, scripted with
    //    the docker CLI over DOCKER_HOST=ssh:// and one `ssh` per host step.
    const byHand = await handScriptedExercise(home, state.path('sshConfig'), hostAlias(name));
    const labvmEnv = { ...env, HOME: home };
    await mkdir(join(home, '.ssh'), { recursive: true });
    await writeFile(join(home, '.ssh', 'known_hosts'), `${ip} ${record.hostPublicKey.trim()}\n`);
    const exerciseArgs = [
      'exercise',
      '--host',
      `${VM_USER}@${ip}`,
      '--identity',
      state.path('clientKey'),
      '--base-image',
      NGINX_BASE_IMAGE,
    ];
    loadImageIntoVm(name); // the stand-in reaches no registry
    rows.push({
      operation: 'exercise (end to end)',
      baselineName: `the seed's steps by hand: docker run, inspect, exec ps, exec kill, stop, rm over DOCKER_HOST=ssh://; nsenter, NSpid and the checks as one ssh each`,
      samples: await measure(
        ITERATIONS.exercise,
        BUDGET_MS.exercise,
        () => execOk(process.execPath, [CLI, ...exerciseArgs], labvmEnv, `labvm ${exerciseArgs.join(' ')}`),
        byHand,
      ),
      verdict: (r) => `${r.toFixed(2)}× faster`,
    });

    // 5. Start-up: `labvm --help` against a bare Node start.
    rows.push({
      operation: 'labvm --help',
      baselineName: 'node -e 0',
      samples: await measure(
        ITERATIONS.startup,
        BUDGET_MS.startup,
        () => execOk(process.execPath, [CLI, '--help'], env, 'labvm --help'),
        () => execOk(process.execPath, ['-e', '0'], env, 'node -e 0'),
      ),
      verdict: (r) => `--help = ${(1 / r).toFixed(2)}× node -e 0`,
    });

    // 6. `labvm exercise --docker` on this machine's engine vs the first alternative scripted with the docker CLI.
    rows.push(await engineRow(env));

    printTable(rows);
  } finally {
    remote?.close();
    const down = await exec(process.execPath, [CLI, 'down', '--name', name], env).catch((error: Error) => ({
      code: -1,
      signal: null,
      stdout: '',
      stderr: error.message,
    }));
    if (down.code !== 0) {
      console.error(`warning: labvm down --name ${name} failed (exit ${down.code}): ${down.stderr.trim()}`);
      process.exitCode = 1;
    }
    await rm(home, { recursive: true, force: true });
  }
}

const docker = (args: string[], what = `docker ${args.slice(0, 2).join(' ')}`) =>
  execOk('docker', args, process.env, what);
const dockerText = async (args: string[]) => (await docker(args)).stdout.trim();

/**
 * The first alternative of the exercise as a student scripts it with the docker CLI: a privileged --pid=host helper
 * and one `docker exec` per host-side step, the same steps labvm takes for `exercise --docker` (native method).
 */
async function scriptedFirstAlternative(image: string, helperFlags: string[]): Promise<void> {
  const [helper, nginx] = ['labvm-engine-helper', 'my-nginx-cntr'];
  const inHelper = (script: string) => exec('docker', ['exec', helper, 'sh', '-c', script], process.env);
  const helperText = async (script: string) => (await inHelper(script)).stdout.trim();
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  await docker([
    'build',
    '-q',
    '-t',
    image,
    '--build-arg',
    `BASE_IMAGE=${NGINX_BASE_IMAGE}`,
    join(ROOT, 'src', 'lab', 'image'),
  ]);
  await docker(['ps', '-a', '-q', '--filter', 'label=org.labvm.exercise']); // leftovers of earlier runs
  await exec('docker', ['rm', '-f', nginx, helper], process.env);
  await docker(['run', '-d', '--name', helper, ...helperFlags, '--pid=host', '--net=host', image, 'sleep', 'infinity']);
  await helperText('command -v nsenter');
  await helperText('uname -r');
  await helperText(
    'cat /sys/kernel/security/lsm 2>/dev/null || { mount -t securityfs securityfs /sys/kernel/security && cat /sys/kernel/security/lsm; }',
  );
  await helperText('cat /sys/module/apparmor/parameters/enabled');
  await inHelper('cat /sys/fs/selinux/enforce');
  await docker(['info', '--format', '{{.ServerVersion}} {{.OperatingSystem}} {{.KernelVersion}} {{.SecurityOptions}}']);
  await docker(['run', '-d', '--name', nginx, '-p', '8080:80', image]);
  const httpCheck =
    'bash -c \'exec 3<>/dev/tcp/127.0.0.1/8080 && printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && timeout 5 cat <&3\' | head -n 1';
  for (let attempt = 0; !(await helperText(httpCheck)).includes(' 200 '); attempt++) {
    if (attempt > 40) throw new Error('nginx did not answer on 8080 in the scripted run');
    await pause(250);
  }
  const nginxPid = await dockerText(['inspect', '-f', '{{.State.Pid}}', nginx]);
  for (const file of ['attr/current', 'attr/apparmor/current', 'comm', 'uid_map'])
    await helperText(`cat /proc/${nginxPid}/${file}`);
  await exec(
    'docker',
    ['exec', nginx, 'sh', '-c', 'cat /proc/self/attr/current; echo; echo ---; cat /proc/self/attr/apparmor/current'],
    process.env,
  );
  const isSleep = async (pid: string) => (await helperText(`tr "\\0" " " </proc/${pid}/cmdline`)) === 'sleep 600';
  const started: string[] = [];
  const startSleep = async () => {
    await inHelper('dmesg | tail -n 1'); // the kernel log's mark, so that denials can be told apart from earlier ones
    const launcher = await helperText(
      `setsid nsenter --target ${nginxPid} --mount --uts --ipc --net --pid -- sleep 600 </dev/null >/dev/null 2>&1 & echo $!`,
    );
    let child = '';
    while (!child || !(await isSleep(child))) child = await helperText(`ps -o pid= --ppid ${launcher}`);
    started.push(launcher, child);
    for (const file of ['status', 'cgroup', 'attr/current']) await helperText(`cat /proc/${child}/${file}`);
    await helperText(`readlink /proc/${child}/ns/pid`);
    await helperText(`readlink /proc/${nginxPid}/ns/pid`);
    const ps = await dockerText(['exec', nginx, 'ps', 'aux']);
    await docker(['top', nginx]);
    return { child, containerPid: /^\S+\s+(\d+).*sleep 600$/m.exec(ps)?.[1] };
  };
  const gone = async (pid: string) => {
    while (await isSleep(pid)) await pause(100);
  };
  const first = await startSleep();
  if (!first.containerPid) throw new Error('the scripted run did not find the sleep in the container');
  await exec('docker', ['exec', nginx, 'kill', first.containerPid], process.env);
  await gone(first.child);
  const second = await startSleep();
  await docker(['stop', '-t', '10', nginx]);
  await gone(second.child);
  await docker(['inspect', nginx]);
  // Cleanup as labvm does it: each process this run started is checked (and killed if still ours).
  for (const pid of started) await inHelper(`tr "\\0" " " </proc/${pid}/cmdline`);
  await docker(['rm', '-f', nginx, helper]);
}

/** --privileged, or where runc cannot apply it, the same equivalent labvm's helper then uses (engine-host.ts). */
async function helperFlags(image: string): Promise<string[]> {
  if ((await exec('docker', ['run', '--rm', '--privileged', image, 'true'], process.env)).code === 0)
    return ['--privileged'];
  return [
    ...HELPER_CAPABILITIES.flatMap((cap) => ['--cap-add', cap]),
    ...['seccomp=unconfined', 'apparmor=unconfined', 'label=disable', 'systempaths=unconfined'].flatMap((option) => [
      '--security-opt',
      option,
    ]),
  ];
}

async function engineRow(env: NodeJS.ProcessEnv): Promise<Row> {
  const exercise = async () => {
    const run = await execOk(
      process.execPath,
      [CLI, 'exercise', '--docker', '--base-image', NGINX_BASE_IMAGE, '--json'],
      env,
      'labvm exercise --docker',
    );
    if ((JSON.parse(run.stdout) as { pid: { cause: string } }).pid.cause !== 'nested-pid-namespace')
      throw new Error('labvm exercise --docker gave an unexpected answer');
  };
  await exercise(); // builds the exercise image the script uses too
  const flags = await helperFlags(EXERCISE_IMAGE);
  return {
    operation: 'exercise --docker',
    baselineName: `the same steps with the docker CLI: a helper (${flags.join(' ')} --pid=host --net=host), one docker exec per host step`,
    samples: await measure(ITERATIONS.engine, BUDGET_MS.engine, exercise, () =>
      scriptedFirstAlternative(EXERCISE_IMAGE, flags),
    ),
    verdict: (r) => `${r.toFixed(1)}× faster`,
  };
}

process.on('SIGINT', () => {
  interrupted = true; // the current step ends, then the VM is removed
});

main().then(
  () => process.removeAllListeners('SIGINT'),
  (error: unknown) => {
    process.removeAllListeners('SIGINT');
    if (interrupted) console.error('bench interrupted (its VM was removed)');
    else console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = interrupted ? 130 : 1;
  },
);
