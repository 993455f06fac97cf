/** Content shared by the terminal and Markdown renderers: what to show, in which order, with which words. */
import { lsmListObserved, type KillAnswer, type PidAnswer, type StopAnswer } from '../lab/answers.js';
import type { ContainerEvidence, EnvironmentEvidence, Evidence, Method, SleepEvidence } from '../lab/evidence.js';
import { parsePsAux } from '../lab/parse.js';
import type { ExerciseReport } from './model.js';

export type AnyAnswer = PidAnswer | KillAnswer | StopAnswer;
export type QuestionKey = 'pid' | 'stopContainer' | 'killFromInside';

export interface QuestionSection {
  number: number;
  key: QuestionKey;
  answer: AnyAnswer;
}

export const UNEXPLAINED = 'UNEXPLAINED';
export const NOT_COLLECTED = '—';

export const SHORT_TITLES: Record<QuestionKey, string> = {
  pid: 'PID',
  stopContainer: 'Stop',
  killFromInside: 'Kill from inside',
};

export function isUnexplained(answer: { cause: string }): boolean {
  return answer.cause === 'unexplained';
}

/** The exercise's order: 1 PID, 2 stop, 3 kill. */
export function questionSections(report: ExerciseReport): QuestionSection[] {
  const { pid, stopContainer, killFromInside } = report.answers;
  return [
    { number: 1, key: 'pid', answer: pid },
    { number: 2, key: 'stopContainer', answer: stopContainer },
    { number: 3, key: 'killFromInside', answer: killFromInside },
  ];
}

export function labelText(label: string | null): string {
  return label?.trim() || 'none';
}

export function nspidText(nspid: number[]): string {
  return nspid.length ? nspid.join(' ') : 'absent';
}

const METHODS: Record<Method, string> = {
  native: 'native (nsenter run on the host)',
  container:
    'container (nsenter run from a helper container: --pid=host to see the PID, CAP_SYS_ADMIN, which setns needs, ' +
    "and apparmor=unconfined, so that it may open the target's namespaces and its sleep is unconfined as with the native method)",
};

const TARGET_KINDS = {
  vm: 'labvm VM',
  'ssh-host': 'Linux host over SSH',
  'docker-engine': 'local Docker engine',
} as const;

/** The kind of target, its endpoint and the engine's host as Docker describes it ("Docker Desktop, 6.10.14-linuxkit, no AppArmor"). */
function targetRows(env: EnvironmentEvidence): Array<[string, string]> {
  const details = env.targetDetails;
  if (!details) return [];
  const apparmor = env.apparmorEnabled || env.lsms.includes('apparmor') ? 'AppArmor' : 'no AppArmor';
  return [
    ['Target kind', `${TARGET_KINDS[details.kind]} (${details.kind})`],
    ['Endpoint', details.endpointSource ? `${details.endpoint} (from ${details.endpointSource})` : details.endpoint],
    [
      'Engine host',
      `${details.operatingSystem || 'unknown OS'}, kernel ${details.kernelVersion || env.kernel}, ${apparmor}`,
    ],
  ];
}

/** The native method in this target's words (on a Docker engine it runs from a privileged helper container). */
function methodText(env: EnvironmentEvidence): string {
  return env.method === 'native' && env.targetDetails
    ? `native (${env.targetDetails.nativeMethod})`
    : (METHODS[env.method] ?? env.method);
}

export function environmentRows(report: ExerciseReport): Array<[string, string]> {
  const { environment: env, container: c } = report.evidence;
  const http = `HTTP ${c.http.status} on port ${c.http.port}${c.http.server ? ` (${c.http.server})` : ''}`;
  return [
    ['Target', env.target],
    ['Kernel', env.kernel],
    ['Docker', env.dockerVersion],
    [
      'LSM',
      `${lsmListObserved(env) ? env.lsms.join(', ') || 'none' : 'not observed'}; AppArmor ${env.apparmorEnabled ? 'enabled' : 'not enabled'}` +
        (env.selinuxEnforcing === undefined || env.selinuxEnforcing === null
          ? ''
          : `; SELinux ${env.selinuxEnforcing ? 'enforcing' : 'permissive'}`),
    ],
    ['Docker security options', env.dockerSecurityOptions.join(', ') || 'none'],
    ...targetRows(env),
    ['Method', methodText(env)],
    ['Container', `${c.name} (${c.image}, ${c.id.slice(0, 12)}), ${http}`],
    ['Container AppArmor profile', c.appArmorProfile || 'none'],
  ];
}

export const PROCESS_HEADERS = ['PROCESS', 'HOST PID', 'CONTAINER PID', 'NSpid', 'CONTAINER CGROUP?', 'LSM LABEL'];

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');

/** Rows of the process table; cells not observed by the exercise are NOT_COLLECTED rather than guessed. */
export function processRows(evidence: Evidence): string[][] {
  const { container, sleep, stop } = evidence;
  const rows = [
    [
      `${container.initComm ?? 'PID 1'} (init)`,
      String(container.hostPid),
      initPidInContainer(container, sleep),
      NOT_COLLECTED,
      NOT_COLLECTED,
      labelText(container.initLabel),
    ],
    [
      'sleep 600 (nsenter)',
      String(sleep.hostPid),
      sleep.containerPid === null ? 'not listed' : String(sleep.containerPid),
      nspidText(sleep.nspid),
      yesNo(sleep.inContainerCgroup),
      labelText(sleep.label),
    ],
  ];
  if (stop.hostPid !== sleep.hostPid) {
    rows.push([
      'sleep 600 (for stop)',
      String(stop.hostPid),
      NOT_COLLECTED,
      nspidText(stop.nspid),
      yesNo(stop.inContainerCgroup),
      NOT_COLLECTED,
    ]);
  }
  rows.push([
    'docker exec (kill)',
    NOT_COLLECTED,
    NOT_COLLECTED,
    NOT_COLLECTED,
    NOT_COLLECTED,
    labelText(container.execLabel),
  ]);
  return rows;
}

/** The init's PID as the container's `ps aux` listed it: the row whose program is the init's observed name. */
function initPidInContainer(container: ContainerEvidence, sleep: SleepEvidence): string {
  const comm = container.initComm;
  if (!comm) return NOT_COLLECTED;
  const init = parsePsAux(sleep.psAux).find((row) =>
    comm === 'nginx'
      ? row.command.startsWith('nginx: master')
      : (row.command.split(' ')[0] ?? '').split('/').pop() === comm,
  );
  return init ? String(init.pid) : NOT_COLLECTED;
}

/** Footnotes for the process table: what the extra rows are. */
export function processTableNotes(evidence: Evidence): string[] {
  return [
    ...(evidence.stop.hostPid !== evidence.sleep.hostPid
      ? ['"sleep 600 (for stop)" is the sleep that question 2 was observed on.']
      : []),
    '"docker exec (kill)" is any process docker exec starts in the container, such as the kill of question 3.',
    'LSM LABEL is /proc/PID/attr/current: the AppArmor profile on AppArmor hosts, the SELinux context on SELinux hosts.',
    `${NOT_COLLECTED} = not observed by the exercise.`,
  ];
}

/** The `docker exec <c> ps aux` listing, line by line, with the sleep's line flagged. */
export function psListing(sleep: SleepEvidence): Array<{ text: string; isSleep: boolean }> {
  const target = sleep.psLine?.trim();
  return sleep.psAux
    .replace(/\s+$/, '')
    .split('\n')
    .map((text) => ({ text, isSleep: Boolean(target) && text.trim() === target }));
}

export function causeSummary(answer: AnyAnswer): string {
  return isUnexplained(answer) ? UNEXPLAINED : answer.cause;
}

/** An ISO time as the reader's local time with its UTC offset, e.g. "2025-02-14 11:02:11 (UTC+01:00)". */
export function localTime(iso: string, offsetMinutes?: number): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const offset = offsetMinutes ?? -date.getTimezoneOffset();
  const local = new Date(date.getTime() + offset * 60_000).toISOString().replace('T', ' ').slice(0, 19);
  const sign = offset < 0 ? '-' : '+';
  const hours = String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0');
  return `${local} (UTC${sign}${hours}:${String(Math.abs(offset) % 60).padStart(2, '0')})`;
}

/** Who produced the report and when; a re-explained report names both the recording and the recomputing labvm. */
export function runLine(report: ExerciseReport): string {
  const run = `started ${localTime(report.startedAt)}, took ${report.durationSeconds.toFixed(1)} s`;
  return report.recomputedFrom === undefined
    ? `labvm ${report.labvmVersion}, ${run}`
    : `evidence recorded by labvm ${report.recomputedFrom} (${run}); answers recomputed by labvm ${report.labvmVersion}`;
}
