import { LabvmError, errorMessage } from '../core/errors.js';
import type { Styler } from '../core/ansi.js';
import type { UpSummary } from '../commands/up.js';
import type { StatusReport } from '../commands/status.js';
import type { DownResult } from '../commands/down.js';
import type { ExerciseResult } from '../commands/exercise.js';
import { labvmCommand } from '../core/hints.js';

/** Text for people; the commands return plain data and know nothing of this. */

export function upSummary(summary: UpSummary, style: Styler): string {
  const heading = summary.alreadyReady ? `${summary.name} was already ready.` : `${summary.name} is ready.`;
  return [
    style.bold(heading),
    `  name     ${summary.name}`,
    `  address  ${summary.address}`,
    `  release  ${summary.release}`,
    `  docker   ${summary.dockerVersion} (reached over SSH)`,
    `  ssh      ssh -F "${summary.sshConfig}" labvm-${summary.name}`,
    '',
    `Next: ${labvmCommand('exercise', summary.name)}`,
  ].join('\n');
}

export function statusText(report: StatusReport, style: Styler): string {
  const summary = [style.bold(report.says), `next: ${report.next}`];
  if (report.state === 'absent') return summary.join('\n');
  const docker = report.docker.reachable
    ? `${report.docker.version} (reachable over SSH)`
    : report.docker.error ? `not reachable: ${report.docker.error}` : 'not checked';
  return [
    summary[0],
    `  state       ${report.state}${report.managedByLabvm ? '' : ' (not created by labvm)'}`,
    `  address     ${report.ipv4 ?? '-'}`,
    `  release     ${report.release ?? '-'}`,
    `  cloud-init  ${report.cloudInit ?? '-'}`,
    `  docker      ${docker}`,
    `  state dir   ${report.stateDir ?? '-'}`,
    summary[1],
  ].join('\n');
}

export function downText(result: DownResult): string {
  const instance = result.instance === 'deleted' ? `deleted and purged ${result.name}` : `no instance named ${result.name}`;
  return `${instance}; ${result.stateRemoved ? 'removed labvm\'s state for it' : 'no labvm state to remove'}. Nothing of ${result.name} is left.`;
}

export function errorText(error: unknown, style: Styler): string {
  if (!(error instanceof LabvmError)) {
    return `${style.red('labvm: unexpected error:')} ${error instanceof Error && error.stack ? error.stack : errorMessage(error)}\n` +
      'This is a bug in labvm; please report it with the output above.';
  }
  const lines = [`${style.red('labvm:')} ${error.message}`];
  if (error.details) lines.push(...error.details.split('\n').map((line) => style.dim(`  | ${line}`)));
  if (error.hint) lines.push(`  next: ${error.hint}`);
  return lines.join('\n');
}

/**
 * What Ctrl-C leaves behind, said after an interrupt that no command took: only `up` and `down` change a VM, and
 * their hint names the same VM (--name) the interrupted command was working on.
 */
export function interruptedText(command: string | undefined, name: string | undefined, style: Styler): string {
  const head = style.red('labvm: interrupted.');
  if (name === undefined) return head;
  if (command === 'up') {
    return `${head} Run \`${labvmCommand('up', name)}\` to resume, or \`${labvmCommand('down', name)}\` to remove the VM.`;
  }
  if (command === 'down') return `${head} Run \`${labvmCommand('down', name)}\` again to finish removing the VM.`;
  return head;
}

/** After --keep: where the container is and the commands to explore it (question 2 left it stopped). */
export function keptText(kept: NonNullable<ExerciseResult['kept']>): string {
  return [
    `Kept ${kept.container} (stopped) for exploring. Log in with:`,
    `  ${kept.login}`,
    `then: docker start ${kept.container} && docker exec -it ${kept.container} sh`,
  ].join('\n');
}
