import type Docker from 'dockerode';
import { LabvmError, dockerErrorMessage, errorMessage } from '../core/errors.js';
import type { Progress } from '../core/progress.js';
import { interrupted } from '../core/interrupt.js';
import { NotYet, retry } from '../core/wait.js';
import type {
  ContainerEvidence,
  ControlEvidence,
  ControlName,
  EnvironmentEvidence,
  Evidence,
  KillEvidence,
  Method,
  SleepEvidence,
  StopEvidence,
} from './evidence.js';
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
  /** The command that runs the exercise again (it removes what an earlier run left), for messages. */
  rerun: string;
  /** A new connection with the same trust, for cleanup after the first one was lost. */
  reconnect?: () => Promise<{ host: ExerciseHost; close: () => void }>;
}

/** Cleanup normally takes seconds; past this bound labvm stops waiting and names what may be left. */
const CLEANUP_LIMIT_MS = 60_000;

/** Runs the experiment step by step, gathering evidence; it interprets nothing (answers.ts does). */
export async function gatherEvidence(
  host: ExerciseHost,
  options: ExerciseOptions,
  progress: Progress,
): Promise<Evidence> {
  const stopped = () => interrupted('the exercise was stopped and everything it started has been removed');
  const step = <T>(
    name: string,
    work: (update: (detail: string) => void) => Promise<T>,
    describe?: (result: T) => string,
  ) => {
    if (options.signal.aborted) throw stopped();
    // A step ends when its work does, when the connection is lost, or at Ctrl-C: whatever it waits for inside.
    return progress
      .phase(name, (update) => host.guard(work(update), { signal: options.signal }), describe)
      .catch((error: unknown) => {
        if (options.signal.aborted) throw stopped(); // whatever the step said as it was cut short
        if (host.lost)
          throw new LabvmError(
            `${host.lost.message.replace(/\.$/, '')} during "${name}".`,
            'vm',
            host.lost.hint,
            undefined,
            { cause: host.lost },
          );
        if (error instanceof LabvmError) throw error;
        throw new LabvmError(
          `${name}: ${dockerErrorMessage(error)}`,
          'exercise',
          "Run the exercise again; if it fails the same way, the message above comes from the host's Docker or shell.",
          undefined,
          { cause: error },
        );
      });
  };
  await step('checking the host', () => host.checkPrerequisites());
  const { name: image } = await step(
    `building the exercise image (nginx + procps) from ${options.baseImage}`,
    (update) => buildExerciseImage(host, options.baseImage, update, options.signal),
    (built) => (built.built ? '' : 'up to date: built earlier from this Dockerfile and base image'),
  );
  const sleepers = new Sleepers(host, image);
  let evidence: Evidence;
  try {
    await step('removing leftovers of earlier runs', () => removeLeftovers(host));
    const environment = await step(
      "reading the host's kernel, security modules and Docker",
      () => readEnvironment(host, image, options),
      (e) => `${e.kernel}, Docker ${e.dockerVersion}, LSM: ${e.lsms.join(',') || 'none'}`,
    );
    const container = await step(
      `running ${CONTAINER_NAME} (port ${HOST_PORT} -> 80)`,
      () => runNginx(host, image, CONTAINER_NAME, []),
      (c) => `PID ${c.hostPid} on the host, nginx answered HTTP ${c.http.status}`,
    );
    const request: SleepRequest = { targetPid: container.hostPid, method: options.method };
    const sleep = await step(
      `starting sleep 600 in its namespaces (${options.method} nsenter)`,
      () => startAndObserve(host, sleepers, request, container),
      (s) => `PID ${s.hostPid} on the host, ${s.containerPid ?? 'not visible'} in the container`,
    );
    const kill = await step(
      'killing it from inside the container',
      () => killFromInside(host, CONTAINER_NAME, sleep),
      (k) => `exit ${k.exitCode}, process ${k.processGone ? 'gone' : 'still running'}`,
    );
    const stopTarget = kill.processGone
      ? await step('starting a new sleep for the stop test', () => startAndObserve(host, sleepers, request, container))
      : sleep;
    const stop = await step(
      `stopping ${CONTAINER_NAME}`,
      () => stopAndObserve(host, CONTAINER_NAME, stopTarget),
      (s) => `the sleep ${s.processSurvived ? 'survived' : 'is gone'}`,
    );
    const controls = options.controls ? await runControls(host, sleepers, image, options, step) : [];
    if (options.signal.aborted) throw stopped(); // a Ctrl-C during the last step still counts
    evidence = { environment, container, sleep, kill, stop, controls };
  } catch (error) {
    // The first failure is what the user must see; what cleanup could not remove is added to it.
    await cleanUp(host, sleepers, progress, options, false).catch((cleanupError: unknown) => {
      const { details, hint } =
        cleanupError instanceof LabvmError ? cleanupError : { details: undefined, hint: undefined };
      progress.note(
        [`Cleanup was incomplete too: ${errorMessage(cleanupError)}`, details, hint && `next: ${hint}`]
          .filter(Boolean)
          .join('\n  '),
      );
    });
    throw error;
  }
  await cleanUp(host, sleepers, progress, options, options.keep);
  return evidence;
}

async function readEnvironment(
  host: ExerciseHost,
  image: string,
  options: ExerciseOptions,
): Promise<EnvironmentEvidence> {
  await host.prepare(image);
  const [facts, info] = await Promise.all([
    host.kernelFacts(),
    host.docker.info() as Promise<{
      ServerVersion: string;
      SecurityOptions?: string[];
      OperatingSystem?: string;
      KernelVersion?: string;
    }>,
  ]);
  const { kind, endpoint, endpointSource, nativeMethod, rootCommand, hostCommand, setupCommand } = host.describe();
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
    targetDetails: {
      kind,
      endpoint,
      endpointSource,
      nativeMethod,
      rootCommand,
      hostCommand,
      setupCommand,
      operatingSystem: info.OperatingSystem ?? '',
      kernelVersion: info.KernelVersion ?? '',
    },
  };
}

/** A container of a crashed earlier run is replaced, not an error. */
async function removeLeftovers(host: ExerciseHost): Promise<void> {
  const leftovers = await host.docker.listContainers({ all: true, filters: { label: [EXERCISE_LABEL] } });
  const names = new Set([
    CONTAINER_NAME,
    UNCONFINED_CONTAINER,
    ...leftovers.map((c) => c.Names[0]!.replace(/^\//, '')),
  ]);
  await Promise.all([...names].map((name) => removeContainer(host, name)));
}

async function runNginx(
  host: ExerciseHost,
  image: string,
  name: string,
  securityOpt: string[],
): Promise<ContainerEvidence> {
  const publish = name === CONTAINER_NAME;
  const container = await host.docker.createContainer({
    name,
    Image: image,
    Labels: { [EXERCISE_LABEL]: 'nginx' },
    ExposedPorts: { '80/tcp': {} },
    HostConfig: {
      PortBindings: publish ? { '80/tcp': [{ HostPort: String(HOST_PORT) }] } : {},
      SecurityOpt: securityOpt,
    },
  });
  await container.start();
  const http = publish ? await waitForHttp(host, HOST_PORT) : { port: 0, status: 0 };
  return observeContainer(host, container, http);
}

async function observeContainer(
  host: ExerciseHost,
  container: Docker.Container,
  http: ContainerEvidence['http'],
): Promise<ContainerEvidence> {
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
  return retry(
    async () => {
      const response = await host.httpGet(port);
      if (response.status === 0) throw new NotYet('no HTTP response');
      return { port, status: response.status, server: response.headers.server };
    },
    {
      timeoutMs: HTTP_DEADLINE_MS,
      intervalMs: 250,
      timeoutError: (last) =>
        new LabvmError(
          `nginx did not answer on port ${port} within ${HTTP_DEADLINE_MS / 1000} seconds (${errorMessage(last)}).`,
          'exercise',
          `Is port ${port} taken on the host? Check with \`sudo ss -ltnp\` there.`,
          undefined,
          { cause: last },
        ),
    },
  );
}

async function startAndObserve(
  host: ExerciseHost,
  sleepers: Sleepers,
  request: SleepRequest,
  container: ContainerEvidence,
): Promise<SleepEvidence> {
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
    throw new LabvmError(
      'The sleep is not visible inside the container, so it cannot be killed from there.',
      'exercise',
    );
  }
  const command = ['kill', String(sleep.containerPid)];
  const mark = await host.kernelLogMark();
  const result = await host.exec(containerName, command);
  const processGone = await host.waitUntilGone(sleep.hostPid, SLEEP_ARGV, 2_000);
  // Only a refusal is looked up: a kill that worked has nothing to log.
  const audit = result.exitCode === 0 ? undefined : await host.auditSince(mark);
  return {
    targetPid: sleep.containerPid,
    command: ['docker', 'exec', containerName, ...command],
    ...result,
    processGone,
    ...(audit
      ? { audit: { ...audit, lines: audit.lines.filter((line) => /operation="signal"|\{[^}]*\bsignal\b/.test(line)) } }
      : {}),
  };
}

async function stopAndObserve(host: ExerciseHost, containerName: string, sleep: SleepEvidence): Promise<StopEvidence> {
  const container = host.docker.getContainer(containerName);
  const started = Date.now();
  await container.stop({ t: STOP_TIMEOUT_SECONDS });
  const stopSeconds = (Date.now() - started) / 1000;
  const [gone, { State: state }] = await Promise.all([
    host.waitUntilGone(sleep.hostPid, SLEEP_ARGV, 1_000),
    container.inspect(),
  ]);
  const processSurvived = !gone;
  return {
    hostPid: sleep.hostPid,
    nspid: sleep.nspid,
    inContainerCgroup: sleep.inContainerCgroup,
    stopSeconds,
    processSurvived,
    containerExitCode: state.ExitCode,
  };
}

type Step = Progress['phase'];

/** Controls: the same experiment with one thing changed, each expected to flip one answer. */
async function runControls(
  host: ExerciseHost,
  sleepers: Sleepers,
  image: string,
  options: ExerciseOptions,
  step: Step,
): Promise<ControlEvidence[]> {
  const noFork = await step('control: nsenter -F (no fork)', async () => {
    const main = host.docker.getContainer(CONTAINER_NAME);
    await main.start();
    const container = await observeContainer(host, main, { port: 0, status: 0 });
    const sleep = await startAndObserve(
      host,
      sleepers,
      { targetPid: container.hostPid, method: options.method, noFork: true },
      container,
    );
    const stop = await stopAndObserve(host, CONTAINER_NAME, sleep);
    return { name: 'no-fork', description: CONTROLS['no-fork'], container, sleep, stop } satisfies ControlEvidence;
  });
  const unconfined = await step('control: a container with apparmor=unconfined', async () => {
    const container = await runNginx(host, image, UNCONFINED_CONTAINER, ['apparmor=unconfined']);
    const sleep = await startAndObserve(
      host,
      sleepers,
      { targetPid: container.hostPid, method: options.method },
      container,
    );
    const kill = await killFromInside(host, UNCONFINED_CONTAINER, sleep);
    return {
      name: 'apparmor-unconfined',
      description: CONTROLS['apparmor-unconfined'],
      container,
      sleep,
      kill,
    } satisfies ControlEvidence;
  });
  return [noFork, unconfined];
}

/**
 * Ends every process and helper this run started; with --keep, only the exercise container itself stays.
 * A lost connection gets one new one with the same trust; the whole cleanup is bounded. When it cannot finish,
 * the error names what may be left and how to remove it.
 */
async function cleanUp(
  host: ExerciseHost,
  sleepers: Sleepers,
  progress: Progress,
  options: ExerciseOptions,
  keepContainer: boolean,
): Promise<void> {
  const containers = keepContainer ? [UNCONFINED_CONTAINER] : [CONTAINER_NAME, UNCONFINED_CONTAINER];
  const leftovers = [...containers.filter((name) => name === CONTAINER_NAME), ...sleepers.describe()];
  const cannotFinish = (why: string) =>
    new LabvmError(
      `Cleanup could not finish (${why}); on ${options.target} these may be left: ${leftovers.join(', ')}.`,
      'exercise',
      `Run \`${options.rerun}\` again: it removes them first. Or on the host: \`docker rm -f ${containers.join(' ')}\`${sleepers.pids().length ? ` and \`sudo kill -KILL ${sleepers.pids().join(' ')}\`` : ''}.`,
    );
  await progress.phase(
    'cleaning up',
    async (update) => {
      let target = host;
      let closeFresh: (() => void) | undefined;
      for (;;) {
        if (target.lost) {
          if (closeFresh || !options.reconnect) throw cannotFinish(target.lost.message.replace(/\.$/, ''));
          update('the connection was lost: reconnecting once, with the same host key check');
          const fresh = await options.reconnect().catch((error: unknown) => {
            throw cannotFinish(`reconnecting failed: ${errorMessage(error).replace(/\.$/, '')}`);
          });
          [target, closeFresh] = [fresh.host, fresh.close];
        }
        try {
          return await target.guard(removeEverything(target, sleepers, containers), {
            timeoutMs: CLEANUP_LIMIT_MS,
            onTimeout: () => cannotFinish(`no answer within ${CLEANUP_LIMIT_MS / 1000} s`),
          });
        } catch (error) {
          if (!target.lost) throw error;
          if (closeFresh) throw cannotFinish(target.lost.message.replace(/\.$/, ''));
        } finally {
          closeFresh?.();
        }
      }
    },
    () => (keepContainer ? `kept ${CONTAINER_NAME} (--keep)` : 'nothing left running'),
  );
}

async function removeEverything(host: ExerciseHost, sleepers: Sleepers, containers: string[]): Promise<void> {
  const [sleepProblems, ...containerProblems] = await Promise.all([
    sleepers.cleanup(host),
    ...containers.map((name) =>
      removeContainer(host, name).then(
        () => undefined,
        (error: unknown) => `${name}: ${errorMessage(error)}`,
      ),
    ),
  ]);
  const problems = [...sleepProblems, ...containerProblems.filter((problem) => problem !== undefined)];
  if (problems.length) {
    throw new LabvmError(
      'Some of what the exercise started could not be removed.',
      'exercise',
      'Remove it by hand on the host (docker rm -f, sudo kill), then run the exercise again.',
      problems.join('\n'),
    );
  }
}
