import pRetry, { AbortError } from 'p-retry';

/** labvm's one way to wait for something and to retry: every poll goes through here. */

export interface WaitOptions {
  /** How long to keep trying, from the first attempt. At least one attempt is always made. */
  timeoutMs: number;
  /** Pause after the first failed attempt. */
  intervalMs: number;
  /** Each pause is this many times the previous one (1: a fixed interval). */
  factor?: number;
  /** Upper bound of a pause when it grows. */
  maxIntervalMs?: number;
  /** Spread pauses randomly (×1 to ×2), so that many waiters do not poll in step. */
  randomize?: boolean;
  /** Which failures are worth another attempt (default: all); any other ends the wait with that error. */
  retryIf?: (error: unknown) => boolean;
  /** Stops the wait at once; it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called with each failed attempt's error, for progress. */
  onRetry?: (error: unknown, attemptNumber: number) => void;
  /** The error to throw when the time is up; it receives the last attempt's error, to keep as its `cause`. */
  timeoutError?: (lastError: unknown) => Error;
}

/** Thrown from an attempt to end the wait with `error` at once (a wrong host key is not worth retrying). */
export class StopRetrying extends Error {
  constructor(readonly error: unknown) {
    super('stop retrying', { cause: error });
    this.name = 'StopRetrying';
  }
}

/** The default time-out error; `cause` is the last attempt's error. */
export class WaitTimedOut extends Error {
  constructor(timeoutMs: number, lastError: unknown) {
    super(`gave up after ${timeoutMs} ms`, { cause: lastError });
    this.name = 'WaitTimedOut';
  }
}

/** An attempt that has not succeeded yet, for checks that have no error of their own. */
export class NotYet extends Error {
  constructor(what = 'not yet') {
    super(what);
    this.name = 'NotYet';
  }
}

/**
 * Runs `attempt` until it resolves, pausing between failures, until the time is up (then `timeoutError`, with the
 * last failure as its cause), the signal aborts (its reason), or an attempt throws StopRetrying (its error).
 */
export async function retry<T>(attempt: (attemptNumber: number) => Promise<T>, options: WaitOptions): Promise<T> {
  let lastError: unknown;
  let stopped: { error: unknown } | undefined;
  try {
    return await pRetry(
      async (attemptNumber) => {
        try {
          return await attempt(attemptNumber);
        } catch (error) {
          if (error instanceof StopRetrying || (options.retryIf && !options.retryIf(error))) {
            stopped = { error: error instanceof StopRetrying ? error.error : error };
            throw new AbortError('stopped');
          }
          lastError = error;
          options.onRetry?.(error, attemptNumber);
          throw new AttemptFailed(); // p-retry would not retry a TypeError: every failure here is worth another try
        }
      },
      {
        retries: Infinity,
        maxRetryTime: Math.max(0, options.timeoutMs),
        minTimeout: options.intervalMs,
        factor: options.factor ?? 1,
        maxTimeout: options.maxIntervalMs ?? Infinity,
        randomize: options.randomize ?? false,
        signal: options.signal,
      },
    );
  } catch (error) {
    if (stopped) throw stopped.error;
    if (options.signal?.aborted) throw options.signal.reason;
    if (!(error instanceof AttemptFailed)) throw error;
    throw options.timeoutError?.(lastError) ?? new WaitTimedOut(options.timeoutMs, lastError);
  }
}

class AttemptFailed extends Error {}

/** Polls `check` until it is true (true), or until the time is up (false). Errors from `check` end the wait. */
export async function waitUntil(
  check: () => Promise<boolean>,
  options: Omit<WaitOptions, 'timeoutError' | 'onRetry' | 'retryIf'>,
): Promise<boolean> {
  try {
    await retry(
      async () => {
        if (!(await check())) throw new NotYet();
      },
      { ...options, retryIf: (error) => error instanceof NotYet },
    );
    return true;
  } catch (error) {
    if (error instanceof WaitTimedOut) return false;
    throw error;
  }
}
