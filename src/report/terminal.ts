/** The report for a terminal: plain text wrapped to WIDTH columns, ANSI colour only when asked for. */
import { styler, type Styler } from '../core/ansi.js';
import { equivalentCommands } from './commands.js';
import type { ExerciseReport } from './model.js';
import {
  SHORT_TITLES, UNEXPLAINED, runLine, answerKind, causeSummary, environmentRows, isUnexplained, processRows, processTableNotes,
  psListing, questionSections, PROCESS_HEADERS, type QuestionSection,
} from './shared.js';

export const WIDTH = 100;

const visibleLength = (text: string): number => text.replace(/\u001b\[\d+m/g, '').length;

/** Greedy word wrap; `first` prefixes the first line, `rest` the following ones. Words longer than a line stay whole. */
export function wrap(text: string, first = '', rest = first, width = WIDTH): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (!empty && visibleLength(line) + 1 + visibleLength(word) > width) {
      lines.push(line);
      line = rest;
      empty = true;
    }
    line += (empty ? '' : ' ') + word;
    empty = false;
  }
  lines.push(line);
  return lines;
}

function table(headers: string[], rows: string[][], s: Styler): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [s.bold(format(headers)), format(widths.map((w) => '-'.repeat(w))), ...rows.map(format)];
}

function header(report: ExerciseReport, s: Styler): string[] {
  const rows = environmentRows(report);
  const pad = Math.max(...rows.map(([k]) => k.length));
  const title = `labvm exercise: sleep 600 in the namespaces of ${report.evidence.container.name}`;
  return [s.bold(title), ...rows.flatMap(([k, v]) => wrap(v, `  ${s.dim(k.padEnd(pad))}  `, ' '.repeat(pad + 4)))];
}

function processes(report: ExerciseReport, s: Styler): string[] {
  const notes = processTableNotes(report.evidence).flatMap((note) => wrap(note).map(s.dim));
  return [s.bold('Processes'), ...table(PROCESS_HEADERS, processRows(report.evidence), s), ...notes];
}

function listing(report: ExerciseReport, s: Styler): string[] {
  const { container, sleep } = report.evidence;
  const lines = psListing(sleep).map(({ text, isSleep }) => (isSleep ? s.yellow(`> ${text}`) : `  ${text}`));
  const note = sleep.psLine ? 'The line marked > is the sleep.' : 'The sleep is not in this listing.';
  return [s.bold(`docker exec ${container.name} ps aux`), ...lines, s.dim(note)];
}

function question({ number, answer }: QuestionSection, s: Styler): string[] {
  const unexplained = isUnexplained(answer);
  const title = `${number}. ${answer.question}`;
  const cause = unexplained ? s.red(s.bold(`${UNEXPLAINED}: labvm cannot name a cause`)) : s.cyan(answer.cause);
  return [
    unexplained ? s.red(s.bold(`${title}  [${UNEXPLAINED}]`)) : s.bold(title),
    ...wrap(answer.answer, `   ${s.bold('Answer:')} `, '           '),
    '   Evidence:',
    ...answer.evidence.flatMap((item) => wrap(item, '     - ', '       ')),
    `   Cause: ${cause}`,
    ...wrap(answer.explanation, '     '),
  ];
}

function controls(report: ExerciseReport, s: Styler): string[] {
  if (report.answers.controls.length === 0) return [];
  const lines = report.answers.controls.flatMap((control) => [
    ...wrap(`${s.bold(control.name)}: ${control.description}`, '  ', '    '),
    ...control.answers.flatMap((a) => wrap(`${SHORT_TITLES[answerKind(a)]}: ${a.answer} [${causeSummary(a)}]`, '    - ', '      ')),
  ]);
  return [s.bold('Controls'), ...lines];
}

function commands(report: ExerciseReport, s: Styler): string[] {
  // Commands are not wrapped, so that each can be copied whole.
  const lines = equivalentCommands(report.evidence).flatMap(({ command, result }) => [
    `  $ ${command}`,
    ...(result ? result.split('\n').flatMap((line) => wrap(line, '    # ', '      ').map(s.dim)) : []),
  ]);
  return [s.bold('The same steps by hand (what labvm did, with this run\'s values)'), ...lines];
}

function footer(report: ExerciseReport, s: Styler): string[] {
  const count = questionSections(report).filter((q) => isUnexplained(q.answer)).length;
  const warning = count ? [s.red(s.bold(`${count} of 3 answers ${UNEXPLAINED}: check their evidence by hand.`))] : [];
  return [...warning, s.dim(runLine(report))];
}

export function renderTerminal(report: ExerciseReport, options: { color: boolean }): string {
  const s = styler(options.color);
  const blocks = [
    header(report, s),
    processes(report, s),
    listing(report, s),
    ...questionSections(report).map((q) => question(q, s)),
    controls(report, s),
    commands(report, s),
    footer(report, s),
  ];
  return `${blocks.filter((b) => b.length).map((b) => b.join('\n')).join('\n\n')}\n`;
}
