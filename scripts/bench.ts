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
import { mkdtemp, rm } from 'node:fs/promises';
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
import { CLI, MULTIPASS_DOUBLE, uniqueName } from '../test/support/labvm.js';


const ITERATIONS = { docker: 30, shell: 30, up: 10 };
/** Per operation, labvm's path and the baseline together; a slow machine gets fewer iterations, not a hang. */
const BUDGET_MS = { docker: 20_000, shell: 20_000, up: 40_000 };

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

async function main(): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), 'labvm-bench-'));
  const name = uniqueName('bench');
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', LABVM_HOME: home, LABVM_MULTIPASS: MULTIPASS_DOUBLE };
  const labvm = (args: string[], what: string) => execOk(process.execPath, [CLI, ...args], env, what);
  let remote: RemoteHost | undefined;

  console.log(
    `labvm bench: Node ${process.version}, ${process.platform}/${process.arch}, ${cpus().length} CPUs; ` +
      `iterations: docker ${ITERATIONS.docker}, shell ${ITERATIONS.shell}, up ${ITERATIONS.up} (time budgets ${BUDGET_MS.docker / 1000}/${BUDGET_MS.shell / 1000}/${BUDGET_MS.up / 1000} s)`,
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
