import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { streamProgress, type Progress } from '../../src/core/progress.js';
import { styler } from '../../src/core/ansi.js';

const plainStyle = styler(false);
const ansiStyle = styler(true);

const ANSI = /\x1b\[/;

/** A progress writer into an array, with a clock the test moves by hand (milliseconds). */
function recorder(style = plainStyle): { progress: Progress; lines: string[]; advance: (ms: number) => void } {
  const lines: string[] = [];
  let clock = 1_700_000_000_000;
  return { progress: streamProgress((line) => lines.push(line), style, () => clock), lines, advance: (ms) => (clock += ms) };
}

describe('streamProgress', () => {
  it('prints a start line, then a done line with the elapsed seconds and the description', async () => {
    const { progress, lines, advance } = recorder();
    const result = await progress.phase('launching foo', async () => {
      advance(2_500);
      return 'launched';
    }, (outcome) => `outcome: ${outcome}`);
    assert.equal(result, 'launched');
    assert.deepEqual(lines, ['… launching foo', '✔ launching foo 2.5s — outcome: launched']);
  });

  it('prints no description when none is asked for', async () => {
    const { progress, lines, advance } = recorder();
    await progress.phase('preflight', async () => void advance(40));
    assert.deepEqual(lines, ['… preflight', '✔ preflight 0.0s']);
  });

  it('prints details as they change, each with the time so far, and not twice in a row', async () => {
    const { progress, lines, advance } = recorder();
    await progress.phase('VM running', async (update) => {
      advance(1_000);
      update('Starting, no IP address yet');
      advance(1_000);
      update('Starting, no IP address yet');
      advance(1_250);
      update('Running');
      advance(750);
    });
    assert.deepEqual(lines, [
      '… VM running',
      '    Starting, no IP address yet (1.0s)',
      '    Running (3.3s)',
      '✔ VM running 4.0s',
    ]);
  });

  it('prints a ✖ line with the elapsed time when the work throws, and rethrows the same error', async () => {
    const { progress, lines, advance } = recorder();
    const failure = new Error('multipass is gone');
    await assert.rejects(progress.phase('preflight', async () => {
      advance(300);
      throw failure;
    }, () => 'never described'), (error) => error === failure);
    assert.deepEqual(lines, ['… preflight', '✖ preflight 0.3s']);
  });

  it('prints notes indented', () => {
    const { progress, lines } = recorder();
    progress.note('Multipass stopped waiting; labvm follows it.');
    assert.deepEqual(lines, ['  Multipass stopped waiting; labvm follows it.']);
  });

  it('writes no ANSI with plainStyle, and colours with ansiStyle', async () => {
    for (const [style, coloured] of [[plainStyle, false], [ansiStyle, true]] as const) {
      const { progress, lines } = recorder(style);
      await progress.phase('ok phase', async (update) => update('detail'), () => 'described');
      await progress.phase('bad phase', async () => { throw new Error('x'); }).catch(() => undefined);
      progress.note('a note');
      assert.equal(lines.length, 6);
      for (const line of lines) {
        if (!coloured) assert.doesNotMatch(line, ANSI, JSON.stringify(line));
      }
      assert.equal(lines.some((line) => ANSI.test(line)), coloured);
      if (coloured) assert.ok(lines.includes('\x1b[32m✔\x1b[39m ok phase \x1b[2m0.0s\x1b[22m \x1b[2m— described\x1b[22m'), lines.join('\n'));
    }
  });
});

describe('plainStyle', () => {
  it('plainStyle returns text unchanged', () => {
    for (const paint of [plainStyle.green, plainStyle.red, plainStyle.dim, plainStyle.bold]) assert.equal(paint('✔ text'), '✔ text');
  });
});
