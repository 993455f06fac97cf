import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { timed } from '../core/debug-log.js';
import { shellQuote, type CommandResult } from './ssh.js';

/** The standard streams of a `sh` running on the host: what is written to `stdin` runs there. */
export interface ShellStreams {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
}

interface Running {
  marker: string;
  resolve: (result: CommandResult) => void;
  reject: (error: Error) => void;
}

/**
 * One long-lived `sh` on the host, fed one command at a time on its stdin. A command then costs a write and a read,
 * where on its own it costs a new SSH channel and a sudo, or a new `docker exec` (a process started through the
 * container runtime, and three API calls). Each command runs in a subshell with stdin from /dev/null, and is followed
 * by a marker line on stdout (with its exit status) and on stderr, which tell where its output ends.
 * A caller that finds the session busy (or ended) runs its command its own way instead (see RootShellHost).
 * A command must not leave a background process writing to the shell's output (labvm's redirect all of theirs):
 * what it wrote later would be read as the next command's.
 */
export class ShellSession {
  private running?: Running;
  private ended?: Error;
  private stdout = '';
  private stderr = '';
  /** How far the buffers were searched for the running command's markers (output can come in many chunks). */
  private searched = { stdout: 0, stderr: 0 };

  constructor(
    private readonly streams: ShellStreams,
    /** How the debug log names the session, e.g. "sudo -n sh". */
    private readonly name: string,
  ) {
    streams.stdout.setEncoding('utf8').on('data', (chunk: string) => ((this.stdout += chunk), this.settle()));
    streams.stderr.setEncoding('utf8').on('data', (chunk: string) => ((this.stderr += chunk), this.settle()));
    const end = (why: string) => () => this.end(new Error(`the root shell (${name}) ended: ${why}`));
    streams.stdout.on('end', end('its output ended')).on('close', end('it closed'));
    streams.stdout.on('error', (error: Error) => end(error.message)());
    streams.stdin.on('error', (error: Error) => end(error.message)());
  }

  /** True when a command can be given to it now. */
  get idle(): boolean {
    return !this.running && !this.ended;
  }

  run(argv: string[]): Promise<CommandResult> {
    const command = shellQuote(argv);
    return timed(
      'remote',
      `$ ${command} (in ${this.name})`,
      () =>
        new Promise<CommandResult>((resolve, reject) => {
          if (!this.idle) return reject(this.ended ?? new Error(`the root shell (${this.name}) is busy`));
          const marker = `--labvm-${randomUUID()}--`;
          this.running = { marker, resolve, reject };
          this.streams.stdin.write(
            `(${command}) </dev/null; printf '\\n${marker} %s\\n' "$?"; printf '\\n${marker}\\n' >&2\n`,
          );
        }),
      (result) => `exit ${result.exitCode}`,
    );
  }

  /** Ends the shell (its stdin closes); a command still running is failed. */
  close(): void {
    this.end(new Error(`the root shell (${this.name}) was closed`));
    this.streams.stdin.end();
  }

  /** Resolves the running command once both of its marker lines have arrived. */
  private settle(): void {
    const running = this.running;
    if (!running) return;
    // Each search starts where the last one ended, less a marker's length (a marker split across chunks).
    const status = new RegExp(`\\n${running.marker} (\\d+)\\n`, 'g');
    status.lastIndex = Math.max(0, this.searched.stdout - running.marker.length - 16);
    const found = status.exec(this.stdout);
    const errorEnd = this.stderr.indexOf(
      `\n${running.marker}\n`,
      Math.max(0, this.searched.stderr - running.marker.length - 2),
    );
    // A marker found stays where the next search starts; otherwise the next one starts past what was searched.
    this.searched = {
      stdout: found?.index ?? this.stdout.length,
      stderr: errorEnd >= 0 ? errorEnd : this.stderr.length,
    };
    if (!found || errorEnd < 0) return;
    const result = {
      exitCode: Number(found[1]),
      stdout: this.stdout.slice(0, found.index),
      stderr: this.stderr.slice(0, errorEnd),
    };
    this.stdout = this.stdout.slice(found.index + found[0].length);
    this.stderr = this.stderr.slice(errorEnd + running.marker.length + 2);
    this.searched = { stdout: 0, stderr: 0 };
    this.running = undefined;
    running.resolve(result);
  }

  private end(error: Error): void {
    this.ended ??= error;
    this.running?.reject(this.ended);
    this.running = undefined;
  }
}
