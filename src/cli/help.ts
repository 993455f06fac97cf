import type { Command } from 'cac';
import { wrap } from '../core/text.js';

interface HelpSection {
  title?: string;
  body: string;
}

/** A column entry of cac's help ("  --name <name>   Instance name"): the name part and where the text starts. */
const ENTRY = /^(\s+\S.*?\s{2,})(\S.*)$/;

/** Re-wraps an entry's text under its own column, so a narrow terminal never breaks a word. */
function wrapEntries(body: string, width: number): string {
  return body
    .split('\n')
    .flatMap((line) => {
      const entry = ENTRY.exec(line.trimEnd());
      if (!entry) return [line];
      const [, head, text] = entry as unknown as [string, string, string];
      const indent = head.length <= width / 2 ? ' '.repeat(head.length) : '      ';
      return wrap(text, head.length <= width / 2 ? head : `${head.trimEnd()}\n${indent}`, indent, width);
    })
    .join('\n');
}

/**
 * cac's help, with the command's description under the title, entries wrapped to the terminal, examples as
 * commands, and `labvm help <command>` as the way to more detail.
 */
export function formatHelp(
  sections: HelpSection[],
  command: Command | undefined,
  columns: number | undefined,
): HelpSection[] {
  const width = Math.min(100, Math.max(40, columns ?? 100));
  const title =
    command && !command.isGlobalCommand
      ? `labvm ${command.name}: ${command.description}`
      : `${(sections[0]?.body ?? 'labvm').replace('/', ' ')}: a Linux VM with Docker in one command, and the nsenter namespaces exercise run on it`;
  return [
    { body: wrap(title, '', '  ', width).join('\n') },
    ...sections.slice(1).map((section): HelpSection => {
      if (section.title?.startsWith('For more info'))
        return { title: "For one command's options", body: '  $ labvm help <command>' };
      if (section.title === 'Examples')
        return {
          ...section,
          body: section.body
            .split('\n')
            .map((line) => `  $ ${line}`)
            .join('\n'),
        };
      return { ...section, body: wrapEntries(section.body, width) };
    }),
  ];
}

/** Edits between two words, a swap of neighbours counting as one (optimal string alignment). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate a mistyped word most likely meant: a close spelling, or a name it is the start of. */
export function suggestion(word: string, candidates: string[]): string | undefined {
  const typed = word.toLowerCase();
  const scored = candidates
    .map((candidate) => ({
      candidate,
      score: candidate.startsWith(typed) && typed.replace(/^-+/, '').length >= 2 ? 0 : distance(typed, candidate),
    }))
    .filter(({ candidate, score }) => score <= Math.max(1, Math.floor(candidate.replace(/^-+/, '').length / 3)))
    .sort((a, b) => a.score - b.score);
  return scored[0]?.candidate;
}

/** The option cac's "Unknown option `--fooBar`" names, as typed on the command line (--foo-bar). */
export function unknownOptionOf(message: string): string | undefined {
  const name = /^Unknown option `(-{1,2}[^`]+)`/.exec(message)?.[1];
  return name?.replace(/([a-z])([A-Z])/g, (_, a: string, b: string) => `${a}-${b.toLowerCase()}`);
}
