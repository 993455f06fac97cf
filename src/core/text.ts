/** Text layout shared by the help and the terminal report. */

const ANSI = /\u001b\[\d+m/g;

export const visibleLength = (text: string): number => [...text.replace(ANSI, '')].length;

/**
 * Greedy word wrap to `width` columns; `first` prefixes the first line, `rest` the following ones. Lines break only
 * between words: a word longer than a line stays whole on a line of its own.
 */
export function wrap(text: string, first = '', rest = first, width = 100): string[] {
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

/** Width for text meant for people: the terminal's, kept between 60 and 120 columns; 100 when not a terminal. */
export function textWidth(stream: { isTTY?: boolean; columns?: number }): number {
  if (!stream.isTTY || !stream.columns) return 100;
  return Math.min(120, Math.max(60, stream.columns));
}
