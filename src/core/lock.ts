import { mkdir, open, readFile, rmdir, stat, unlink } from 'node:fs/promises';
import { readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { LabvmError } from './errors.js';
import { fileSystemError } from './fs.js';
import { OTHER_HOME, labvmHome } from './state.js';

/**
 * One labvm command at a time changes an instance: `up`, `exercise`, `down` (and any other command that changes
 * a VM) hold a lock file in $LABVM_HOME/.locks/<name>.lock, created atomically (O_EXCL works on every OS).
 * A second command waits a little, then names the holder. A lock whose process is gone is taken over.
 */

export interface LockHolder {
  pid: number;
  command: string;
  since: string;
  host: string;
}

export interface LockOptions {
  /** How long a second command waits for the holder to finish. */
  waitMs?: number;
  home?: string;
}

/** Long enough for a quick command (status-like `up` on a ready VM) to finish; short enough not to look hung. */
export const LOCK_WAIT_MS = 5_000;
const POLL_MS = 200;
/** A lock file is written right after it is created; an empty or unreadable one this young is being written. */
const WRITING_GRACE_MS = 5_000;

export function lockPath(name: string, home = labvmHome()): string {
  // Instance names cannot start with a dot, so this folder never meets an instance's state folder.
  return join(home, '.locks', `${name}.lock`);
}

export async function withInstanceLock<T>(
  name: string,
  command: string,
  work: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  const release = await acquire(name, command, options);
  try {
    return await work();
  } finally {
    await release();
  }
}

async function acquire(name: string, command: string, options: LockOptions): Promise<() => Promise<void>> {
  const path = lockPath(name, options.home);
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw fileSystemError(error, 'create the folder', join(path, '..'), OTHER_HOME);
  });
  const me: LockHolder = { pid: process.pid, command, since: new Date().toISOString(), host: hostname() };
  const until = Date.now() + (options.waitMs ?? LOCK_WAIT_MS);
  for (;;) {
    if (
      await tryCreate(path, me).catch((error: unknown) => {
        throw fileSystemError(error, 'create the lock file', path, OTHER_HOME);
      })
    ) {
      return releaser(path, me);
    }
    const holder = await readHolder(path);
    if (holder === 'gone') continue;
    if (holder !== 'being-written' && isStale(holder)) {
      await takeOver(path, holder);
      continue;
    }
    if (Date.now() >= until) throw busy(name, path, holder === 'being-written' ? undefined : holder);
    await delay(POLL_MS);
  }
}

async function tryCreate(path: string, me: LockHolder): Promise<boolean> {
  try {
    const file = await open(path, 'wx', 0o600);
    try {
      await file.writeFile(`${JSON.stringify(me)}\n`);
    } finally {
      await file.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    await unlink(path).catch(() => undefined); // created but not written (a full disk): leave no empty lock behind
    throw error;
  }
}

async function readHolder(path: string): Promise<LockHolder | 'gone' | 'being-written'> {
  try {
    const text = await readFile(path, 'utf8');
    const holder = JSON.parse(text) as Partial<LockHolder>;
    if (typeof holder.pid === 'number' && typeof holder.command === 'string') return holder as LockHolder;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
  }
  // Unreadable: being written right now, or left half-written by a crash long ago.
  const age = await stat(path).then(
    (found) => Date.now() - found.mtimeMs,
    () => 0,
  );
  return age < WRITING_GRACE_MS ? 'being-written' : { pid: 0, command: 'unknown', since: '', host: hostname() };
}

/** Only a lock from this machine can be checked; its process is gone when signal 0 finds no such PID. */
function isStale(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return false;
  if (holder.pid <= 0) return true;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Removes a stale lock under a guard folder (mkdir is atomic everywhere), so that two commands that both saw it
 * stale cannot remove each other's fresh lock. A guard left by a crash is itself old and removed.
 */
async function takeOver(path: string, stale: LockHolder): Promise<void> {
  const guard = `${path}.takeover`;
  try {
    await mkdir(guard);
  } catch {
    const age = await stat(guard).then(
      (found) => Date.now() - found.mtimeMs,
      () => 0,
    );
    if (age > WRITING_GRACE_MS) await rmdir(guard).catch(() => undefined);
    await delay(POLL_MS);
    return;
  }
  try {
    const current = await readHolder(path);
    if (typeof current === 'object' && current.pid === stale.pid && current.since === stale.since)
      await unlink(path).catch(() => undefined);
  } finally {
    await rmdir(guard).catch(() => undefined);
  }
}

function releaser(path: string, me: LockHolder): () => Promise<void> {
  const ours = (text: string) => text.includes(`"pid":${me.pid},`) && text.includes(`"since":"${me.since}"`);
  // A second signal ends the process at once (process.exit): the lock goes with it.
  const onExit = () => {
    try {
      if (ours(readFileSync(path, 'utf8'))) unlinkSync(path);
    } catch {
      // already gone
    }
  };
  process.once('exit', onExit);
  return async () => {
    process.off('exit', onExit);
    const text = await readFile(path, 'utf8').catch(() => '');
    if (ours(text)) await unlink(path).catch(() => undefined);
  };
}

function busy(name: string, path: string, holder: LockHolder | undefined): LabvmError {
  const who = holder
    ? `\`labvm ${holder.command}\` (PID ${holder.pid}${holder.host !== hostname() ? ` on ${holder.host}` : ''}, since ${holder.since})`
    : 'another labvm command';
  return new LabvmError(
    `${who} is working on "${name}"; labvm waited and it is still running.`,
    'busy',
    `Wait for it to finish (or stop it), then run this command again. If no labvm command is running, remove ${path}.`,
  );
}
