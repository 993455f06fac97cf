import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileSystemError, writeFileAtomic } from '../../src/core/fs.js';
import { bounded, signalExitCode } from '../../src/core/interrupt.js';
import { lockPath, withInstanceLock } from '../../src/core/lock.js';
import { MAX_NAME_LENGTH, validateImageReference, validateInstanceName } from '../../src/core/validate.js';
import { LabvmError } from '../../src/core/errors.js';
import { expectLabvmError, expectLabvmRejection, withTempDir } from './helpers.js';

/** A PID that is certainly not running: a child that has already exited. */
function deadPid(): number {
  return Number(
    spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout,
  );
}

/** A lock file left by a process that has exited, on this machine. */
async function writeStaleLock(home: string): Promise<string> {
  const path = lockPath('vm', home);
  await mkdir(join(home, '.locks'));
  await writeFile(
    path,
    JSON.stringify({ pid: deadPid(), command: 'up', since: '2020-01-01T00:00:00.000Z', host: hostname() }),
  );
  return path;
}

describe('withInstanceLock', () => {
  it('runs the work, and leaves no lock file behind', () =>
    withTempDir(async (home) => {
      let ran = false;
      assert.equal(await withInstanceLock('vm', 'up', async () => ((ran = true), 42), { home }), 42);
      assert.ok(ran);
      assert.deepEqual(await readdir(join(home, '.locks')), []);
    }));

  it('releases the lock when the work fails', () =>
    withTempDir(async (home) => {
      await assert.rejects(
        withInstanceLock('vm', 'up', () => Promise.reject(new Error('boom')), { home }),
        /boom/,
      );
      assert.deepEqual(await readdir(join(home, '.locks')), []);
    }));

  it('a second holder waits, then names the first one (command, PID, since) with exit 8', () =>
    withTempDir(async (home) => {
      await withInstanceLock(
        'vm',
        'exercise',
        async () => {
          const error = await expectLabvmRejection(
            withInstanceLock('vm', 'down', async () => 'never', { home, waitMs: 300 }),
            'busy',
            new RegExp(
              `\`labvm exercise\` \\(PID ${process.pid}, since \\d{4}-\\d\\d-\\d\\dT[^)]+\\) is working on "vm"`,
            ),
          );
          assert.equal(error.exitCode, 8);
          assert.match(error.hint ?? '', /Wait for it to finish.*remove .*vm\.lock/);
        },
        { home },
      );
    }));

  it('a second holder gets the lock once the first is done', () =>
    withTempDir(async (home) => {
      const order: string[] = [];
      const first = withInstanceLock(
        'vm',
        'up',
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          order.push('first');
        },
        { home },
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      await withInstanceLock('vm', 'down', async () => order.push('second'), { home, waitMs: 5_000 });
      await first;
      assert.deepEqual(order, ['first', 'second']);
    }));

  it('other instances are not blocked', () =>
    withTempDir(async (home) => {
      await withInstanceLock('a', 'up', () => withInstanceLock('b', 'up', async () => 'both', { home, waitMs: 0 }), {
        home,
      });
    }));

  it('takes over a lock whose process is gone', () =>
    withTempDir(async (home) => {
      const path = await writeStaleLock(home);
      assert.equal(
        await withInstanceLock(
          'vm',
          'up',
          async () => (JSON.parse(await readFile(path, 'utf8')) as { pid: number }).pid,
          { home, waitMs: 0 },
        ),
        process.pid,
      );
      assert.deepEqual(await readdir(join(home, '.locks')), []);
    }));

  it('two commands that both find a stale lock: exactly one gets it at a time', () =>
    withTempDir(async (home) => {
      await writeStaleLock(home);
      let inside = 0;
      let most = 0;
      const holder = () =>
        withInstanceLock(
          'vm',
          'up',
          async () => {
            most = Math.max(most, ++inside);
            await new Promise((resolve) => setTimeout(resolve, 100));
            inside--;
          },
          { home, waitMs: 5_000 },
        );
      await Promise.all([holder(), holder(), holder()]);
      assert.equal(most, 1);
    }));

  it('does not take over a lock from another machine (its PID cannot be checked here)', () =>
    withTempDir(async (home) => {
      await mkdir(join(home, '.locks'));
      await writeFile(
        lockPath('vm', home),
        JSON.stringify({ pid: Number(deadPid()), command: 'up', since: 'then', host: 'elsewhere.example' }),
      );
      await expectLabvmRejection(
        withInstanceLock('vm', 'down', async () => 'never', { home, waitMs: 0 }),
        'busy',
        /on elsewhere\.example/,
      );
    }));

  it('a LABVM_HOME that is a file is a file-system error naming the path (exit 3), not a bug', () =>
    withTempDir(async (dir) => {
      const home = join(dir, 'home-is-a-file');
      await writeFile(home, '');
      const error = await expectLabvmRejection(
        withInstanceLock('vm', 'up', async () => 'never', { home }),
        'prerequisite',
        /home-is-a-file.*ENOTDIR|ENOTDIR|EEXIST/,
      );
      assert.match(error.message, /home-is-a-file/);
      assert.match(error.hint ?? '', /LABVM_HOME/);
    }));
});

describe('writeFileAtomic and file-system errors', () => {
  it('a failed write removes its temporary file', () =>
    withTempDir(async (dir) => {
      const target = join(dir, 'target');
      await mkdir(join(target, 'occupied'), { recursive: true }); // renaming a file over a non-empty folder fails
      await assert.rejects(writeFileAtomic(target, 'content'));
      assert.deepEqual(await readdir(dir), ['target']);
    }));

  it('names the path, the reason and the fix', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device'), {
      code: 'ENOSPC',
      path: '/home/me/.labvm/vm/x.tmp',
    });
    const error = fileSystemError(
      enospc,
      'write',
      '/home/me/.labvm/vm/x',
      'Or set LABVM_HOME elsewhere.',
    ) as LabvmError;
    assert.ok(error instanceof LabvmError);
    assert.equal(error.exitCode, 3);
    assert.equal(error.message, 'Cannot write /home/me/.labvm/vm/x.tmp: the disk is full (ENOSPC).');
    assert.match(error.hint ?? '', /Free some space.*Or set LABVM_HOME elsewhere\./);
    assert.equal(error.cause, enospc);
    for (const code of ['EACCES', 'EROFS', 'ENOTDIR', 'EISDIR']) {
      const converted = fileSystemError(Object.assign(new Error(code), { code }), 'read', '/p');
      assert.ok(converted instanceof LabvmError, code);
      assert.match(converted.message, new RegExp(`^Cannot read /p: .+ \\(${code}\\)\\.$`));
    }
  });

  it('leaves other errors alone', () => {
    const other = new TypeError('not a file-system error');
    assert.equal(fileSystemError(other, 'write', '/p'), other);
  });
});

describe('bounds checked before anything runs', () => {
  it(`an instance name has at most ${MAX_NAME_LENGTH} characters (a hostname label)`, () => {
    assert.equal(validateInstanceName('a'.repeat(63)), 'a'.repeat(63));
    expectLabvmError(() => validateInstanceName('a'.repeat(64)), 'usage', /64 characters long; at most 63/);
    expectLabvmError(() => validateInstanceName('a'.repeat(300)), 'usage', /300 characters/);
  });

  for (const reference of [
    'nginx',
    'nginx:latest',
    'library/nginx:1.27-alpine',
    'registry.example.com:5000/team/app:v1.2',
    'localhost/x',
    '[::1]:5000/x:y',
    'labvm-test/nginx-base:latest',
    `nginx@sha256:${'a'.repeat(64)}`,
    'a__b/c-d.e',
  ]) {
    it(`accepts the image reference ${reference}`, () =>
      assert.equal(validateImageReference(reference, '--base-image'), reference));
  }
  for (const reference of [
    '',
    'Nginx',
    'nginx latest',
    'nginx:',
    ':tag',
    "nginx'",
    '"nginx"',
    '$(touch x)',
    'nginx;rm',
    'ngïnx',
    'nginx:-tag',
    `nginx:${'t'.repeat(129)}`,
    `${'a'.repeat(256)}`,
    'a//b',
    'nginx@sha256:abc',
    '-nginx',
  ]) {
    it(`rejects the image reference ${JSON.stringify(reference.slice(0, 40))} with exit 2 and the form to use`, () => {
      const error = expectLabvmError(
        () => validateImageReference(reference, '--base-image'),
        'usage',
        /is not a valid image reference/,
      );
      assert.match(error.hint ?? '', /\[registry\/\]name\[:tag\]/);
    });
  }
});

describe('signals and abortable work', () => {
  it('exit codes are 128 + the signal number', () => {
    assert.deepEqual([signalExitCode('SIGHUP'), signalExitCode('SIGINT'), signalExitCode('SIGTERM')], [129, 130, 143]);
  });

  it('rejects at the abort, and hands a late result to discard', async () => {
    const controller = new AbortController();
    let resolveWork!: (value: string) => void;
    const discarded: string[] = [];
    const pending = bounded(new Promise<string>((resolve) => (resolveWork = resolve)), {
      signal: controller.signal,
      discard: (late) => discarded.push(late),
    });
    controller.abort(new Error('stop'));
    await assert.rejects(pending, /stop/);
    resolveWork('connection');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(discarded, ['connection']);
  });

  it('settles with the work when there is no abort', async () => {
    assert.equal(await bounded(Promise.resolve(7), { signal: new AbortController().signal, timeoutMs: 1_000 }), 7);
  });

  it('rejects with onTimeout() when the time is up', async () => {
    await assert.rejects(
      bounded(new Promise(() => undefined), { timeoutMs: 20, onTimeout: () => new Error('too slow') }),
      /too slow/,
    );
  });
});

describe('a command that never settles', () => {
  const script = (body: string) =>
    spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { reportIfUnsettled } from ${JSON.stringify(new URL('../../src/cli/unsettled.js', import.meta.url).href)};
     const settled = reportIfUnsettled(() => { process.stderr.write('unfinished'); process.exitCode = 1; });
     ${body}`,
      ],
      { encoding: 'utf8', timeout: 10_000 },
    );

  it('fails (exit 1, with a message) when Node runs out of work with the command pending', () => {
    const run = script('new Promise(() => undefined);');
    assert.equal(run.status, 1);
    assert.equal(run.stderr, 'unfinished');
  });

  it('stays silent once the command settled', () => {
    const run = script('Promise.resolve().then(settled);');
    assert.equal(run.status, 0);
    assert.equal(run.stderr, '');
  });
});
