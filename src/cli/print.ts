import { LabvmError, causeChain, errorMessage } from '../core/errors.js';
import type { Styler } from '../core/ansi.js';
import type { UpSummary } from '../commands/up.js';
import type { StatusReport } from '../commands/status.js';
import type { DownResult } from '../commands/down.js';
import type { ExerciseResult } from '../commands/exercise.js';
import type { ListEntry } from '../commands/list.js';
import type { PowerResult } from '../commands/power.js';
import type { DoctorReport } from '../commands/doctor.js';
import type { ShownSetting } from '../core/settings.js';
import { isLoopbackProxy } from '../core/network.js';
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
    `  path     SSH ${summary.sshPath}`,
    summary.directSsh
      ? `  ssh      ssh -F "${summary.sshConfig}" labvm-${summary.name}`
      : `  shell    ${labvmCommand('shell', summary.name)}`,
    ...summary.network.map(
      (setting, index) =>
        `  ${index === 0 ? 'network' : '       '}  ${setting.key} ${settingText(setting.value)} (${sourceText(setting)}${
          (setting.key === 'httpProxy' || setting.key === 'httpsProxy') && isLoopbackProxy(String(setting.value))
            ? "; on this computer's loopback, so the VM uses this computer's address on the VM network"
            : ''
        })`,
    ),
    '',
    `Next: ${labvmCommand('exercise', summary.name)}`,
  ].join('\n');
}

export function statusText(report: StatusReport, style: Styler): string {
  const summary = [style.bold(report.says), `next: ${report.next}`];
  if (report.state === 'absent') return summary.join('\n');
  const docker = report.docker.reachable
    ? `${report.docker.version} (reachable over SSH)`
    : report.docker.error
      ? `not reachable: ${report.docker.error}`
      : 'not checked';
  return [
    summary[0],
    `  state       ${report.state}${report.managedByLabvm ? '' : ' (not created by labvm)'}`,
    `  address     ${report.ipv4 ?? '-'}`,
    `  release     ${report.release ?? '-'}`,
    `  cloud-init  ${report.cloudInit ?? '-'}`,
    `  docker      ${docker}`,
    `  ssh path    ${report.sshPath ?? '-'}`,
    `  state dir   ${report.stateDir ?? '-'}`,
    summary[1],
  ].join('\n');
}

export function downText(result: DownResult): string {
  const instance =
    result.instance === 'deleted' ? `deleted and purged ${result.name}` : `no instance named ${result.name}`;
  return `${instance}; ${result.stateRemoved ? "removed labvm's state for it" : 'no labvm state to remove'}. Nothing of ${result.name} is left.`;
}

/** Columns padded to their widest cell; plain spaces, so the table reads the same on any terminal. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '),
    )
    .join('\n');
}

export function listText(entries: ListEntry[], style: Styler): string {
  if (entries.length === 0) return 'No labvm VMs. Create one with `labvm up`.';
  const ready = (entry: ListEntry) => (entry.ready === null ? '-' : entry.ready ? 'yes' : 'no');
  const rows = entries.map((e) => [
    e.name,
    e.state,
    e.ipv4 ?? '-',
    e.release ?? e.image ?? '-',
    String(e.cpus ?? '-'),
    e.memory ?? '-',
    e.disk ?? '-',
    e.createdAt?.slice(0, 16).replace('T', ' ') ?? '-',
    ready(e),
  ]);
  const header = ['NAME', 'STATE', 'ADDRESS', 'RELEASE', 'CPUS', 'MEMORY', 'DISK', 'CREATED (UTC)', 'READY'];
  const [head = '', ...body] = table([header, ...rows]).split('\n');
  const notes = entries
    .filter((e) => e.cleanup)
    .map(
      (e) =>
        `${style.yellow('!')} ${e.name}: ${e.state === 'missing' || e.state === 'Deleted' ? "the VM is gone, only labvm's record is left" : "labvm's record is damaged"}; clean up with \`${e.cleanup}\``,
    );
  return [style.bold(head), ...body, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

export function powerText(results: PowerResult[]): string {
  if (results.length === 0) return 'No labvm VM to stop.';
  return results
    .map((r) => {
      if (r.action === 'stopped') return `${r.name} stopped. Resume it with \`${labvmCommand('start', r.name)}\`.`;
      if (r.action === 'started') return `${r.name} started; address ${r.address}.`;
      return r.address ? `${r.name} was already running; address ${r.address}.` : `${r.name} was already stopped.`;
    })
    .join('\n');
}

export function doctorText(report: DoctorReport, style: Styler): string {
  const mark = { pass: style.green('pass'), warn: style.yellow('warn'), fail: style.red('fail') } as const;
  const width = Math.max(...report.checks.map((check) => check.name.length));
  const lines = report.checks.flatMap((check) => [
    `${mark[check.status]}  ${check.name.padEnd(width)}  ${check.detail}`,
    ...(check.fix ? [`${' '.repeat(6 + width)}${style.dim('fix:')} ${check.fix}`] : []),
  ]);
  lines.push(
    '',
    style.bold('Settings for up and exercise (flag > environment > config file > built-in):'),
    table(
      report.settings.map((s) => [
        `  ${s.key}`,
        settingText(s.value),
        s.source === 'built-in' ? 'built-in' : `${s.source}: ${s.origin}`,
      ]),
    ),
  );
  const failed = report.checks.filter((check) => check.status === 'fail').length;
  const warned = report.checks.filter((check) => check.status === 'warn').length;
  lines.push(
    '',
    failed
      ? style.red(`${failed} check(s) failed; fix them before \`labvm up\`.`)
      : warned
        ? `Ready, with ${warned} warning(s).`
        : style.green('All checks passed.'),
  );
  return lines.join('\n');
}

/** Where a setting came from, in words: "--https-proxy", "this computer's HTTPS_PROXY", "config file PATH". */
function sourceText(setting: ShownSetting): string {
  if (setting.source === 'file') return `config file ${setting.origin}`;
  if (setting.source === 'env' && !setting.origin.startsWith('LABVM_')) return `this computer's ${setting.origin}`;
  if (setting.source === 'built-in') return 'built-in';
  return setting.origin;
}

/** A setting's value in a line of text: a list joined, and "none" for an unset proxy or an empty list. */
function settingText(value: string | string[]): string {
  const text = typeof value === 'string' ? value : value.join(', ');
  return text || 'none';
}

export interface ErrorTextOptions {
  /** Also show the errors underneath (LABVM_DEBUG=1). */
  causes?: boolean;
}

export function errorText(error: unknown, style: Styler, options: ErrorTextOptions = {}): string {
  if (!(error instanceof LabvmError)) {
    return (
      `${style.red('labvm: unexpected error:')} ${error instanceof Error && error.stack ? error.stack : errorMessage(error)}\n` +
      'This is a bug in labvm; please report it with the output above.'
    );
  }
  const lines = [`${style.red('labvm:')} ${error.message}`];
  if (error.details) lines.push(...error.details.split('\n').map((line) => style.dim(`  | ${line}`)));
  if (options.causes) lines.push(...causeLines(error, style));
  if (error.hint) lines.push(`  next: ${error.hint}`);
  return lines.join('\n');
}

/** After `labvm report`: whether the answers stored in the file are those its evidence gives now. */
export function reexplainedText(file: string, writtenBy: string, differences: string[], style: Styler): string {
  if (!differences.length)
    return `The answers stored in ${file} (labvm ${writtenBy}) match those recomputed from its evidence.\n`;
  return (
    [
      style.yellow(
        style.bold(
          `The answers stored in ${file} differ from those its evidence gives (recorded by labvm ${writtenBy}; ` +
            'the file was edited, or an older labvm explained it differently):',
        ),
      ),
      ...differences.map((line) => `  - ${line}`),
      'The report above shows the recomputed answers.',
    ].join('\n') + '\n'
  );
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

/** One dimmed line per error underneath, outermost first. */
export function causeLines(error: unknown, style: Styler): string[] {
  return causeChain(error).map((cause) => {
    const text =
      cause instanceof Error ? `${cause.name === 'Error' ? '' : `${cause.name}: `}${cause.message}` : String(cause);
    return style.dim(`  caused by: ${text}`);
  });
}
