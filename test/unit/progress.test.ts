import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PassThrough } from 'node:stream';
import {
  liveLine,
  progressFor,
  streamProgress,
  terminalProgress,
  type ProgressOutput,
} from '../../src/core/progress.js';
import { styler } from '../../src/core/ansi.js';

const plainStyle = styler(false);
const ansiStyle = styler(true);

const ANSI = /\x1b\[/;

/** A progress writer into an array, with a clock the test moves by hand (milliseconds). */
function recorder(style = plainStyle): { progress: ProgressOutput; lines: string[]; advance: (ms: number) => void } {
  const lines: string[] = [];
  let clock = 1_700_000_000_000;
  return {
    progress: streamProgress(
      (line) => lines.push(line),
      style,
      () => clock,
    ),
    lines,
    advance: (ms) => (clock += ms),
  };
}

// yocto-spinner reads CI from process.env itself: a CI run (CI=true) must not turn the fake terminals plain.
const savedCi = process.env.CI;
before(() => delete process.env.CI);
after(() => {
  if (savedCi !== undefined) process.env.CI = savedCi;
});

describe('streamProgress', () => {
  it('prints a start line, then a done line with the elapsed seconds and the description', async () => {
    const { progress, lines, advance } = recorder();
    const result = await progress.phase(
      'launching foo',
      async () => {
        advance(2_500);
        return 'launched';
      },
      (outcome) => `outcome: ${outcome}`,
    );
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
    await assert.rejects(
      progress.phase(
        'preflight',
        async () => {
          advance(300);
          throw failure;
        },
        () => 'never described',
      ),
      (error) => error === failure,
    );
    assert.deepEqual(lines, ['… preflight', '✖ preflight 0.3s']);
  });

  it('prints notes indented', () => {
    const { progress, lines } = recorder();
    progress.note('Multipass stopped waiting; labvm follows it.');
    assert.deepEqual(lines, ['  Multipass stopped waiting; labvm follows it.']);
  });

  it('writes no ANSI with plainStyle, and colours with ansiStyle', async () => {
    for (const [style, coloured] of [
      [plainStyle, false],
      [ansiStyle, true],
    ] as const) {
      const { progress, lines } = recorder(style);
      await progress.phase(
        'ok phase',
        async (update) => update('detail'),
        () => 'described',
      );
      await progress
        .phase('bad phase', async () => {
          throw new Error('x');
        })
        .catch(() => undefined);
      progress.note('a note');
      assert.equal(lines.length, 6);
      for (const line of lines) {
        if (!coloured) assert.doesNotMatch(line, ANSI, JSON.stringify(line));
      }
      assert.equal(
        lines.some((line) => ANSI.test(line)),
        coloured,
      );
      if (coloured)
        assert.ok(
          lines.includes('\x1b[32m✔\x1b[39m ok phase \x1b[2m0.0s\x1b[22m \x1b[2m— described\x1b[22m'),
          lines.join('\n'),
        );
    }
  });
});

describe('abandon', () => {
  it('ends the phase in progress with its failure mark and the reason, once', async () => {
    const { progress, lines, advance } = recorder();
    let release = () => undefined as void;
    const pending = progress.phase('cloud-init finished', () => new Promise<void>((resolve) => (release = resolve)));
    advance(4_200);
    progress.abandon('interrupted');
    release();
    await pending;
    assert.deepEqual(lines, ['… cloud-init finished', '✖ cloud-init finished 4.2s — interrupted']);
  });

  it('writes nothing when no phase runs', () => {
    const { progress, lines } = recorder();
    progress.abandon('interrupted');
    assert.deepEqual(lines, []);
  });
});

describe('liveLine', () => {
  it('shows the phase, whole seconds and the latest detail', () => {
    assert.equal(
      liveLine('cloud-init finished', 12_900, 'waiting for cloud-init: Setting up docker-ce', 100),
      'cloud-init finished 12s — waiting for cloud-init: Setting up docker-ce',
    );
  });

  it('cuts the line to the terminal width (spinner included), and strips control sequences from the detail', () => {
    const line = liveLine('launching lab', 3_000, `\u001b[2K${'Retrieving image: '.repeat(10)}`, 60);
    assert.equal([...line].length, 57);
    assert.ok(line.endsWith('…'));
    assert.doesNotMatch(line, /\u001b/);
  });
});

/** A stream that looks like a terminal of `columns` columns and records what is written. */
function fakeTerminal(columns = 80): { stream: NodeJS.WriteStream; written: () => string } {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  Object.assign(stream, {
    isTTY: true,
    columns,
    cursorTo: (x: number) => stream.write(`\u001b[${x + 1}G`),
    moveCursor: (_x: number, y: number) => stream.write(`\u001b[${Math.abs(y)}${y < 0 ? 'A' : 'B'}`),
    clearLine: () => stream.write('\u001b[2K'),
  });
  return { stream, written: () => text };
}

/** What stays on screen: each line from its last clear-line on, control sequences removed. */
const onScreen = (written: string) =>
  written
    .split('\n')
    .map((line) =>
      line
        .split('\u001b[2K')
        .pop()!
        .replace(/\u001b\[[0-9;?]*[A-Za-z]/g, ''),
    )
    .filter((line) => line.trim());

describe('terminalProgress (a real terminal is checked by hand in tmux; this checks what is written)', () => {
  it('redraws the phase in place with a spinner and leaves exactly one final line per phase', async () => {
    const { stream, written } = fakeTerminal(80);
    const progress = terminalProgress(stream, plainStyle);
    await progress.phase(
      'VM running with an IP address',
      async (update) => {
        update('Starting, no IP address yet');
        await new Promise((resolve) => setTimeout(resolve, 700));
        update('Running');
      },
      () => '10.0.0.7',
    );
    await progress.phase('SSH reachable', async () => undefined);
    const text = written();
    assert.match(text, /\u001b\[2K/, 'the live line is cleared and redrawn');
    assert.match(text, /VM running with an IP address 0s — Starting, no IP address yet/);
    const finalLines = onScreen(text);
    assert.equal(finalLines.length, 2, text);
    assert.match(finalLines[0]!, /^✔ VM running with an IP address \d+\.\ds — 10\.0\.0\.7$/);
    assert.doesNotMatch(text, /… VM running/, 'no start line that stays behind');
  });

  it('wraps a long final line between words to the terminal width', async () => {
    const { stream, written } = fakeTerminal(60);
    const progress = terminalProgress(stream, plainStyle);
    await progress.phase(
      'running my-nginx-cntr (port 8080 -> 80)',
      async () => undefined,
      () => 'PID 1020 on the host, nginx answered HTTP 200',
    );
    const last = onScreen(written());
    assert.equal(last.length, 2);
    assert.ok(
      last.every((line) => [...line].length <= 60),
      last.join('\n'),
    );
    assert.match(last[1]!, /^ {4}the host, nginx answered HTTP 200$/);
  });
});

describe('progressFor', () => {
  it('writes plain lines with no control characters when the stream is not a terminal', async () => {
    const { stream, written } = fakeTerminal();
    Object.assign(stream, { isTTY: false });
    const progress = progressFor(stream, plainStyle, {});
    await progress.phase('preflight', async (update) => update('asking multipassd'));
    assert.equal(written(), '… preflight\n    asking multipassd (0.0s)\n✔ preflight 0.0s\n');
  });

  it('stays plain on a terminal when CI is set or TERM is dumb', async () => {
    for (const env of [{ CI: 'true' }, { TERM: 'dumb' }]) {
      const { stream, written } = fakeTerminal();
      await progressFor(stream, plainStyle, env).phase('preflight', async () => undefined);
      assert.doesNotMatch(written(), /[\u0000-\u0009\u000b-\u001f]/);
    }
  });
});

describe('plainStyle', () => {
  it('plainStyle returns text unchanged', () => {
    for (const paint of [plainStyle.green, plainStyle.red, plainStyle.dim, plainStyle.bold])
      assert.equal(paint('✔ text'), '✔ text');
  });
});
