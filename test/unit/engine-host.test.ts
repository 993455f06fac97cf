import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { engineIsolation } from '../../src/lab/engine-host.js';
import { runBatch } from '../../src/lab/host.js';
import type { CommandResult } from '../../src/remote/ssh.js';
import { execFile } from 'node:child_process';
import { parseHttpResponse } from '../../src/remote/http-response.js';

describe('engineIsolation', () => {
  it('reads rootless and userns-remapped engines from SecurityOptions', () => {
    assert.equal(engineIsolation(['name=seccomp,profile=builtin', 'name=rootless', 'name=cgroupns']), 'rootless');
    assert.equal(engineIsolation(['name=apparmor', 'name=userns']), 'userns');
    assert.equal(engineIsolation(['name=apparmor', 'name=seccomp,profile=default']), 'rootful');
    assert.equal(engineIsolation([]), 'rootful');
  });
});

describe('parseHttpResponse', () => {
  it('reads a raw response', () => {
    const answer = parseHttpResponse(
      'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\r\n<html>',
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.server, 'nginx/1.22.1');
    assert.equal(answer.body, '<html>');
  });

  it('reads BusyBox wget -S output (indented, on stderr)', () => {
    const answer = parseHttpResponse('  HTTP/1.1 404 Not Found\n  Server: nginx\n  Connection: close\n');
    assert.equal(answer.status, 404);
    assert.equal(answer.headers.server, 'nginx');
  });

  it('no status line is status 0', () => {
    assert.equal(parseHttpResponse('').status, 0);
  });
});

describe('runBatch', () => {
  /** The real sh of this machine runs the batch, as the host's would. */
  const sh = (argv: string[]) =>
    new Promise<CommandResult>((resolve) => {
      execFile(argv[0]!, argv.slice(1), (error, stdout, stderr) =>
        resolve({ exitCode: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });

  it('gives each command its own output and exit code, in one shell', async () => {
    const results = await runBatch(
      [
        ['printf', 'a\\0b'],
        ['sh', '-c', 'echo two; exit 3'],
        ['cat', '/nonexistent/file'],
        ['printf', ''],
      ],
      sh,
    );
    assert.deepEqual(
      results.map((r) => [r.exitCode, r.stdout]),
      [
        [0, 'a\0b'],
        [3, 'two\n'],
        [1, ''],
        [0, ''],
      ],
    );
  });

  it('a shell that fails as a whole fails every command', async () => {
    const results = await runBatch([['true'], ['true']], () =>
      Promise.resolve({ exitCode: 126, stdout: '', stderr: 'sudo: a password is required' }),
    );
    assert.deepEqual(
      results.map((r) => [r.exitCode, r.stderr]),
      [
        [126, 'sudo: a password is required'],
        [126, 'sudo: a password is required'],
      ],
    );
  });
});
