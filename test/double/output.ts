// Output helpers: JSON as Multipass prints it, and its spinner (ANSI escapes even off a terminal).

export const out = (text: string) => process.stdout.write(text);

export function printJson(value: unknown) {
  out(`${JSON.stringify(value, null, 4)}\n`);
}

/** Multipass's AnimatedSpinner: `message  ` then `\b<frame>` ticks, and a line clear when stopped. */
export class Spinner {
  private static readonly FRAMES = ['|', '/', '-', '\\'];
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;

  start(message: string) {
    this.stop();
    out(`${message}  `);
    this.timer = setInterval(() => out(`\b${Spinner.FRAMES[this.frame++ % Spinner.FRAMES.length]}`), 100);
    this.timer.unref();
  }

  stop() {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    out('\x1B[2K\x1B[0A\x1B[0E');
  }
}

export function formatBinary(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value}${units[0]}` : `${value.toFixed(1)}${units[unit]}`;
}
