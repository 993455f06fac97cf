import type { ContainerEvidence, EnvironmentEvidence, Evidence, KillEvidence, SleepEvidence, StopEvidence } from './evidence.js';

/**
 * Turns evidence into answers. Pure: the same evidence always gives the same answers, and every answer
 * names the observations it rests on. An observation that fits no known cause is reported as unexplained.
 */

export type PidCause = 'nested-pid-namespace' | 'same-pid-namespace' | 'outside-pid-namespace' | 'unexplained';
export type KillCause = 'apparmor' | 'no-lsm' | 'unconfined-sender' | 'same-profile' | 'unexplained';
export type StopCause = 'pid-namespace-init-exit' | 'outside-pid-namespace' | 'unexplained';

export interface Answer<Cause extends string> {
  question: string;
  /** One line: the answer itself. */
  answer: string;
  cause: Cause;
  /** Why, in terms of what the kernel and Docker do. */
  explanation: string;
  /** The observations the answer rests on. */
  evidence: string[];
}

export interface PidAnswer extends Answer<PidCause> {
  kind: 'pid';
  host: number;
  container: number | null;
  nspid: number[];
  same: boolean;
}

export interface KillAnswer extends Answer<KillCause> {
  kind: 'killFromInside';
  killed: boolean;
  exitCode: number;
  stderr: string;
}

export interface StopAnswer extends Answer<StopCause> {
  kind: 'stopContainer';
  processSurvived: boolean;
}

export interface Answers {
  pid: PidAnswer;
  killFromInside: KillAnswer;
  stopContainer: StopAnswer;
  controls: Array<{ name: string; description: string; answers: Array<PidAnswer | KillAnswer | StopAnswer> }>;
}

export const QUESTIONS = {
  pid: 'Is the PID the same inside and outside the container?',
  kill: 'Can the process be killed from inside the container?',
  stop: 'What happens to the process when the container is stopped?',
} as const;

export function answerAll(evidence: Evidence): Answers {
  return {
    pid: answerPid(evidence.sleep),
    killFromInside: answerKill(evidence.kill, evidence.sleep, evidence.container, evidence.environment),
    stopContainer: answerStop(evidence.stop),
    controls: evidence.controls.map((control) => ({
      name: control.name,
      description: control.description,
      answers: [
        answerPid(control.sleep),
        ...(control.kill ? [answerKill(control.kill, control.sleep, control.container, evidence.environment)] : []),
        ...(control.stop ? [answerStop(control.stop)] : []),
      ],
    })),
  };
}

export function answerPid(sleep: SleepEvidence): PidAnswer {
  const { hostPid, containerPid, nspid } = sleep;
  const sameNamespace = sleep.pidNamespace === sleep.containerPidNamespace;
  const innermost = nspid[nspid.length - 1];
  const evidence = [
    `PID on the host: ${hostPid}`,
    `PID inside the container (docker exec ps aux): ${containerPid ?? 'not listed'}`,
    `NSpid in /proc/${hostPid}/status: ${nspid.join(' ') || 'absent'}`,
    `PID namespace of the sleep: ${sleep.pidNamespace}; of the container: ${sleep.containerPidNamespace}`,
  ];
  const base = { kind: 'pid' as const, question: QUESTIONS.pid, host: hostPid, container: containerPid, nspid, same: containerPid === hostPid, evidence };

  if (sameNamespace && nspid.length >= 2 && nspid[0] === hostPid && containerPid !== null && innermost === containerPid) {
    return {
      ...base,
      cause: 'nested-pid-namespace',
      answer: `No: the same process is PID ${hostPid} on the host and PID ${containerPid} inside the container.`,
      explanation:
        `nsenter --pid joined the container's PID namespace and forked, so sleep was born inside it. PID namespaces nest: ` +
        `a process is visible in its own namespace and in every ancestor, with a separate number in each. ` +
        `NSpid lists them outermost first (${nspid.join(', ')}): ${hostPid} in the host's namespace, ${containerPid} in the container's.`,
    };
  }
  if (sameNamespace && nspid.length === 1 && nspid[0] === hostPid && containerPid === hostPid) {
    return {
      ...base,
      cause: 'same-pid-namespace',
      answer: `Yes: the process is PID ${hostPid} both on the host and inside the container.`,
      explanation: 'The container shares the host\'s PID namespace, so there is only one PID namespace and one number.',
    };
  }
  if (!sameNamespace && containerPid === null && nspid.length >= 1 && nspid[0] === hostPid) {
    return {
      ...base,
      cause: 'outside-pid-namespace',
      answer: `The question does not apply: PID ${hostPid} is not inside the container's PID namespace, so the container cannot see it.`,
      explanation:
        'setns(CLONE_NEWPID) moves only the children of the caller into the namespace. Without a fork (nsenter -F) the ' +
        'sleep stays in the host\'s PID namespace: it shares the other namespaces but not the PIDs.',
    };
  }
  return {
    ...base,
    cause: 'unexplained',
    answer: `Observed PID ${hostPid} on the host and ${containerPid ?? 'no PID'} inside the container; labvm cannot explain this combination.`,
    explanation: 'The observations do not match nested PID namespaces, a shared PID namespace, or a process outside the namespace. Check the evidence by hand.',
  };
}

/** Security modules that can refuse a signal between processes (SELinux and Smack as well as AppArmor). */
const SIGNAL_MEDIATING_LSMS = ['apparmor', 'selinux', 'smack'];

/** "docker-default (enforce)" -> "docker-default"; null or "" when there is no label. */
export function profileOf(label: string | null): string | null {
  if (!label) return null;
  return label.replace(/\s*\((enforce|complain|kill|unconfined|prompt)\)\s*$/, '').trim() || null;
}

export function answerKill(kill: KillEvidence, sleep: SleepEvidence, container: ContainerEvidence, environment: EnvironmentEvidence): KillAnswer {
  const killed = kill.processGone;
  /** The kill reported success and the process is gone: a failed kill with a vanished process fits no known cause. */
  const succeeded = killed && kill.exitCode === 0;
  const apparmor = environment.apparmorEnabled || environment.lsms.includes('apparmor');
  const sender = profileOf(container.execLabel);
  const target = profileOf(sleep.label);
  const evidence = [
    `\`${kill.command.join(' ')}\` exited ${kill.exitCode}${kill.stderr.trim() ? ` with "${kill.stderr.trim()}"` : ''}`,
    `process ${sleep.hostPid} after the kill: ${killed ? 'gone' : 'still running'}`,
    `Linux security modules: ${environment.lsms.join(', ') || 'none reported'}; AppArmor ${apparmor ? 'enabled' : 'not enabled'}`,
    `AppArmor label of a docker exec process (the sender): ${container.execLabel ?? 'none'}`,
    `AppArmor label of the sleep (the target): ${sleep.label ?? 'none'}`,
    `Docker security options: ${environment.dockerSecurityOptions.join(', ') || 'none'}`,
  ];
  const base = { kind: 'killFromInside' as const, question: QUESTIONS.kill, killed, exitCode: kill.exitCode, stderr: kill.stderr.trim(), evidence };
  const deniedWithEacces = !killed && kill.exitCode !== 0 && /permission denied/i.test(kill.stderr);

  if (deniedWithEacces && apparmor && sender && sender !== 'unconfined' && target === 'unconfined') {
    return {
      ...base,
      cause: 'apparmor',
      answer: `No: the kill was refused with "Permission denied" and the process lives on.`,
      explanation:
        `AppArmor mediates signals on both sides. The kill ran under the container's profile "${sender}", whose rules allow ` +
        `sending signals only to peers of the same profile; the nsenter'd sleep is "unconfined" (nsenter does not copy the ` +
        `container's AppArmor label). No rule lets ${sender} send to unconfined, so the kernel returned EACCES. It is not ` +
        `a capability or UID problem (both are root with CAP_KILL; that would be EPERM, "Operation not permitted"). From the host, the same kill works.`,
    };
  }
  if (succeeded && !apparmor && !environment.lsms.some((lsm) => SIGNAL_MEDIATING_LSMS.includes(lsm))) {
    return {
      ...base,
      cause: 'no-lsm',
      answer: 'Yes: the kill from inside the container ended the process.',
      explanation:
        'The sleep is a member of the container\'s PID namespace, and both sides are root with CAP_KILL. No Linux security module ' +
        'that mediates signals (AppArmor) is active on this host, so nothing stands in the way. On an Ubuntu host with AppArmor the same kill is refused.',
    };
  }
  const containerUnconfined = [null, 'unconfined'].includes(profileOf(container.appArmorProfile));
  if (succeeded && apparmor && (sender === 'unconfined' || (sender === null && containerUnconfined))) {
    return {
      ...base,
      cause: 'unconfined-sender',
      answer: 'Yes: the kill from inside the container ended the process.',
      explanation:
        'AppArmor is active, but the process sending the signal is unconfined (the container runs without an AppArmor ' +
        'profile), and an unconfined side always passes AppArmor\'s signal check.',
    };
  }
  if (succeeded && apparmor && sender !== null && sender === target) {
    return {
      ...base,
      cause: 'same-profile',
      answer: 'Yes: the kill from inside the container ended the process.',
      explanation:
        `AppArmor is active, and both the sender and the sleep run under "${sender}", whose rules let processes of the same ` +
        'profile signal each other.' +
        (environment.method === 'container' ? ' The sleep got that label from the helper container that ran nsenter.' : ''),
    };
  }
  return {
    ...base,
    cause: 'unexplained',
    answer: killed ? 'Yes: the process is gone after the kill.' : `No: the process survived the kill (exit ${kill.exitCode}).`,
    explanation:
      'This combination of result, error message and security labels matches none of the causes labvm knows ' +
      '(AppArmor signal mediation, no LSM, an unconfined sender, a shared profile). Check the evidence by hand.',
  };
}

export function answerStop(stop: StopEvidence): StopAnswer {
  const insideNamespace = stop.nspid.length >= 2;
  const evidence = [
    `sleep PID ${stop.hostPid} before the stop, NSpid ${stop.nspid.join(' ') || 'absent'}`,
    `in the container's cgroup (/proc/${stop.hostPid}/cgroup names the container): ${stop.inContainerCgroup ? 'yes' : 'no'}`,
    `docker stop took ${stop.stopSeconds.toFixed(1)} s; the container's init exited with code ${stop.containerExitCode}`,
    `process ${stop.hostPid} after the stop: ${stop.processSurvived ? 'still running' : 'gone'}`,
  ];
  const base = { kind: 'stopContainer' as const, question: QUESTIONS.stop, processSurvived: stop.processSurvived, evidence };

  if (!stop.processSurvived && insideNamespace) {
    return {
      ...base,
      cause: 'pid-namespace-init-exit',
      answer: 'It is killed: the sleep ends together with the container.',
      explanation:
        'docker stop signals only the container\'s init, nginx (PID 1 in the container). When the init of a PID namespace ' +
        'exits, the kernel sends SIGKILL to every other process in that namespace, and the sleep is one of them. ' +
        (stop.inContainerCgroup
          ? 'The sleep was also in the container\'s cgroup, but the kill comes from the namespace, not the cgroup.'
          : 'It is not a cgroup kill: the sleep was never in the container\'s cgroup.'),
    };
  }
  if (stop.processSurvived && stop.nspid.length === 1) {
    return {
      ...base,
      cause: 'outside-pid-namespace',
      answer: 'It survives: the sleep keeps running after the container has stopped.',
      explanation:
        'The sleep never entered the container\'s PID namespace (nsenter without a fork), so the kernel\'s kill of that ' +
        'namespace\'s members does not reach it. It keeps the container\'s other namespaces alive by reference.',
    };
  }
  return {
    ...base,
    cause: 'unexplained',
    answer: stop.processSurvived ? 'It survives the stop.' : 'It is gone after the stop.',
    explanation: 'This outcome does not match the PID namespace rule for where the sleep was; check the evidence by hand.',
  };
}
