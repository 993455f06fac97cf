/** The report for a terminal: plain text wrapped to the terminal's width, ANSI colour only when asked for. */
import { styler, type Styler } from '../core/ansi.js';
import { visibleLength, wrap } from '../core/text.js';
import { parsePsAux } from '../lab/parse.js';
import { equivalentCommands } from './commands.js';
import type { ExerciseReport } from './model.js';
import {
  SHORT_TITLES,
  UNEXPLAINED,
  causeSummary,
  environmentRows,
  isUnexplained,
  processRows,
  processTableNotes,
  psListing,
  questionSections,
  runLine,
  PROCESS_HEADERS,
  type QuestionSection,
} from './shared.js';

/** Wraps text to the report's width: `first` prefixes the first line, `rest` the following ones. */
type Fit = (text: string, first?: string, rest?: string) => string[];

function table(headers: string[], rows: string[][], s: Styler): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [s.bold(format(headers)), format(widths.map((w) => '-'.repeat(w))), ...rows.map(format)];
}

function header(report: ExerciseReport, s: Styler, wrap: Fit): string[] {
  const rows = environmentRows(report);
  const pad = Math.max(...rows.map(([k]) => k.length));
  const title = `labvm exercise: sleep 600 in the namespaces of ${report.evidence.container.name}`;
  return [
    ...wrap(title).map(s.bold),
    ...rows.flatMap(([k, v]) => wrap(v, `  ${s.dim(k.padEnd(pad))}  `, ' '.repeat(pad + 4))),
  ];
}

/** The process table, or on a terminal too narrow for it, one block per process with the same cells. */
function processes(report: ExerciseReport, s: Styler, wrap: Fit, width: number): string[] {
  const notes = processTableNotes(report.evidence).flatMap((note) => wrap(note).map(s.dim));
  const rows = processRows(report.evidence);
  const wide = table(PROCESS_HEADERS, rows, s);
  const fits = wide.every((line) => visibleLength(line) <= width);
  const stacked = rows.flatMap(([process = '', ...cells]) => [
    s.bold(process),
    ...wrap(cells.map((cell, i) => `${PROCESS_HEADERS[i + 1]} ${cell}`).join('; '), '  '),
  ]);
  return [s.bold('Processes'), ...(fits ? wide : stacked), ...notes];
}

/** `ps aux` as listed; where its lines are wider than the terminal, only USER, PID and COMMAND. */
function listing(report: ExerciseReport, s: Styler, width: number): string[] {
  const { container, sleep } = report.evidence;
  const listed = psListing(sleep);
  const fits = listed.every(({ text }) => visibleLength(text) + 2 <= width);
  const rows = fits ? listed : compactPs(listed);
  const lines = rows.map(({ text, isSleep }) => (isSleep ? s.yellow(`> ${text}`) : `  ${text}`));
  const note = sleep.psLine ? 'The line marked > is the sleep.' : 'The sleep is not in this listing.';
  return [s.bold(`docker exec ${container.name} ps aux`), ...lines, s.dim(note)];
}

function compactPs(listed: Array<{ text: string; isSleep: boolean }>): Array<{ text: string; isSleep: boolean }> {
  const rows = parsePsAux(listed.map(({ text }) => text).join('\n'));
  const userWidth = Math.max(4, ...rows.map((row) => row.user.length));
  const pidWidth = Math.max(3, ...rows.map((row) => String(row.pid).length));
  const format = (user: string, pid: string, command: string) =>
    `${user.padEnd(userWidth)}  ${pid.padStart(pidWidth)}  ${command}`;
  return [
    { text: format('USER', 'PID', 'COMMAND'), isSleep: false },
    ...rows.map((row) => ({
      text: format(row.user, String(row.pid), row.command),
      isSleep: listed.some((l) => l.isSleep && l.text === row.line),
    })),
  ];
}

function question({ number, answer }: QuestionSection, s: Styler, wrap: Fit): string[] {
  const unexplained = isUnexplained(answer);
  const title = `${number}. ${answer.question}`;
  const cause = unexplained ? s.red(s.bold(`${UNEXPLAINED}: labvm cannot name a cause`)) : s.cyan(answer.cause);
  return [
    ...wrap(unexplained ? `${title} [${UNEXPLAINED}]` : title, '', '   ').map((line) =>
      unexplained ? s.red(s.bold(line)) : s.bold(line),
    ),
    ...wrap(answer.answer, `   ${s.bold('Answer:')} `, '           '),
    '   Evidence:',
    ...answer.evidence.flatMap((item) => wrap(item, '     - ', '       ')),
    `   Cause: ${cause}`,
    ...wrap(answer.explanation, '     '),
  ];
}

function controls(report: ExerciseReport, s: Styler, wrap: Fit): string[] {
  if (report.answers.controls.length === 0) return [];
  const lines = report.answers.controls.flatMap((control) => [
    ...wrap(`${s.bold(control.name)}: ${control.description}`, '  ', '    '),
    ...control.answers.flatMap((a) =>
      wrap(`${SHORT_TITLES[a.kind]}: ${a.answer} [${causeSummary(a)}]`, '    - ', '      '),
    ),
  ]);
  return [s.bold('Controls'), ...lines];
}

function commands(report: ExerciseReport, s: Styler, wrap: Fit): string[] {
  const lines = equivalentCommands(report.evidence).flatMap(({ command, result }) => [
    ...wrap(command, '  $ ', '      '),
    ...(result ? result.split('\n').flatMap((line) => wrap(line, '    # ', '      ').map(s.dim)) : []),
  ]);
  return [
    s.bold('The same steps by hand'),
    ...wrap("What labvm did, as commands with this run's values:").map(s.dim),
    ...lines,
  ];
}

function footer(report: ExerciseReport, s: Styler, wrap: Fit): string[] {
  const count = questionSections(report).filter((q) => isUnexplained(q.answer)).length;
  const warning = count ? [s.red(s.bold(`${count} of 3 answers ${UNEXPLAINED}: check their evidence by hand.`))] : [];
  return [...warning, ...wrap(runLine(report)).map(s.dim)];
}

/** `width`: the terminal's columns (see textWidth); 100 by default. */
export function renderTerminal(report: ExerciseReport, options: { color: boolean; width?: number }): string {
  const s = styler(options.color);
  const fit: Fit = (text, first = '', rest = first) => wrap(text, first, rest, options.width ?? 100);
  const blocks = [
    header(report, s, fit),
    processes(report, s, fit, options.width ?? 100),
    listing(report, s, options.width ?? 100),
    ...questionSections(report).map((q) => question(q, s, fit)),
    controls(report, s, fit),
    commands(report, s, fit),
    footer(report, s, fit),
  ];
  return `${blocks
    .filter((b) => b.length)
    .map((b) => b.join('\n'))
    .join('\n\n')}\n`;
}
