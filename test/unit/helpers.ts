/** Helpers shared by the unit tests (not a test file itself: it only exports). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { LabvmError, type ExitCodeName } from '../../src/core/errors.js';

function checkLabvmError(caught: unknown, kind: ExitCodeName, message?: RegExp): LabvmError {
  assert.ok(
    caught instanceof LabvmError,
    `expected a LabvmError, got ${caught === undefined ? 'no error at all' : caught instanceof Error ? caught.stack : inspect(caught)}`,
  );
  assert.equal(caught.kind, kind, `kind of "${caught.message}"`);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** Calls fn, asserts it throws a LabvmError of that kind (and message), and returns the error for more checks. */
export function expectLabvmError(fn: () => unknown, kind: ExitCodeName, message?: RegExp): LabvmError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  return checkLabvmError(caught, kind, message);
}

/** The same for a promise (or a function returning one). */
export async function expectLabvmRejection(
  work: Promise<unknown> | (() => Promise<unknown>),
  kind: ExitCodeName,
  message?: RegExp,
): Promise<LabvmError> {
  let caught: unknown;
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    caught = error;
  }
  return checkLabvmError(caught, kind, message);
}

/** A fresh temporary folder for fn, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'labvm-unit-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs fn with process.platform reading as `platform`, then puts the real value back. */
export async function withPlatform<T>(platform: NodeJS.Platform, fn: () => T | Promise<T>): Promise<T> {
  const original = Object.getOwnPropertyDescriptor(process, 'platform')!;
  Object.defineProperty(process, 'platform', { ...original, value: platform });
  try {
    return await fn();
  } finally {
    Object.defineProperty(process, 'platform', original);
  }
}

/** Whether a command can be run here (for checks against ssh-keygen or /bin/sh). */
export function hasCommand(command: string, args: string[] = ['--version']): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
