import { stripVTControlCharacters } from 'node:util';
import yoctoSpinner, { type Spinner } from 'yocto-spinner';
import type { Styler } from './ansi.js';
import { wrap } from './text.js';

/** Named phases with elapsed time, so a slow step is visible instead of an opaque hang. */
export interface Progress {
  phase<T>(
    name: string,
    work: (update: (detail: string) => void) => Promise<T>,
    describe?: (result: T) => string,
  ): Promise<T>;
  note(message: string): void;
}

/** What the CLI holds: a Progress that can also mark the phase in progress when the process must stop at once. */
export interface ProgressOutput extends Progress {
  /** Ends the current phase, if any, with a failure mark and `reason`; the caller exits next. */
  abandon(reason: string): void;
}

type Clock = () => number;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** The line a finished phase leaves behind, whichever renderer drew it while it ran. */
function finalLine(style: Styler, ok: boolean, name: string, elapsedMs: number, description?: string): string {
  const mark = ok ? style.green('✔') : style.red('✖');
  return `${mark} ${name} ${style.dim(seconds(elapsedMs))}${description ? ` ${style.dim(`— ${description}`)}` : ''}`;
}

/**
 * Runs phases one after another; `render` draws them. Both renderers share this, so they only differ in how a
 * phase in progress is shown.
 */
function phases(
  style: Styler,
  now: Clock,
  render: {
    started(name: string, startedAt: number): void;
    detail(detail: string, elapsedMs: number): void;
    ended(line: string): void;
    note(message: string): void;
  },
): ProgressOutput {
  let current: { name: string; startedAt: number } | undefined;
  const end = (ok: boolean, description?: string) => {
    if (!current) return;
    render.ended(finalLine(style, ok, current.name, now() - current.startedAt, description));
    current = undefined;
  };
  return {
    async phase(name, work, describe) {
      const phase = (current = { name, startedAt: now() });
      render.started(name, phase.startedAt);
      let lastDetail = '';
      try {
        const result = await work((detail) => {
          if (current === phase && detail !== lastDetail) render.detail((lastDetail = detail), now() - phase.startedAt);
        });
        if (current === phase) end(true, describe?.(result));
        return result;
      } catch (error) {
        if (current === phase) end(false);
        throw error;
      }
    },
    note: (message) => render.note(`  ${message}`),
    abandon: (reason) => end(false, reason),
  };
}

/** Plain appended lines, for logs and pipes: a start line, each new detail, then the outcome. */
export function streamProgress(write: (line: string) => void, style: Styler, now: Clock = Date.now): ProgressOutput {
  return phases(style, now, {
    started: (name) => write(`${style.dim('…')} ${name}`),
    detail: (detail, elapsedMs) => write(`    ${style.dim(`${detail} (${seconds(elapsedMs)})`)}`),
    ended: write,
    note: write,
  });
}

/** The in-place line of a phase in progress, cut to the terminal's width (the spinner and a space come first). */
export function liveLine(name: string, elapsedMs: number, detail: string, columns: number): string {
  const text = `${name} ${Math.floor(elapsedMs / 1000)}s${detail ? ` — ${stripVTControlCharacters(detail)}` : ''}`;
  const room = Math.max(10, columns - 3);
  return [...text].length > room ? `${[...text].slice(0, room - 1).join('')}…` : text;
}

/**
 * On a terminal: the phase in progress is one line with a spinner, its elapsed time ticking and its latest detail,
 * redrawn in place (yocto-spinner, which also keeps other output from tearing it); when the phase ends, that line is
 * replaced by the phase's final line.
 */
export function terminalProgress(stream: NodeJS.WriteStream, style: Styler, now: Clock = Date.now): ProgressOutput {
  let spinner: Spinner | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let live = { name: '', startedAt: 0, detail: '' };
  const text = () => liveLine(live.name, now() - live.startedAt, live.detail, stream.columns || 80);
  const draw = () => {
    if (spinner) spinner.text = text();
  };
  return phases(style, now, {
    started(name, startedAt) {
      live = { name, startedAt, detail: '' };
      spinner = yoctoSpinner({ stream, handleSignals: false }).start(text());
      ticker = setInterval(draw, 250);
    },
    detail(detail) {
      live.detail = detail;
      draw();
    },
    ended(line) {
      clearInterval(ticker);
      spinner?.stop();
      spinner = undefined;
      stream.write(`${wrap(line, '', '    ', stream.columns || 80).join('\n')}\n`);
    },
    note: (message) => stream.write(`${message}\n`),
  });
}

/** Live progress on an interactive terminal, plain lines everywhere else (CI, pipes, TERM=dumb). */
export function progressFor(
  stream: NodeJS.WriteStream,
  style: Styler,
  env: NodeJS.ProcessEnv = process.env,
): ProgressOutput {
  const interactive = !!stream.isTTY && env.TERM !== 'dumb' && !('CI' in env);
  return interactive ? terminalProgress(stream, style) : streamProgress((line) => stream.write(`${line}\n`), style);
}
