/** Content shared by the terminal and Markdown renderers: what to show, in which order, with which words. */
import type { KillAnswer, PidAnswer, StopAnswer } from '../lab/answers.js';
import type { EnvironmentEvidence, Evidence, Method, SleepEvidence } from '../lab/evidence.js';
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

export const SHORT_TITLES: Record<QuestionKey, string> = { pid: 'PID', stopContainer: 'Stop', killFromInside: 'Kill from inside' };

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
  container: 'container (nsenter run from a helper container: --pid=host to see the PID, plus CAP_SYS_ADMIN, which setns needs)',
};

const TARGET_KINDS = { 'vm': 'labvm VM', 'ssh-host': 'Linux host over SSH', 'docker-engine': 'local Docker engine' } as const;

/** The kind of target, its endpoint and the engine's host as Docker describes it ("Docker Desktop, 6.10.14-linuxkit, no AppArmor"). */
function targetRows(env: EnvironmentEvidence): Array<[string, string]> {
  const details = env.targetDetails;
  if (!details) return [];
  const apparmor = env.apparmorEnabled || env.lsms.includes('apparmor') ? 'AppArmor' : 'no AppArmor';
  return [
    ['Target kind', `${TARGET_KINDS[details.kind]} (${details.kind})`],
    ['Endpoint', details.endpointSource ? `${details.endpoint} (from ${details.endpointSource})` : details.endpoint],
    ['Engine host', `${details.operatingSystem || 'unknown OS'}, kernel ${details.kernelVersion || env.kernel}, ${apparmor}`],
  ];
}

/** The native method in this target's words (on a Docker engine it runs from a privileged helper container). */
function methodText(env: EnvironmentEvidence): string {
  return env.method === 'native' && env.targetDetails ? `native (${env.targetDetails.nativeMethod})` : METHODS[env.method] ?? env.method;
}

export function environmentRows(report: ExerciseReport): Array<[string, string]> {
  const { environment: env, container: c } = report.evidence;
  const http = `HTTP ${c.http.status} on port ${c.http.port}${c.http.server ? ` (${c.http.server})` : ''}`;
  return [
    ['Target', env.target],
    ['Kernel', env.kernel],
    ['Docker', env.dockerVersion],
    ['LSM', `${env.lsms.join(', ') || 'none reported'}; AppArmor ${env.apparmorEnabled ? 'enabled' : 'not enabled'}`],
    ['Docker security options', env.dockerSecurityOptions.join(', ') || 'none'],
    ...targetRows(env),
    ['Method', methodText(env)],
    ['Container', `${c.name} (${c.image}, ${c.id.slice(0, 12)}), ${http}`],
    ['Container AppArmor profile', c.appArmorProfile || 'none'],
  ];
}

export const PROCESS_HEADERS = ['PROCESS', 'HOST PID', 'CONTAINER PID', 'NSpid', 'CONTAINER CGROUP?', 'APPARMOR LABEL'];

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');

/** Rows of the process table; cells not observed by the exercise are NOT_COLLECTED rather than guessed. */
export function processRows(evidence: Evidence): string[][] {
  const { container, sleep, stop } = evidence;
  const rows = [
    ['nginx master (init)', String(container.hostPid), initPidInContainer(sleep), NOT_COLLECTED, NOT_COLLECTED, labelText(container.initLabel)],
    ['sleep 600 (nsenter)', String(sleep.hostPid), sleep.containerPid === null ? 'not listed' : String(sleep.containerPid),
      nspidText(sleep.nspid), yesNo(sleep.inContainerCgroup), labelText(sleep.label)],
  ];
  if (stop.hostPid !== sleep.hostPid) {
    rows.push(['sleep 600 (for stop)', String(stop.hostPid), NOT_COLLECTED, nspidText(stop.nspid), yesNo(stop.inContainerCgroup), NOT_COLLECTED]);
  }
  rows.push(['docker exec (kill)', NOT_COLLECTED, NOT_COLLECTED, NOT_COLLECTED, NOT_COLLECTED, labelText(container.execLabel)]);
  return rows;
}

/** The nginx master's PID as the container's `ps aux` listed it (it is the container's init, so normally 1). */
function initPidInContainer(sleep: SleepEvidence): string {
  const master = parsePsAux(sleep.psAux).find((row) => row.command.startsWith('nginx: master'));
  return master ? String(master.pid) : NOT_COLLECTED;
}

/** Footnotes for the process table: what the extra rows are. */
export function processTableNotes(evidence: Evidence): string[] {
  return [
    ...(evidence.stop.hostPid !== evidence.sleep.hostPid ? ['"sleep 600 (for stop)" is the sleep that question 2 was observed on.'] : []),
    '"docker exec (kill)" is any process docker exec starts in the container, such as the kill of question 3.',
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
