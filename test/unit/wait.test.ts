import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabvmError } from '../../src/core/errors.js';
import { NotYet, StopRetrying, WaitTimedOut, retry, waitUntil } from '../../src/core/wait.js';

/** An attempt that fails `failures` times (with numbered errors), then returns 'ready'. */
function flaky(failures: number) {
  const calls = { count: 0 };
  const attempt = async () => {
    calls.count++;
    if (calls.count <= failures) throw new Error(`failure ${calls.count}`);
    return 'ready';
  };
  return { calls, attempt };
}

describe('retry', () => {
  it('returns the first success, after as many attempts as it took', async () => {
    const { calls, attempt } = flaky(3);
    assert.equal(await retry(attempt, { timeoutMs: 5_000, intervalMs: 1 }), 'ready');
    assert.equal(calls.count, 4);
  });

  it("throws the time-out error with the last attempt's error as its cause", async () => {
    const { calls, attempt } = flaky(Infinity);
    const error = await retry(attempt, {
      timeoutMs: 60,
      intervalMs: 5,
      timeoutError: (last) =>
        new LabvmError('nginx did not answer.', 'exercise', undefined, undefined, { cause: last }),
    }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof LabvmError);
    assert.equal(error.kind, 'exercise');
    assert.ok(calls.count >= 2, `only ${calls.count} attempt(s)`);
    assert.equal((error.cause as Error).message, `failure ${calls.count}`);
  });

  it('has a default time-out error that keeps the cause too', async () => {
    const error = await retry(() => Promise.reject(new NotYet('no HTTP response')), {
      timeoutMs: 20,
      intervalMs: 5,
    }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof WaitTimedOut);
    assert.equal((error.cause as Error).message, 'no HTTP response');
  });

  it('makes one attempt even with no time left', async () => {
    const { calls, attempt } = flaky(0);
    assert.equal(await retry(attempt, { timeoutMs: 0, intervalMs: 1_000 }), 'ready');
    assert.equal(calls.count, 1);
  });

  it('ends at once with the error inside StopRetrying', async () => {
    let calls = 0;
    const wrongKey = new LabvmError('host key mismatch', 'trust');
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw new StopRetrying(wrongKey);
        },
        { timeoutMs: 5_000, intervalMs: 1 },
      ),
      (e) => e === wrongKey,
    );
    assert.equal(calls, 1);
  });

  it('ends at once on an error retryIf rejects, and retries the ones it accepts', async () => {
    let calls = 0;
    const lost = new Error('connection lost');
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw calls < 3 ? new NotYet() : lost;
        },
        { timeoutMs: 5_000, intervalMs: 1, retryIf: (e) => e instanceof NotYet },
      ),
      (e) => e === lost,
    );
    assert.equal(calls, 3);
  });

  it('retries a TypeError like any other failure (p-retry alone would not)', async () => {
    let calls = 0;
    const result = await retry(
      async () => {
        if (++calls < 3) throw new TypeError('fetch failed');
        return calls;
      },
      { timeoutMs: 5_000, intervalMs: 1 },
    );
    assert.equal(result, 3);
  });

  it('reports each failure to onRetry', async () => {
    const seen: string[] = [];
    await retry(flaky(2).attempt, {
      timeoutMs: 5_000,
      intervalMs: 1,
      onRetry: (e, n) => seen.push(`${n}: ${(e as Error).message}`),
    });
    assert.deepEqual(seen, ['1: failure 1', '2: failure 2']);
  });

  it("stops during a pause when the signal aborts, with the signal's reason", async () => {
    const controller = new AbortController();
    const reason = new Error('interrupted');
    const started = Date.now();
    setTimeout(() => controller.abort(reason), 30);
    await assert.rejects(
      retry(() => Promise.reject(new NotYet()), { timeoutMs: 10_000, intervalMs: 5_000, signal: controller.signal }),
      (e) => e === reason,
    );
    assert.ok(Date.now() - started < 4_000, 'the pause was not cut short');
  });

  it('does not start when the signal has already aborted', async () => {
    let calls = 0;
    await assert.rejects(
      retry(async () => ++calls, { timeoutMs: 1_000, intervalMs: 1, signal: AbortSignal.abort(new Error('gone')) }),
      /gone/,
    );
    assert.equal(calls, 0);
  });

  it('grows the pause by factor up to maxIntervalMs', async () => {
    const at: number[] = [];
    await retry(
      async () => {
        at.push(Date.now());
        if (at.length < 4) throw new NotYet();
      },
      { timeoutMs: 5_000, intervalMs: 40, factor: 2, maxIntervalMs: 100 },
    );
    const pauses = at.slice(1).map((time, i) => time - at[i]!);
    // 40, 80, then 100 (capped, not 160); timers may fire late but never early.
    assert.ok(pauses[0]! >= 38 && pauses[1]! >= 78 && pauses[2]! >= 98, pauses.join(', '));
    assert.ok(pauses[2]! < 160, `the third pause was not capped: ${pauses.join(', ')}`);
  });
});

describe('waitUntil', () => {
  it('is true as soon as the check is', async () => {
    let calls = 0;
    assert.equal(await waitUntil(async () => ++calls === 3, { timeoutMs: 5_000, intervalMs: 1 }), true);
    assert.equal(calls, 3);
  });

  it('is false when the time is up', async () => {
    assert.equal(await waitUntil(async () => false, { timeoutMs: 30, intervalMs: 5 }), false);
  });

  it("passes on the check's own error at once", async () => {
    let calls = 0;
    await assert.rejects(
      waitUntil(
        async () => {
          calls++;
          throw new Error('ssh channel refused');
        },
        { timeoutMs: 5_000, intervalMs: 1 },
      ),
      /ssh channel refused/,
    );
    assert.equal(calls, 1);
  });
});
