import { LabvmError } from './errors.js';

/**
 * Signals: SIGINT (Ctrl-C), SIGTERM (`timeout`, CI runners, IDE stop buttons) and SIGHUP (a closed terminal) take
 * one path. A command that must clean up registers an AbortController and gets the first signal as an abort;
 * without one (or on a second signal) the process exits at once. The exit code is 128 + the signal's number.
 */
export const HANDLED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type HandledSignal = (typeof HANDLED_SIGNALS)[number];

const SIGNAL_NUMBERS: Record<HandledSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

let active: AbortController | undefined;
let received: HandledSignal | undefined;

export function signalExitCode(signal: HandledSignal): number {
  return 128 + SIGNAL_NUMBERS[signal];
}

export function abortOnInterrupt(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  active = controller;
  return { signal: controller.signal, dispose: () => active === controller && (active = undefined) };
}

/** Called by the CLI's signal handlers: true when a command took the signal and will clean up and exit. */
export function deliverInterrupt(signal: HandledSignal): boolean {
  received ??= signal;
  if (!active || active.signal.aborted) return false;
  active.abort(interrupted('the command was stopped'));
  return true;
}

/** The first signal this process received, if any: whatever the command then fails with, the exit code is the signal's. */
export function receivedSignal(): HandledSignal | undefined {
  return received;
}

export function interrupted(what: string): LabvmError {
  return new LabvmError(`Interrupted${received ? ` (${received})` : ''}: ${what}.`, 'interrupted');
}

export interface Bounds<T> {
  /** Rejects with the signal's reason when it aborts (Ctrl-C). */
  signal?: AbortSignal;
  /** Rejects with `onTimeout()` after this long. */
  timeoutMs?: number;
  onTimeout?: () => Error;
  /** Receives a result that arrives after the caller stopped waiting (to close a connection nobody will use). */
  discard?: (late: T) => void;
}

/** Settles with `work`, or rejects as soon as `signal` aborts or the time is up: the caller is never left waiting. */
export function bounded<T>(work: Promise<T>, bounds: Bounds<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      bounds.signal?.removeEventListener('abort', onAbort);
      finish();
    };
    const giveUp = (error: Error) =>
      settle(() => {
        work.then(bounds.discard, () => undefined);
        reject(error);
      });
    const onAbort = () => giveUp(bounds.signal!.reason as Error);
    const timer =
      bounds.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => giveUp(bounds.onTimeout?.() ?? new Error(`no answer within ${bounds.timeoutMs} ms`)),
            bounds.timeoutMs,
          );
    if (bounds.signal?.aborted) return onAbort();
    bounds.signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error instanceof Error ? error : new Error(String(error)))),
    );
  });
}
