/** Minimal ANSI styling. With `enabled` false every style is the identity, so output stays plain text. */

const CODES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
} as const;

export type Style = keyof typeof CODES;
export type Styler = Record<Style, (text: string) => string>;

export function styler(enabled: boolean): Styler {
  const make =
    ([open, close]: readonly [number, number]) =>
    (text: string) =>
      enabled && text ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return Object.fromEntries(Object.entries(CODES).map(([name, codes]) => [name, make(codes)])) as Styler;
}
