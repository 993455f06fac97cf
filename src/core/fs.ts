import { randomBytes } from 'node:crypto';
import { chmod, rename, rm, writeFile } from 'node:fs/promises';
import { LabvmError } from './errors.js';

/** File-system failures are the user's environment, not bugs in labvm: each gets the path and what to do. */

const REASONS: Record<string, { reason: string; fix: (path: string) => string }> = {
  ENOSPC: {
    reason: 'the disk is full',
    fix: (path) => `Free some space on the disk that holds ${path}, then run the command again.`,
  },
  EDQUOT: {
    reason: 'the disk quota is used up',
    fix: (path) => `Free some space on the disk that holds ${path}, then run the command again.`,
  },
  EACCES: {
    reason: 'permission denied',
    fix: (path) => `Make ${path} (and the folders above it) yours and writable, or choose a folder of yours.`,
  },
  EPERM: {
    reason: 'operation not permitted',
    fix: (path) => `Make ${path} (and the folders above it) yours and writable, or choose a folder of yours.`,
  },
  EROFS: {
    reason: 'the file system is read-only',
    fix: (path) => `${path} is on a read-only file system: choose a writable folder.`,
  },
  ENOTDIR: {
    reason: 'part of the path is a file, not a folder',
    fix: (path) =>
      `Something on the way to ${path} is a file where a folder belongs: move it away, or choose another folder.`,
  },
  EISDIR: {
    reason: 'it is a folder, not a file',
    fix: (path) => `${path} is a folder where a file belongs: move it away, or choose another path.`,
  },
  ENOENT: {
    reason: 'a folder on the way does not exist',
    fix: (path) => `Create the folder that holds ${path}, or choose one that exists.`,
  },
  ENAMETOOLONG: { reason: 'the path is too long', fix: () => 'Choose a shorter path.' },
  ELOOP: { reason: 'too many symbolic links', fix: (path) => `Check the symbolic links on the way to ${path}.` },
  EMFILE: {
    reason: 'too many open files',
    fix: () => 'Close other programs (or raise the open-file limit) and run the command again.',
  },
};

export function isFileSystemError(error: unknown): error is NodeJS.ErrnoException & { code: string } {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code in REASONS;
}

/**
 * A LabvmError (exit 3) for a failed file operation: "Cannot write /x/y: the disk is full (ENOSPC)." with a fix;
 * `otherFix` adds a way round it (such as another LABVM_HOME). Anything else is returned unchanged.
 */
export function fileSystemError(error: unknown, what: string, path: string, otherFix?: string): unknown {
  if (!isFileSystemError(error)) return error;
  const { reason, fix } = REASONS[error.code]!;
  const failedPath = error.path ?? path;
  return new LabvmError(
    `Cannot ${what} ${failedPath}: ${reason} (${error.code}).`,
    'prerequisite',
    [fix(failedPath), otherFix].filter(Boolean).join(' '),
    undefined,
    { cause: error },
  );
}

/**
 * Writes through a temporary file and a rename, so a crash never leaves a half-written file; a failed write
 * removes its temporary file (a full disk must not fill up with empty *.tmp files).
 */
export async function writeFileAtomic(
  target: string,
  content: string,
  mode?: { bits: number; enforce: boolean },
): Promise<void> {
  const temporary = `${target}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, content, mode ? { mode: mode.bits } : {});
    if (mode?.enforce) await chmod(temporary, mode.bits); // the umask may have taken bits away from the new file
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}
