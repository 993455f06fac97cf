import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { RootShellHost, type HttpAnswer, type TargetDescription } from '../../src/lab/host.js';
import { ShellSession, type ShellStreams } from '../../src/remote/shell-session.js';
import type { CommandResult } from '../../src/remote/ssh.js';

/** This machine's real sh plays the host's: the session writes to its stdin and reads its output. */
function localShell(): { session: ShellSession; child: ChildProcessWithoutNullStreams } {
  const child = spawn('sh', [], { stdio: ['pipe', 'pipe', 'pipe'] });
  return { session: new ShellSession(child, 'sh (test)'), child };
}

describe('ShellSession', () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  afterEach(() => child?.kill('SIGKILL'));

  it('gives each command its own stdout, stderr and exit status, in order, in one shell', async () => {
    const shell = localShell();
    child = shell.child;
    const { session } = shell;
    assert.deepEqual(await session.run(['sh', '-c', 'echo out; echo err >&2; exit 3']), {
      exitCode: 3,
      stdout: 'out\n',
      stderr: 'err\n',
    });
    assert.deepEqual(await session.run(['printf', 'a\\0b']), { exitCode: 0, stdout: 'a\0b', stderr: '' });
    assert.deepEqual(await session.run(['true']), { exitCode: 0, stdout: '', stderr: '' });
    assert.equal((await session.run(['cat', '/nonexistent/file'])).exitCode, 1);
    // One process ran them all: the shell's PID is every command's parent's.
    const parent = await session.run(['sh', '-c', 'echo $PPID']);
    assert.equal(parent.stdout.trim(), String(child.pid));
  });

  it("a command that reads stdin gets nothing, so it cannot swallow the next command's text", async () => {
    const shell = localShell();
    child = shell.child;
    assert.deepEqual(await shell.session.run(['cat']), { exitCode: 0, stdout: '', stderr: '' });
    assert.equal((await shell.session.run(['echo', 'next'])).stdout, 'next\n');
  });

  it('is busy while a command runs; a second one is refused, not queued behind it', async () => {
    const shell = localShell();
    child = shell.child;
    const first = shell.session.run(['sleep', '0.3']);
    assert.equal(shell.session.idle, false);
    await assert.rejects(shell.session.run(['true']), /busy/);
    assert.equal((await first).exitCode, 0);
    assert.equal(shell.session.idle, true);
  });

  it('finds the markers however the output is cut into chunks, and whichever stream ends first', async () => {
    const [stdin, stdout, stderr] = [new PassThrough(), new PassThrough(), new PassThrough()];
    const session = new ShellSession({ stdin, stdout, stderr }, 'streams (test)');
    const result = session.run(['echo', 'x']);
    const marker = /--labvm-[0-9a-f-]+--/.exec(String(stdin.read()))?.[0];
    assert.ok(marker, 'the command line carries its marker');
    stderr.write(`warn\n\n${marker}\n`);
    const out = `line one\nline two\n\n${marker} 7\n`;
    for (let at = 0; at < out.length; at += 3) {
      stdout.write(out.slice(at, at + 3));
      await new Promise(setImmediate);
    }
    assert.deepEqual(await result, { exitCode: 7, stdout: 'line one\nline two\n', stderr: 'warn\n' });
  });

  it('keeps a large output whole', async () => {
    const shell = localShell();
    child = shell.child;
    const result = await shell.session.run(['sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" a']);
    assert.equal(result.stdout.length, 3_000_000);
    assert.match(result.stdout, /^a+$/);
  });

  it('a shell that ends fails the running command and takes no more', async () => {
    const shell = localShell();
    child = shell.child;
    const running = shell.session.run(['sleep', '30']);
    child.kill('SIGKILL');
    await assert.rejects(running, /the root shell \(sh \(test\)\) ended/);
    assert.equal(shell.session.idle, false);
    await assert.rejects(shell.session.run(['true']), /ended/);
  });
});

/** A host whose one-off commands and long-lived shell are both local sh, counting which one ran each command. */
class LocalHost extends RootShellHost {
  readonly target = 'this machine';
  readonly ownRoundTrips: string[][] = [];
  get docker(): Docker {
    throw new Error('not used');
  }
  get builder(): Docker {
    throw new Error('not used');
  }
  describe(): TargetDescription {
    throw new Error('not used');
  }
  checkPrerequisites(): Promise<void> {
    return Promise.resolve();
  }
  prepare(): Promise<void> {
    return Promise.resolve();
  }
  httpGet(): Promise<HttpAnswer> {
    throw new Error('not used');
  }
  close(): Promise<void> {
    this.rootSession?.close();
    return Promise.resolve();
  }
  keep(open: () => Promise<ShellStreams>): Promise<void> {
    return this.keepRootShell('sh (test)', open);
  }
  protected runOneAsRoot(argv: string[]): Promise<CommandResult> {
    this.ownRoundTrips.push(argv);
    return new Promise((resolve) => {
      const one = spawn(argv[0]!, argv.slice(1));
      let stdout = '';
      one.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      one.on('close', (code) => resolve({ exitCode: code, stdout, stderr: '' }));
    });
  }
}

/** This test process's PID as /proc/PID/status gives it, read through the host. */
async function ownPid(host: RootShellHost): Promise<string | undefined> {
  return /^Pid:\s+(\d+)$/m.exec((await host.readProc(process.pid, 'status')) ?? '')?.[1];
}

describe('RootShellHost with a long-lived root shell', () => {
  it('sends root commands to the shell while it is idle, and one issued while it is busy takes its own round trip', async () => {
    const host = new LocalHost();
    const child = spawn('sh', [], { stdio: ['pipe', 'pipe', 'pipe'] });
    await host.keep(() => Promise.resolve(child));
    try {
      assert.equal(await ownPid(host), String(process.pid));
      assert.equal(host.ownRoundTrips.length, 0, 'the idle shell ran it');
      const slow = host.rootShell('sleep 0.3; echo slow', 'a slow command');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(await ownPid(host), String(process.pid));
      assert.deepEqual(
        host.ownRoundTrips,
        [['cat', `/proc/${process.pid}/status`]],
        'the busy shell was not waited for',
      );
      assert.equal(await slow, 'slow\n');
      await host.close();
      assert.equal(await ownPid(host), String(process.pid), 'a closed shell is not used');
      assert.equal(host.ownRoundTrips.length, 2);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a root shell that cannot be opened is no error: each command takes its own round trip', async () => {
    const host = new LocalHost();
    await host.keep(() => Promise.reject(new Error('the engine refused to attach')));
    assert.equal(await ownPid(host), String(process.pid));
    assert.deepEqual(host.ownRoundTrips, [['cat', `/proc/${process.pid}/status`]]);
  });

  it('starts a detached command and finds the program it runs, itself or a child; one that ends is not waited for', async () => {
    const host = new LocalHost();
    const started = [
      await host.startDetached(['sleep', '600'], ['sleep', '600']),
      await host.startDetached(['sh', '-c', 'sleep 600; true'], ['sleep', '600']),
      await host.startDetached(['false'], ['sleep', '600']),
    ];
    try {
      const [itself, forked, failed] = started;
      assert.equal(itself?.programPid, itself?.pid, 'the command itself runs the program (as nsenter -F does)');
      assert.ok(forked?.programPid && forked.programPid !== forked.pid, 'a child runs it (as nsenter does)');
      assert.equal((await host.readProc(forked.programPid, 'cmdline'))?.replaceAll('\0', ' '), 'sleep 600 ');
      assert.equal(failed?.programPid, undefined, 'a command that ended runs nothing');
    } finally {
      for (const { pid, programPid, stderrFile } of started) {
        for (const each of [pid, programPid]) if (each) spawnSync('kill', ['-KILL', String(each)]);
        rmSync(stderrFile, { force: true });
      }
    }
  });
});
