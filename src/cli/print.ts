import { LabvmError, errorMessage } from '../core/errors.js';
import type { Styler } from '../core/ansi.js';
import type { UpSummary } from '../commands/up.js';
import type { StatusReport } from '../commands/status.js';
import type { DownResult } from '../commands/down.js';
import { upCommand } from '../core/hints.js';

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
    `Next: labvm exercise${summary.name === 'labvm' ? '' : ` --name ${summary.name}`}`,
  ].join('\n');
}

export function statusText(report: StatusReport, style: Styler): string {
  if (report.state === 'absent') {
    return `${report.name}: no such instance. Create it with \`${upCommand(report.name)}\`.`;
  }
  const docker = report.docker.reachable
    ? `${report.docker.version} (reachable over SSH)`
    : report.docker.error ? `not reachable: ${report.docker.error}` : 'not checked';
  return [
    style.bold(report.name),
    `  state       ${report.state}${report.managedByLabvm ? '' : ' (not created by labvm)'}`,
    `  address     ${report.ipv4 ?? '-'}`,
    `  release     ${report.release ?? '-'}`,
    `  cloud-init  ${report.cloudInit ?? '-'}`,
    `  docker      ${docker}`,
    `  state dir   ${report.stateDir ?? '-'}`,
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

/** After `labvm report`: whether the answers stored in the file are those its evidence gives now. */
export function reexplainedText(file: string, writtenBy: string, differences: string[], style: Styler): string {
  if (!differences.length) return `The answers stored in ${file} (labvm ${writtenBy}) match those recomputed from its evidence.\n`;
  return [
    style.yellow(style.bold(`The answers stored in ${file} differ from those its evidence gives (recorded by labvm ${writtenBy}; ` +
      'the file was edited, or an older labvm explained it differently):')),
    ...differences.map((line) => `  - ${line}`),
    'The report above shows the recomputed answers.',
  ].join('\n') + '\n';
}
