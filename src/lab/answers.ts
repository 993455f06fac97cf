import type {
  ContainerEvidence,
  EnvironmentEvidence,
  Evidence,
  KillEvidence,
  SleepEvidence,
  StopEvidence,
} from './evidence.js';

/**
 * Turns evidence into answers. Pure: the same evidence always gives the same answers, and every answer
 * names the observations it rests on. An observation that fits no known cause is reported as unexplained.
 */

export type PidCause = 'nested-pid-namespace' | 'same-pid-namespace' | 'outside-pid-namespace' | 'unexplained';
export type KillCause =
  'apparmor' | 'selinux' | 'user-namespace' | 'no-lsm' | 'unconfined-sender' | 'same-profile' | 'unexplained';
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
    stopContainer: answerStop(evidence.stop, evidence.container),
    controls: evidence.controls.map((control) => ({
      name: control.name,
      description: control.description,
      answers: [
        answerPid(control.sleep),
        ...(control.kill ? [answerKill(control.kill, control.sleep, control.container, evidence.environment)] : []),
        ...(control.stop ? [answerStop(control.stop, control.container)] : []),
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
  const base = {
    kind: 'pid' as const,
    question: QUESTIONS.pid,
    host: hostPid,
    container: containerPid,
    nspid,
    same: containerPid === hostPid,
    evidence,
  };

  if (
    sameNamespace &&
    nspid.length >= 2 &&
    nspid[0] === hostPid &&
    containerPid !== null &&
    innermost === containerPid
  ) {
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
      explanation: "The container shares the host's PID namespace, so there is only one PID namespace and one number.",
    };
  }
  if (!sameNamespace && containerPid === null && nspid.length >= 1 && nspid[0] === hostPid) {
    return {
      ...base,
      cause: 'outside-pid-namespace',
      answer: `The question does not apply: PID ${hostPid} is not inside the container's PID namespace, so the container cannot see it.`,
      explanation:
        'setns(CLONE_NEWPID) does not move the caller into the PID namespace: only children it creates afterwards are born ' +
        "there. Without a fork (nsenter -F) the sleep is that caller, so it stays in the host's PID namespace: it shares " +
        'the other namespaces but not the PIDs.',
    };
  }
  return {
    ...base,
    cause: 'unexplained',
    answer: `Observed PID ${hostPid} on the host and ${containerPid ?? 'no PID'} inside the container; labvm cannot explain this combination.`,
    explanation:
      'The observations do not match nested PID namespaces, a shared PID namespace, or a process outside the namespace. Check the evidence by hand.',
  };
}

/** Security modules that can refuse a signal between processes (SELinux and Smack as well as AppArmor). */
const SIGNAL_MEDIATING_LSMS = ['apparmor', 'selinux', 'smack'];
/** Listed modules that refuse signals only for processes that a sandbox (landlock) or a loaded BPF program targets. */
const OPT_IN_LSMS = ['landlock', 'bpf'];
/** Major LSMs: the one listed first of these owns /proc/<pid>/attr/current. */
const MAJOR_LSMS = ['selinux', 'smack', 'tomoyo', 'apparmor'];
/** uid_map of a process in the initial user namespace: the whole UID range mapped onto itself. */
const IDENTITY_UID_MAP = /^\s*0\s+0\s+4294967295\s*$/;

/** "docker-default (enforce)" -> "docker-default"; null or "" when there is no label. */
export function profileOf(label: string | null | undefined): string | null {
  if (!label) return null;
  return label.replace(/\s*\((enforce|complain|kill|unconfined|prompt)\)\s*$/, '').trim() || null;
}

/** The LSM list was read (saved reports from before `lsmListRead` count a non-empty list as read). */
export function lsmListObserved(environment: EnvironmentEvidence): boolean {
  return environment.lsmListRead ?? environment.lsms.length > 0;
}

export function appArmorActive(environment: EnvironmentEvidence): boolean {
  return environment.apparmorEnabled || environment.lsms.includes('apparmor');
}

/** AppArmor owns /proc/<pid>/attr/current only when it is the first major LSM the kernel lists. */
function appArmorIsMajor(environment: EnvironmentEvidence): boolean {
  return environment.lsms.find((lsm) => MAJOR_LSMS.includes(lsm)) === 'apparmor';
}

/**
 * A process's AppArmor label: /proc/<pid>/attr/apparmor/current when it was read, else attr/current but only when
 * AppArmor is the active major LSM (on SELinux hosts attr/current holds the SELinux context).
 */
export function appArmorLabel(
  own: string | null | undefined,
  current: string | null,
  environment: EnvironmentEvidence,
): string | null {
  if (own) return own;
  return appArmorIsMajor(environment) ? current : null;
}

/** A process's SELinux context: attr/current when SELinux is the active major LSM. */
function selinuxContext(current: string | null, environment: EnvironmentEvidence): string | null {
  return environment.lsms.find((lsm) => MAJOR_LSMS.includes(lsm)) === 'selinux' ? current : null;
}

/** The type field of an SELinux context: system_u:system_r:container_t:s0:c1,c2 -> container_t. */
function selinuxType(context: string | null): string | null {
  return context?.split(':')[2] ?? null;
}

/** The container has a user namespace of its own (rootless Docker or userns-remap), as its init's uid_map or Docker says. */
function userNamespaceSeen(container: ContainerEvidence, environment: EnvironmentEvidence): string | null {
  if (container.uidMap !== undefined && container.uidMap.trim() && !IDENTITY_UID_MAP.test(container.uidMap)) {
    return `the container's init has uid_map "${container.uidMap.trim().replace(/\s+/g, ' ')}"`;
  }
  const option = environment.dockerSecurityOptions.find((o) => /^name=(rootless|userns)\b/.test(o));
  return option ? `Docker reports ${option}` : null;
}

function auditEvidence(kill: KillEvidence): string {
  if (!kill.audit) return 'kernel audit log: not observed';
  if (!kill.audit.read) return `kernel audit log: could not be read (${kill.audit.error ?? 'no reason given'})`;
  if (!kill.audit.lines.length) return 'kernel audit log during the kill: no signal denial logged';
  return `kernel audit log during the kill: ${kill.audit.lines.join(' | ')}`;
}

const auditLine = (kill: KillEvidence, pattern: RegExp): string | undefined =>
  kill.audit?.lines.find((line) => pattern.test(line));
const APPARMOR_SIGNAL_DENIAL = /apparmor="DENIED"[^\n]*operation="signal"/;
const SELINUX_SIGNAL_DENIAL = /avc:\s+denied\s+\{[^}]*\bsignal\b[^}]*\}/;

function logged(line: string | undefined, what: string): string {
  return line
    ? ` The kernel logged the refusal: ${line}`
    : ` labvm found no ${what} audit line for this kill in the kernel log (see the evidence), so the refusal itself was not seen in the log.`;
}

function lsmListText(environment: EnvironmentEvidence): string {
  if (!lsmListObserved(environment)) return 'not observed (/sys/kernel/security/lsm could not be read)';
  return environment.lsms.join(', ') || 'none';
}

export function answerKill(
  kill: KillEvidence,
  sleep: SleepEvidence,
  container: ContainerEvidence,
  environment: EnvironmentEvidence,
): KillAnswer {
  const killed = kill.processGone;
  /** The kill reported success and the process is gone: a failed kill with a vanished process fits no known cause. */
  const succeeded = killed && kill.exitCode === 0;
  const apparmor = appArmorActive(environment);
  const senderLabel = appArmorLabel(container.execAppArmorLabel, container.execLabel, environment);
  const targetLabel = appArmorLabel(sleep.appArmorLabel, sleep.label, environment);
  const sender = profileOf(senderLabel);
  const target = profileOf(targetLabel);
  const senderContext = selinuxContext(container.execLabel, environment);
  const targetContext = selinuxContext(sleep.label, environment);
  const evidence = [
    `\`${kill.command.join(' ')}\` exited ${kill.exitCode}${kill.stderr.trim() ? ` with "${kill.stderr.trim()}"` : ''}`,
    `process ${sleep.hostPid} after the kill: ${killed ? 'gone' : 'still running'}`,
    `Linux security modules: ${lsmListText(environment)}; AppArmor ${apparmor ? 'enabled' : 'not enabled'}`,
    `AppArmor label of a docker exec process (the sender): ${senderLabel ?? 'none observed'}`,
    `AppArmor label of the sleep (the target): ${targetLabel ?? 'none observed'}`,
    ...(senderContext || targetContext
      ? [
          `SELinux context of the sender: ${senderContext ?? 'none'}; of the sleep: ${targetContext ?? 'none'}; mode: ${selinuxMode(environment)}`,
        ]
      : []),
    `Docker security options: ${environment.dockerSecurityOptions.join(', ') || 'none'}`,
    ...(container.uidMap !== undefined
      ? [`uid_map of the container's init: ${container.uidMap.trim().replace(/\s+/g, ' ') || 'empty'}`]
      : []),
    auditEvidence(kill),
  ];
  const base = {
    kind: 'killFromInside' as const,
    question: QUESTIONS.kill,
    killed,
    exitCode: kill.exitCode,
    stderr: kill.stderr.trim(),
    evidence,
  };
  const refused = !killed && kill.exitCode !== 0;
  const eacces = refused && /permission denied/i.test(kill.stderr);
  const eperm = refused && /operation not permitted/i.test(kill.stderr);
  const userNamespace = userNamespaceSeen(container, environment);
  const refusedAnswer = (error: string) => `No: the kill was refused with "${error}" and the process lives on.`;
  const yes = 'Yes: the kill from inside the container ended the process.';

  if (eperm && userNamespace) {
    return {
      ...base,
      cause: 'user-namespace',
      answer: refusedAnswer('Operation not permitted'),
      explanation:
        `The container runs in a user namespace of its own (${userNamespace}): its root is an unprivileged user on the host ` +
        "and has no CAP_KILL over processes owned by the host's root, such as the nsenter'd sleep. The kernel refuses the " +
        'signal with EPERM ("Operation not permitted") in its permission check, before any security module is asked.',
    };
  }
  if (eacces && apparmor && sender && sender !== 'unconfined' && target === 'unconfined') {
    return {
      ...base,
      cause: 'apparmor',
      answer: refusedAnswer('Permission denied'),
      explanation:
        `AppArmor checks a signal against the sender's profile and against the target's. The kill ran under the container's ` +
        `profile "${sender}"; the nsenter'd sleep is "unconfined" (nsenter does not copy the container's AppArmor label). ` +
        `${sender}'s rules let it send signals only to peers of its own profile, so the sender's check failed and the kernel ` +
        'returned EACCES. It is not a capability or UID problem (both are root with CAP_KILL; that would be EPERM, "Operation ' +
        'not permitted"). Docker\'s docker-default template does allow the other direction (`signal (receive) ' +
        'peer=unconfined`), but labvm did not send a kill from the host, so this run does not show it.' +
        logged(auditLine(kill, APPARMOR_SIGNAL_DENIAL), 'AppArmor'),
    };
  }
  const selinuxEnforced =
    environment.selinuxEnforcing === true && environment.dockerSecurityOptions.includes('name=selinux');
  if (
    eacces &&
    selinuxEnforced &&
    senderContext &&
    targetContext &&
    selinuxType(senderContext) !== selinuxType(targetContext)
  ) {
    return {
      ...base,
      cause: 'selinux',
      answer: refusedAnswer('Permission denied'),
      explanation:
        `SELinux is enforcing and Docker labels containers (name=selinux). The kill ran as ${senderContext}; the nsenter'd ` +
        `sleep kept the host's context ${targetContext} (nsenter copies a context only with -Z). The container policy lets ` +
        `the ${selinuxType(senderContext)} domain signal only its own processes, so the kernel returned EACCES.` +
        logged(auditLine(kill, SELINUX_SIGNAL_DENIAL), 'SELinux AVC'),
    };
  }
  const containerUnconfined = [null, 'unconfined'].includes(profileOf(container.appArmorProfile));
  if (succeeded && apparmor && (sender === 'unconfined' || (sender === null && containerUnconfined))) {
    return {
      ...base,
      cause: 'unconfined-sender',
      answer: yes,
      explanation:
        'AppArmor is active, but the process sending the signal is unconfined (the container runs without an AppArmor ' +
        `profile: Docker reports "${container.appArmorProfile || 'none'}"), so there is no sender profile to refuse it; and the target, ` +
        `${target === 'unconfined' ? 'unconfined as well, has no profile to check either' : `"${target ?? 'not observed'}", accepted the signal`}.`,
    };
  }
  if (succeeded && apparmor && sender !== null && sender === target) {
    return {
      ...base,
      cause: 'same-profile',
      answer: yes,
      explanation:
        `AppArmor is active, and both the sender and the sleep run under "${sender}", whose rules let processes of the same ` +
        'profile signal each other.' +
        (environment.method === 'container'
          ? ' The sleep got that label from the helper container that ran nsenter.'
          : ''),
    };
  }
  const listed = environment.lsms.filter((lsm) => OPT_IN_LSMS.includes(lsm));
  const noMediatingModule =
    lsmListObserved(environment) &&
    !apparmor &&
    environment.selinuxEnforcing !== true &&
    !environment.lsms.some((lsm) => SIGNAL_MEDIATING_LSMS.includes(lsm));
  if (succeeded && noMediatingModule) {
    return {
      ...base,
      cause: 'no-lsm',
      answer: yes,
      explanation:
        "The sleep is a member of the container's PID namespace, and both sides are root with CAP_KILL. None of the security " +
        'modules that label containers and mediate signals between them (AppArmor, SELinux, Smack) is active on this host' +
        (listed.length
          ? `; ${listed.join(' and ')} ${listed.length > 1 ? 'are' : 'is'} listed, but ${listed.length > 1 ? 'they refuse' : 'it refuses'} ` +
            'signals only for processes that a sandbox or a loaded BPF program targets, and nothing refused this one.'
          : '.') +
        " On a host where AppArmor confines containers (Ubuntu's default), the kill runs under docker-default while the " +
        "nsenter'd sleep is unconfined, and that kill is refused.",
    };
  }
  return {
    ...base,
    cause: 'unexplained',
    answer: killed
      ? 'Yes: the process is gone after the kill.'
      : `No: the process survived the kill (exit ${kill.exitCode}).`,
    explanation:
      'This combination of result, error message and security labels matches none of the causes labvm knows ' +
      '(AppArmor or SELinux refusing the signal, a user namespace, no module mediating signals, an unconfined sender, ' +
      'a shared profile), or some of the observations they rest on are missing. Check the evidence by hand.',
  };
}

function selinuxMode(environment: EnvironmentEvidence): string {
  if (environment.selinuxEnforcing === undefined) return 'not observed';
  if (environment.selinuxEnforcing === null) return 'no SELinux';
  return environment.selinuxEnforcing ? 'enforcing' : 'permissive';
}

/** The container's init as observed: "nginx", "docker-init", "tini"; or a neutral phrase when its name was not read. */
export function initName(container: ContainerEvidence): string {
  return container.initComm
    ? `${container.initComm} (PID 1 in the container)`
    : 'the process that is PID 1 in the container (its name was not observed)';
}

export function answerStop(stop: StopEvidence, container: ContainerEvidence): StopAnswer {
  const insideNamespace = stop.nspid.length >= 2;
  const evidence = [
    `sleep PID ${stop.hostPid} before the stop, NSpid ${stop.nspid.join(' ') || 'absent'}`,
    `in the container's cgroup (/proc/${stop.hostPid}/cgroup names the container): ${stop.inContainerCgroup ? 'yes' : 'no'}`,
    `docker stop took ${stop.stopSeconds.toFixed(1)} s; the container's init exited with code ${stop.containerExitCode}`,
    `process ${stop.hostPid} after the stop: ${stop.processSurvived ? 'still running' : 'gone'}`,
  ];
  const base = {
    kind: 'stopContainer' as const,
    question: QUESTIONS.stop,
    processSurvived: stop.processSurvived,
    evidence,
  };

  if (!stop.processSurvived && insideNamespace) {
    return {
      ...base,
      cause: 'pid-namespace-init-exit',
      answer: 'It is killed: the sleep ends together with the container.',
      explanation:
        `docker stop sends its stop signal (and SIGKILL after the timeout) only to the container's init, ${initName(container)}` +
        `${container.initComm && container.initComm !== 'nginx' ? ', which passes it on to nginx' : ''}. When the init of a PID namespace ` +
        'exits, the kernel sends SIGKILL to every other process in that namespace, and the sleep is one of them. ' +
        (stop.inContainerCgroup
          ? "The sleep was also in the container's cgroup, but the kill comes from the namespace, not the cgroup."
          : "It is not a cgroup kill: the sleep was never in the container's cgroup."),
    };
  }
  if (stop.processSurvived && stop.nspid.length === 1) {
    return {
      ...base,
      cause: 'outside-pid-namespace',
      answer: 'It survives: the sleep keeps running after the container has stopped.',
      explanation:
        "The sleep never entered the container's PID namespace (nsenter without a fork), so the kernel's kill of that " +
        "namespace's members does not reach it. It keeps the container's other namespaces alive by reference.",
    };
  }
  return {
    ...base,
    cause: 'unexplained',
    answer: stop.processSurvived ? 'It survives the stop.' : 'It is gone after the stop.',
    explanation:
      'This outcome does not match the PID namespace rule for where the sleep was; check the evidence by hand.',
  };
}
