import { chmod, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from './errors.js';
import { hasPosixModes } from './platform.js';
import { redactSecrets } from './secrets.js';

/**
 * A timestamped record of what one labvm command did: every multipass call with its exit code and duration, the
 * SSH connection's steps, each remote command and Docker API call with its timing. It never holds secrets: only
 * commands, exit codes, fingerprints and timings are recorded (never stdin, keys or user-data), and a proxy's
 * credentials are redacted from every line. Kept in memory
 * and saved at the end into the instance's state folder, so a student can attach it to a bug report.
 */

const lines: string[] = [];
let echo: ((line: string) => void) | undefined;

/** With --verbose, every entry is also written out as it happens. */
export function echoDebugLog(write: (line: string) => void): void {
  echo = write;
}

export function debug(topic: string, message: string): void {
  const line = `${new Date().toISOString()} ${topic.padEnd(9)} ${redactSecrets(message)}`;
  lines.push(line);
  echo?.(line);
}

/** Runs `work` and records what it was, how it ended and how long it took. */
export async function timed<T>(
  topic: string,
  what: string,
  work: () => Promise<T>,
  outcome: (result: T) => string = () => 'ok',
): Promise<T> {
  const started = Date.now();
  try {
    const result = await work();
    debug(topic, `${what} -> ${outcome(result)} (${Date.now() - started} ms)`);
    return result;
  } catch (error) {
    debug(topic, `${what} -> failed: ${errorMessage(error)} (${Date.now() - started} ms)`);
    throw error;
  }
}

const KEEP = 20;

/**
 * Saves the log as `<folder>/logs/<time>-<command>.log` (0600) when `folder` exists; it is never created here,
 * so a command that removed an instance's state leaves nothing behind. Keeps the newest logs only.
 */
export async function saveDebugLog(folder: string, command: string, now = new Date()): Promise<string | undefined> {
  if (
    lines.length === 0 ||
    !(await stat(folder).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  )
    return undefined;
  const dir = join(folder, 'logs');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${now.toISOString().replace(/[-:.]/g, '')}-${command}.log`);
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  if (hasPosixModes()) await chmod(file, 0o600);
  const logs = (await readdir(dir)).filter((entry) => entry.endsWith('.log')).sort();
  await Promise.all(logs.slice(0, Math.max(0, logs.length - KEEP)).map((old) => rm(join(dir, old), { force: true })));
  return file;
}
