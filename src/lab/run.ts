import type Docker from 'dockerode';
import { LabvmError, dockerErrorMessage, errorMessage } from '../core/errors.js';
import type { Progress } from '../core/progress.js';
import { NotYet, retry } from '../core/wait.js';
import type { ContainerEvidence, ControlEvidence, ControlName, EnvironmentEvidence, Evidence, KillEvidence, Method, SleepEvidence, StopEvidence } from './evidence.js';
import { buildExerciseImage } from './exercise-image.js';
import type { ExerciseHost } from './host.js';
import { inContainerCgroup, parseLabel, parseNSpid, parsePsAux } from './parse.js';
import { EXERCISE_LABEL, Sleepers, removeContainer, SLEEP_ARGV, type SleepRequest } from './sleepers.js';

export const CONTAINER_NAME = 'my-nginx-cntr';
export const UNCONFINED_CONTAINER = 'labvm-control-unconfined';
export const HOST_PORT = 8080;
/** docker stop's grace period before SIGKILL (Docker's default for Linux containers). */
export const STOP_TIMEOUT_SECONDS = 10;
/** Names and descriptions of the controls, as reports (and saved ones) show them. */
export const CONTROLS = {
  'no-fork': 'nsenter -F: the sleep joins every namespace but is not forked into the PID namespace',
  'apparmor-unconfined': 'the container runs without an AppArmor profile',
} as const satisfies Record<ControlName, string>;
/** How long nginx may take to answer: a VM without hardware virtualisation is many times slower than one with it. */
const HTTP_DEADLINE_MS = 180_000;

export interface ExerciseOptions {
  target: string;
  method: Method;
  baseImage: string;
  controls: boolean;
  keep: boolean;
  signal: AbortSignal;
}

/** Runs the experiment step by step, gathering evidence; it interprets nothing (answers.ts does). */
export async function gatherEvidence(host: ExerciseHost, options: ExerciseOptions, progress: Progress): Promise<Evidence> {
  const step = <T>(name: string, work: (update: (detail: string) => void) => Promise<T>, describe?: (result: T) => string) => {
    if (options.signal.aborted) throw interrupted();
    return progress.phase(name, work, describe).catch((error: unknown) => {
      if (options.signal.aborted) throw interrupted(); // whatever the step said as it was cut short
      if (error instanceof LabvmError) throw error;
      throw new LabvmError(`${name}: ${dockerErrorMessage(error)}`, 'exercise',
        'Run the exercise again; if it fails the same way, the message above comes from the host\'s Docker or shell.', undefined, { cause: error });
    });
  };
  const environment = await step('checking the host', () => checkHost(host, options), (e) => `${e.kernel}, Docker ${e.dockerVersion}, LSM: ${e.lsms.join(',') || 'none'}`);
  const image = await step(`building the exercise image (nginx + procps) from ${options.baseImage}`,
    (update) => buildExerciseImage(host, options.baseImage, update, options.signal));
  const sleepers = new Sleepers(host, image);
  let evidence: Evidence;
  try {
    await step('removing leftovers of earlier runs', () => removeLeftovers(host));
    const container = await step(`running ${CONTAINER_NAME} (port ${HOST_PORT} -> 80)`, () => runNginx(host, image, CONTAINER_NAME, []),
      (c) => `PID ${c.hostPid} on the host, nginx answered HTTP ${c.http.status}`);
    const request: SleepRequest = { targetPid: container.hostPid, method: options.method };
    const sleep = await step(`starting sleep 600 in its namespaces (${options.method} nsenter)`,
      () => startAndObserve(host, sleepers, request, container), (s) => `PID ${s.hostPid} on the host, ${s.containerPid ?? 'not visible'} in the container`);
    const kill = await step('killing it from inside the container', () => killFromInside(host, CONTAINER_NAME, sleep),
      (k) => `exit ${k.exitCode}, process ${k.processGone ? 'gone' : 'still running'}`);
    const stopTarget = kill.processGone
      ? await step('starting a new sleep for the stop test', () => startAndObserve(host, sleepers, request, container))
      : sleep;
    const stop = await step(`stopping ${CONTAINER_NAME}`, () => stopAndObserve(host, CONTAINER_NAME, stopTarget),
      (s) => `the sleep ${s.processSurvived ? 'survived' : 'is gone'}`);
    const controls = options.controls ? await runControls(host, sleepers, image, options, step) : [];
    if (options.signal.aborted) throw interrupted(); // a Ctrl-C during the last step still counts
    evidence = { environment, container, sleep, kill, stop, controls };
  } catch (error) {
    // The first failure is what the user must see; what cleanup could not remove is added to it.
    await cleanUp(host, sleepers, progress, false).catch((cleanupError: unknown) =>
      progress.note(`Cleanup was incomplete too: ${errorMessage(cleanupError)} ${(cleanupError as LabvmError).details ?? ''}`.trim()));
    throw error;
  }
  await cleanUp(host, sleepers, progress, options.keep);
  return evidence;
}

function interrupted(): LabvmError {
  return new LabvmError('Interrupted: the exercise was stopped and everything it started has been removed.', 'interrupted');
}

async function checkHost(host: ExerciseHost, options: ExerciseOptions): Promise<EnvironmentEvidence> {
  await host.checkPrerequisites();
  const [facts, info] = await Promise.all([
    host.kernelFacts(),
    host.docker.info() as Promise<{ ServerVersion: string; SecurityOptions?: string[] }>,
  ]);
  return {
    target: options.target,
    kernel: facts.kernel,
    dockerVersion: info.ServerVersion,
    lsms: facts.lsms,
    lsmListRead: facts.lsmListRead,
    selinuxEnforcing: facts.selinuxEnforcing,
    apparmorEnabled: facts.apparmorEnabled,
    dockerSecurityOptions: info.SecurityOptions ?? [],
    method: options.method,
    baseImage: options.baseImage,
    containerRemoved: !options.keep,
  };
}

/** A container of a crashed earlier run is replaced, not an error. */
async function removeLeftovers(host: ExerciseHost): Promise<void> {
  const leftovers = await host.docker.listContainers({ all: true, filters: { label: [EXERCISE_LABEL] } });
  const names = new Set([CONTAINER_NAME, UNCONFINED_CONTAINER, ...leftovers.map((c) => c.Names[0]!.replace(/^\//, ''))]);
  for (const name of names) await removeContainer(host, name);
}

async function runNginx(host: ExerciseHost, image: string, name: string, securityOpt: string[]): Promise<ContainerEvidence> {
  const publish = name === CONTAINER_NAME;
  const container = await host.docker.createContainer({
    name,
    Image: image,
    Labels: { [EXERCISE_LABEL]: 'nginx' },
    ExposedPorts: { '80/tcp': {} },
    HostConfig: { PortBindings: publish ? { '80/tcp': [{ HostPort: String(HOST_PORT) }] } : {}, SecurityOpt: securityOpt },
  });
  await container.start();
  const http = publish ? await waitForHttp(host, HOST_PORT) : { port: 0, status: 0 };
  return observeContainer(host, container, http);
}

async function observeContainer(host: ExerciseHost, container: Docker.Container, http: ContainerEvidence['http']): Promise<ContainerEvidence> {
  const inspect = await container.inspect();
  const name = inspect.Name.replace(/^\//, '');
  const pid = inspect.State.Pid;
  // One exec reads both of its own labels, separated by a line that no label contains.
  const [execLabels, initLabels, comm, uidMap] = await Promise.all([
    host.exec(name, ['sh', '-c', 'cat /proc/self/attr/current; echo; echo ---; cat /proc/self/attr/apparmor/current']),
    host.labels(pid),
    host.readProc(pid, 'comm'),
    host.readProc(pid, 'uid_map'),
  ]);
  const [execCurrent, execAppArmor] = execLabels.stdout.split('\n---\n');
  return {
    name,
    id: inspect.Id,
    image: inspect.Config.Image,
    hostPid: pid,
    appArmorProfile: inspect.AppArmorProfile ?? '',
    initLabel: initLabels.current,
    execLabel: parseLabel(execCurrent),
    initAppArmorLabel: initLabels.appArmor,
    execAppArmorLabel: parseLabel(execAppArmor),
    ...(comm === undefined ? {} : { initComm: comm.trim() }),
    ...(uidMap === undefined ? {} : { uidMap: uidMap.trim() }),
    http,
  };
}

async function waitForHttp(host: ExerciseHost, port: number): Promise<ContainerEvidence['http']> {
  return retry(async () => {
    const response = await host.httpGet(port);
    if (response.status === 0) throw new NotYet('no HTTP response');
    return { port, status: response.status, server: response.headers.server };
  }, {
    timeoutMs: HTTP_DEADLINE_MS,
    intervalMs: 250,
    timeoutError: (last) => new LabvmError(`nginx did not answer on port ${port} within ${HTTP_DEADLINE_MS / 1000} seconds (${errorMessage(last)}).`, 'exercise',
      `Is port ${port} taken on the host? Check with \`sudo ss -ltnp\` there.`, undefined, { cause: last }),
  });
}

async function startAndObserve(host: ExerciseHost, sleepers: Sleepers, request: SleepRequest, container: ContainerEvidence): Promise<SleepEvidence> {
  const started = await sleepers.start(request);
  return observeSleep(host, started.hostPid, container);
}

async function observeSleep(host: ExerciseHost, hostPid: number, container: ContainerEvidence): Promise<SleepEvidence> {
  const [status, cgroup, labels, pidNamespace, containerPidNamespace, ps, top] = await Promise.all([
    host.readProc(hostPid, 'status'),
    host.readProc(hostPid, 'cgroup'),
    host.labels(hostPid),
    host.pidNamespace(hostPid),
    host.pidNamespace(container.hostPid),
    host.exec(container.name, ['ps', 'aux']),
    host.docker.getContainer(container.name).top() as Promise<{ Titles: string[]; Processes: string[][] }>,
  ]);
  const sleepRows = parsePsAux(ps.stdout).filter((row) => row.command === SLEEP_ARGV.join(' '));
  const pidColumn = top.Titles.indexOf('PID');
  return {
    hostPid,
    containerPid: sleepRows[0]?.pid ?? null,
    nspid: parseNSpid(status ?? ''),
    pidNamespace,
    containerPidNamespace,
    cgroup: (cgroup ?? '').trim(),
    inContainerCgroup: inContainerCgroup(cgroup ?? '', container.id),
    listedByDockerTop: top.Processes.some((row) => Number(row[pidColumn]) === hostPid),
    label: labels.current,
    appArmorLabel: labels.appArmor,
    psAux: ps.stdout.trimEnd(),
    psLine: sleepRows[0]?.line ?? null,
  };
}

async function killFromInside(host: ExerciseHost, containerName: string, sleep: SleepEvidence): Promise<KillEvidence> {
  if (sleep.containerPid === null) {
    throw new LabvmError('The sleep is not visible inside the container, so it cannot be killed from there.', 'exercise');
  }
  const command = ['kill', String(sleep.containerPid)];
  const mark = await host.kernelLogMark();
  const result = await host.exec(containerName, command);
  const processGone = await host.waitUntilGone(sleep.hostPid, SLEEP_ARGV, 2_000);
  // Only a refusal is looked up: a kill that worked has nothing to log.
  const audit = result.exitCode === 0 ? undefined : await host.auditSince(mark);
  return {
    targetPid: sleep.containerPid, command: ['docker', 'exec', containerName, ...command], ...result, processGone,
    ...(audit ? { audit: { ...audit, lines: audit.lines.filter((line) => /operation="signal"|\{[^}]*\bsignal\b/.test(line)) } } : {}),
  };
}

async function stopAndObserve(host: ExerciseHost, containerName: string, sleep: SleepEvidence): Promise<StopEvidence> {
  const container = host.docker.getContainer(containerName);
  const started = Date.now();
  await container.stop({ t: STOP_TIMEOUT_SECONDS });
  const stopSeconds = (Date.now() - started) / 1000;
  const processSurvived = !(await host.waitUntilGone(sleep.hostPid, SLEEP_ARGV, 1_000));
  const state = (await container.inspect()).State;
  return {
    hostPid: sleep.hostPid, nspid: sleep.nspid, inContainerCgroup: sleep.inContainerCgroup,
    stopSeconds, processSurvived, containerExitCode: state.ExitCode,
  };
}

type Step = Progress['phase'];

/** Controls: the same experiment with one thing changed, each expected to flip one answer. */
async function runControls(host: ExerciseHost, sleepers: Sleepers, image: string, options: ExerciseOptions, step: Step): Promise<ControlEvidence[]> {
  const noFork = await step('control: nsenter -F (no fork)', async () => {
    const main = host.docker.getContainer(CONTAINER_NAME);
    await main.start();
    const container = await observeContainer(host, main, { port: 0, status: 0 });
    const sleep = await startAndObserve(host, sleepers, { targetPid: container.hostPid, method: options.method, noFork: true }, container);
    const stop = await stopAndObserve(host, CONTAINER_NAME, sleep);
    return { name: 'no-fork', description: CONTROLS['no-fork'], container, sleep, stop } satisfies ControlEvidence;
  });
  const unconfined = await step('control: a container with apparmor=unconfined', async () => {
    const container = await runNginx(host, image, UNCONFINED_CONTAINER, ['apparmor=unconfined']);
    const sleep = await startAndObserve(host, sleepers, { targetPid: container.hostPid, method: options.method }, container);
    const kill = await killFromInside(host, UNCONFINED_CONTAINER, sleep);
    return { name: 'apparmor-unconfined', description: CONTROLS['apparmor-unconfined'], container, sleep, kill } satisfies ControlEvidence;
  });
  return [noFork, unconfined];
}

/** Ends every process and helper this run started; with --keep, only the exercise container itself stays. */
async function cleanUp(host: ExerciseHost, sleepers: Sleepers, progress: Progress, keepContainer: boolean): Promise<void> {
  await progress.phase('cleaning up', async () => {
    const problems = await sleepers.cleanup();
    for (const name of keepContainer ? [UNCONFINED_CONTAINER] : [CONTAINER_NAME, UNCONFINED_CONTAINER]) {
      await removeContainer(host, name).catch((error) => problems.push(`${name}: ${errorMessage(error)}`));
    }
    if (problems.length) {
      throw new LabvmError('Some of what the exercise started could not be removed.', 'exercise',
        'Remove it by hand on the host (docker rm -f, sudo kill), then run the exercise again.', problems.join('\n'));
    }
  }, () => (keepContainer ? `kept ${CONTAINER_NAME} (--keep)` : 'nothing left running'));
}
