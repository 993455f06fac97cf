import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { shellQuote } from '../../src/remote/ssh.js';
import { hasCommand } from './helpers.js';

const noSh = !hasCommand('/bin/sh', ['-c', 'true']) && 'no /bin/sh here';

/** The argv a POSIX shell builds from `printf … <quoted>`: one NUL-terminated item per argument. */
function argvThroughSh(quoted: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${quoted}`], {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent-home' },
  });
  return out.split('\0').slice(0, -1);
}

const TRICKY: Array<string | number> = [
  'plain',
  'with space',
  "it's",
  "''",
  "'",
  '$HOME',
  '${HOME}',
  '$(id -u)',
  '`id`',
  '"double"',
  'back\\slash',
  '\\n',
  'new\nline',
  'tab\there',
  '',
  '*',
  '?',
  '[a]',
  '~',
  '~/x',
  'a;b',
  'a&&b',
  'a|b',
  'a>b',
  '<in',
  '#hash',
  '!bang',
  '{a,b}',
  'x=1',
  '--flag=value with space',
  '-n',
  '-e',
  'café ünïcode',
  '%s',
  ' leading',
  'trailing ',
  42,
  0,
  -1,
  3.5,
];

describe('shellQuote', () => {
  it('leaves words that need no quoting as they are', () => {
    assert.equal(shellQuote(['docker', 'exec', 'c1', 'ps', 'aux']), 'docker exec c1 ps aux');
    assert.equal(
      shellQuote(['cat', '/proc/64/status', 'a@b', 'x=1,y:2', '100%', '+x', '-F']),
      'cat /proc/64/status a@b x=1,y:2 100% +x -F',
    );
  });

  it('puts other arguments in single quotes', () => {
    assert.equal(shellQuote(['echo', 'with space']), "echo 'with space'");
    assert.equal(shellQuote(['echo', '$HOME']), "echo '$HOME'");
    assert.equal(shellQuote(['*']), "'*'");
  });

  it("closes, escapes and reopens for a single quote: it's -> 'it'\\''s'", () => {
    assert.equal(shellQuote(["it's"]), "'it'\\''s'");
  });

  it('quotes the empty string so the argument is not lost', () => {
    assert.equal(shellQuote(['']), "''");
    assert.equal(shellQuote(['a', '', 'b']), "a '' b");
  });

  it('writes numbers as they are', () => {
    assert.equal(shellQuote(['kill', 64]), 'kill 64');
    assert.equal(shellQuote([-1, 3.5]), '-1 3.5');
  });

  it('gives nothing for no arguments', () => {
    assert.equal(shellQuote([]), '');
  });

  it('gives /bin/sh back exactly the arguments, one by one', { skip: noSh }, () => {
    for (const arg of TRICKY) {
      assert.deepEqual(argvThroughSh(shellQuote([arg])), [String(arg)], JSON.stringify(arg));
    }
  });

  it('gives /bin/sh back exactly the arguments, all at once', { skip: noSh }, () => {
    assert.deepEqual(argvThroughSh(shellQuote(TRICKY)), TRICKY.map(String));
  });

  it('runs nothing that an argument contains', { skip: noSh }, () => {
    const out = execFileSync(
      '/bin/sh',
      ['-c', `echo ${shellQuote(['$(echo pwned)', '`echo pwned`', '; echo pwned'])}`],
      { encoding: 'utf8' },
    );
    assert.equal(out, '$(echo pwned) `echo pwned` ; echo pwned\n');
  });
});
