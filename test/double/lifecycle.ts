// start, stop, delete and exec.

import { $ } from 'zx';
import { namesOrAll, parseArgs, parseTimeout } from './args.js';
import { DEFAULT_PHASE_TIMEOUT_S, DELETED_SUFFIX, STOP_TIMEOUT_S, failed, usageError } from './common.js';
import { containerName, docker, findInstances, selectInstances, volumeName, type Instance } from './instances.js';
import { Spinner } from './output.js';
import { startClientTimer, waitForSsh } from './waiting.js';

async function bootInstance(instance: Instance) {
  if (instance.state === 'Stopped') await docker(['start', instance.container]);
}

export async function start(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { timeout: ['--timeout'] }, { all: ['--all'] });
  const { names, all } = namesOrAll(args);
  const timeoutS = parseTimeout(args);
  const everyone = await findInstances();
  const problems: string[] = [];
  for (const name of names) {
    const instance = everyone.find((i) => i.name === name);
    if (!instance) problems.push(`Instance '${name}' does not exist.`);
    else if (instance.state === 'Deleted')
      problems.push(`Instance '${name}' is deleted. Use 'recover' to recover it or 'purge' to permanently delete it.`);
  }
  if (problems.length > 0) throw failed('start', `instance(s) missing\n${problems.join('\n')}`);
  const targets = everyone.filter((i) => i.state !== 'Deleted' && (all || names.includes(i.name)));
  const spinner = new Spinner();
  const booted = Promise.all(targets.map(bootInstance));
  const cancelTimer = startClientTimer(timeoutS, spinner, 'Timed out waiting for instance to start.', () => booted);
  try {
    spinner.start(`Starting ${all ? 'all instances' : names.join(', ')}`);
    await booted;
    for (const instance of targets) await waitForSsh('start', instance.name, timeoutS ?? DEFAULT_PHASE_TIMEOUT_S);
  } finally {
    cancelTimer();
    spinner.stop();
  }
  return 0;
}

export async function stop(argv: string[]): Promise<number> {
  const args = parseArgs(
    argv,
    { time: ['-t', '--time'] },
    { all: ['--all'], cancel: ['-c', '--cancel'], force: ['--force'] },
  );
  const { names, all } = namesOrAll(args);
  const targets = await selectInstances('stop', names, all, false);
  if (args.switches.has('cancel')) return 0;
  await Promise.all(targets.map((i) => docker(['stop', '-t', String(STOP_TIMEOUT_S), i.container])));
  return 0;
}

async function purgeInstance(instance: Instance) {
  await docker(['rm', '-f', '-v', instance.container]);
  await docker(['volume', 'rm', '-f', volumeName(instance.name)]);
}

async function markDeleted(instance: Instance) {
  if (instance.state === 'Deleted') return;
  await docker(['stop', '-t', String(STOP_TIMEOUT_S), instance.container]);
  await docker(['rename', instance.container, `${containerName(instance.name)}${DELETED_SUFFIX}`]);
}

export async function deleteCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {}, { all: ['--all'], purge: ['-p', '--purge'] });
  const { names, all } = namesOrAll(args);
  const targets = await selectInstances('delete', names, all, true);
  await Promise.all(targets.map(args.switches.has('purge') ? purgeInstance : markDeleted));
  return 0;
}

export async function exec(argv: string[]): Promise<number> {
  const args = parseArgs(
    argv,
    { workdir: ['-d', '--working-directory'] },
    { noMap: ['-n', '--no-map-working-directory'] },
  );
  const [name, ...inline] = args.positional;
  const command = [...inline, ...args.afterDashDash];
  if (name === undefined || command.length === 0) throw usageError('Wrong number of arguments');
  const [instance] = await selectInstances('exec', [name], false, false);
  if (instance!.state !== 'Running') {
    // Real exec goes over SSH: a stopped instance is started, a booting one waited for.
    await bootInstance(instance!);
    await waitForSsh('exec', name, DEFAULT_PHASE_TIMEOUT_S);
  }
  const tty = process.stdin.isTTY && process.stdout.isTTY ? ['-t'] : [];
  const env = ['USER=ubuntu', 'LOGNAME=ubuntu', 'SHELL=/bin/bash'].flatMap((e) => ['-e', e]);
  const workdir = args.values.get('workdir') ?? '/home/ubuntu';
  const result = await $({
    stdio: 'inherit',
    nothrow: true,
    quiet: true,
  })`docker exec -i ${tty} -u ubuntu -w ${workdir} ${env} ${instance!.container} ${command}`;
  return result.exitCode ?? 255;
}
