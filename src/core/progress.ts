import type { Styler } from './ansi.js';

/** Named phases with elapsed time, so a slow step is visible instead of an opaque hang. */
export interface Progress {
  phase<T>(name: string, work: (update: (detail: string) => void) => Promise<T>, describe?: (result: T) => string): Promise<T>;
  note(message: string): void;
}

/** Writes phase lines to a stream (stderr, so stdout stays clean for results). */
export function streamProgress(write: (line: string) => void, style: Styler, now: () => number = Date.now): Progress {
  return {
    async phase(name, work, describe) {
      const started = now();
      const elapsed = () => `${((now() - started) / 1000).toFixed(1)}s`;
      write(`${style.dim('…')} ${name}`);
      let lastDetail = '';
      try {
        const result = await work((detail) => {
          if (detail !== lastDetail) write(`    ${style.dim(`${(lastDetail = detail)} (${elapsed()})`)}`);
        });
        const description = describe ? ` ${style.dim(`— ${describe(result)}`)}` : '';
        write(`${style.green('✔')} ${name} ${style.dim(elapsed())}${description}`);
        return result;
      } catch (error) {
        write(`${style.red('✖')} ${name} ${style.dim(elapsed())}`);
        throw error;
      }
    },
    note: (message) => write(`  ${message}`),
  };
}
