/**
 * The docker and shell commands that do by hand what labvm did through the Docker API and its SSH connection, with
 * this run's names, PIDs and results, so a student can repeat the exercise and a teacher can check it.
 */
import type { ContainerEvidence, Evidence, KillEvidence, SleepEvidence, StopEvidence } from '../lab/evidence.js';
import { CONTAINER_NAME, HOST_PORT, STOP_TIMEOUT_SECONDS, UNCONFINED_CONTAINER } from '../lab/run.js';
import { ENGINE_HELPER } from '../lab/engine-host.js';
import { HELPER_CAPS, HELPER_SECURITY_OPT, NAMESPACE_FLAGS, SLEEP_ARGV } from '../lab/sleepers.js';

export interface EquivalentCommand {
  command: string;
  /** What this run observed when labvm did the same (a PID, an exit code), when there is something to show. */
  result?: string;
}

/** The commands in the order labvm performed the steps. */
export function equivalentCommands(evidence: Evidence): EquivalentCommand[] {
  const { environment, container, sleep, kill, stop, controls } = evidence;
  const image = container.image;
  const helpers = { count: 0 };
  const on = onHost(environment);
  const startSleep = (
    target: ContainerEvidence,
    observed: { hostPid: number; nspid: number[] },
    noFork = false,
  ): EquivalentCommand[] => nsenter(environment.method, target.hostPid, image, helpers, noFork, observed, on);
  const setup = environment.targetDetails?.setupCommand;
  const commands: EquivalentCommand[] = [
    {
      command: `docker build -t ${image} --build-arg BASE_IMAGE=${environment.baseImage ?? '<base image>'} <folder with labvm's Dockerfile>`,
    },
    ...(setup ? [{ command: setup }] : []),
    { command: `docker run -d --name ${CONTAINER_NAME} -p ${HOST_PORT}:80 ${image}` },
    { command: `curl -sI http://localhost:${HOST_PORT}/`, result: `HTTP ${container.http.status}` },
    ...inspectPid(container, on),
    ...startSleep(container, sleep),
    ...observe(container, sleep, on),
    ...killInside(CONTAINER_NAME, kill, on),
    ...(stop.hostPid !== sleep.hostPid ? startSleep(container, stop) : []),
    ...stopContainer(stop, on),
  ];
  for (const control of controls) {
    if (control.name === 'no-fork') {
      commands.push(
        { command: `docker start ${CONTAINER_NAME}` },
        ...inspectPid(control.container, on),
        ...startSleep(control.container, control.sleep, true),
        ...(control.stop ? stopContainer(control.stop, on) : []),
      );
    } else {
      commands.push(
        { command: `docker run -d --name ${UNCONFINED_CONTAINER} --security-opt apparmor=unconfined ${image}` },
        ...inspectPid(control.container, on),
        ...startSleep(control.container, control.sleep),
        { command: `docker exec ${UNCONFINED_CONTAINER} ps aux`, result: psResult(control.sleep) },
        ...(control.kill ? killInside(UNCONFINED_CONTAINER, control.kill, on) : []),
      );
    }
  }
  const removed = [
    ...(environment.containerRemoved === false ? [] : [CONTAINER_NAME]),
    ...(controls.some((c) => c.name === 'apparmor-unconfined') ? [UNCONFINED_CONTAINER] : []),
  ];
  if (setup) removed.push(ENGINE_HELPER);
  if (removed.length) commands.push({ command: `docker rm -f ${removed.join(' ')}` });
  return commands;
}

/** Prefixes a host-side command as this target runs it by hand: `sudo` over SSH, `docker exec` into an engine's helper. */
interface OnHost {
  root: (command: string) => string;
  plain: (command: string) => string;
}

function onHost(environment: Evidence['environment']): OnHost {
  const prefix = (word: string | undefined) => (command: string) => (word ? `${word} ${command}` : command);
  return {
    root: prefix(environment.targetDetails?.rootCommand ?? 'sudo'),
    plain: prefix(environment.targetDetails?.hostCommand),
  };
}

function inspectPid(container: ContainerEvidence, on: OnHost): EquivalentCommand[] {
  return [
    { command: `docker inspect --format '{{.State.Pid}}' ${container.name}`, result: String(container.hostPid) },
    ...(container.initComm
      ? [{ command: on.plain(`cat /proc/${container.hostPid}/comm`), result: container.initComm }]
      : []),
  ];
}

function nsenter(
  method: Evidence['environment']['method'],
  targetPid: number,
  image: string,
  helpers: { count: number },
  noFork: boolean,
  observed: { hostPid: number; nspid: number[] },
  on: OnHost,
): EquivalentCommand[] {
  const argv = [
    'nsenter',
    '--target',
    String(targetPid),
    ...NAMESPACE_FLAGS,
    ...(noFork ? ['--no-fork'] : []),
    '--',
    ...SLEEP_ARGV,
  ];
  const command =
    method === 'native'
      ? `${on.root(argv.join(' '))} &`
      : `docker run -d --name labvm-nsenter-helper-${++helpers.count} --pid=host ${HELPER_CAPS.map((c) => `--cap-add ${c}`).join(' ')} ` +
        `${HELPER_SECURITY_OPT.map((o) => `--security-opt ${o}`).join(' ')} ${image} ${argv.join(' ')}`;
  return [
    { command, result: `sleep runs as PID ${observed.hostPid} on the host` },
    {
      command: on.plain(`grep NSpid /proc/${observed.hostPid}/status`),
      result: observed.nspid.length ? `NSpid: ${observed.nspid.join(' ')}` : 'no NSpid line',
    },
  ];
}

function observe(container: ContainerEvidence, sleep: SleepEvidence, on: OnHost): EquivalentCommand[] {
  return [
    { command: on.root(`cat /proc/${sleep.hostPid}/attr/current`), result: sleep.label ?? 'no label' },
    { command: `docker exec ${container.name} cat /proc/self/attr/current`, result: container.execLabel ?? 'no label' },
    { command: `docker exec ${container.name} ps aux`, result: psResult(sleep) },
    {
      command: `docker top ${container.name}`,
      result: sleep.listedByDockerTop ? 'lists the sleep' : 'does not list the sleep',
    },
  ];
}

function psResult(sleep: SleepEvidence): string {
  return sleep.containerPid === null ? 'the sleep is not listed' : `the sleep is PID ${sleep.containerPid}`;
}

function killInside(containerName: string, kill: KillEvidence, on: OnHost): EquivalentCommand[] {
  const stderr = kill.stderr.trim();
  return [
    {
      command: `docker exec ${containerName} kill ${kill.targetPid}`,
      result: `exit ${kill.exitCode}${stderr ? `: ${stderr}` : ''}`,
    },
    ...(kill.audit
      ? [
          {
            command: `${on.root('dmesg')} | grep -E 'apparmor="DENIED"|avc: +denied'`,
            result: kill.audit.read
              ? kill.audit.lines.join('\n') || 'no signal denial during the kill'
              : 'could not be read',
          },
        ]
      : []),
  ];
}

function stopContainer(stop: StopEvidence, on: OnHost): EquivalentCommand[] {
  return [
    {
      command: `docker stop -t ${STOP_TIMEOUT_SECONDS} ${CONTAINER_NAME}`,
      result: `${stop.stopSeconds.toFixed(1)} s, exit code ${stop.containerExitCode}`,
    },
    {
      command: on.plain(`ps -p ${stop.hostPid} -o pid,args`),
      result: stop.processSurvived ? 'the sleep still runs' : 'the sleep is gone',
    },
  ];
}
