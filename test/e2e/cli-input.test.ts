import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabvmEnv, type Run } from '../support/labvm.js';

/**
 * Every option of every command, through the real CLI, with values a parser could mistake for something else.
 * Nothing may launch (Multipass is absent), and no input may end in a stack trace or the "bug" message.
 */

const VALUE_OPTIONS: Record<string, string[]> = {
  up: ['--name', '--cpus', '--memory', '--disk', '--image', '--timeout', '--config'],
  status: ['--name'],
  down: ['--name'],
  exercise: ['--name', '--host', '--identity', '--method', '--base-image', '--report'],
  shell: ['--name'],
  exec: ['--name'],
  stop: ['--name'],
  start: ['--name', '--timeout'],
  doctor: ['--cpus', '--memory', '--disk', '--image', '--timeout', '--base-image'],
  help: [],
};
const FLAGS: Record<string, string[]> = {
  up: ['--print-cloud-init'],
  status: ['--json'],
  exercise: ['--json', '--controls', '--keep', '--force'],
  list: ['--json'],
  stop: ['--all'],
  doctor: ['--json'],
};
/**
 * Each option numeric-looking, empty, and repeated with a unicode value then a numeric one (`--opt=` and `--opt v`
 * forms alternate); each flag given a value; each command a stray argument. Three cases per option: every case is
 * a process start.
 */
function cases(): string[][] {
  const all: string[][] = [];
  for (const [command, options] of Object.entries(VALUE_OPTIONS)) {
    all.push([command, '4096']);
    for (const option of options) {
      all.push([command, `${option}=24.10`], [command, option, ''], [command, option, '名前 ü', `${option}=1.50`]);
    }
  }
  for (const [command, flags] of Object.entries(FLAGS)) {
    for (const flag of flags) all.push([command, flag, '5'], [command, `${flag}=0`]);
  }
  return all;
}

function assertNoCrash(args: string[], run: Run): void {
  const shown = `labvm ${args.map((a) => JSON.stringify(a)).join(' ')}\n${run.stderr}`;
  assert.notEqual(run.code, 1, `exit 1 (the bug path): ${shown}`);
  assert.ok(run.code !== null, `killed by ${run.signal}: ${shown}`);
  assert.doesNotMatch(run.stderr, /\n\s+at .+[:(]\d+:\d+\)?\n|unexpected error|bug in labvm|TypeError/, shown);
}

describe('option values through the real CLI', { concurrency: false }, () => {
  let lab: LabvmEnv;
  let absent: NodeJS.ProcessEnv;

  before(async () => {
    lab = await LabvmEnv.create();
    absent = { LABVM_MULTIPASS: join(lab.home, 'no-multipass-here') };
  });
  after(async () => lab.dispose());

  test('no value of any option of any command gives a stack trace', async () => {
    const all = cases();
    for (let i = 0; i < all.length; i += 8) {
      const batch = all.slice(i, i + 8);
      const runs = await Promise.all(batch.map((args) => lab.run(args, absent)));
      batch.forEach((args, j) => assertNoCrash(args, runs[j]!));
    }
  });

  test('a release ending in 0 reaches Multipass as typed (20.10, not 20.1)', async () => {
    const run = await lab.run(['up', '--name', 'typed-image', '--image', '20.10']);
    assert.equal(run.code, 4, run.stderr);
    assert.match(run.stderr, /launching typed-image \(Ubuntu 20\.10,/);
    assert.match(run.stderr, /Unable to find an image matching "20\.10"/);
  });

  const refused: Array<[string[], RegExp]> = [
    [
      ['up', '--memory', '4096'],
      /The memory \(--memory\) size "4096" has no unit\.\n {2}next: Add a unit, e\.g\. 4G or 4096M\./,
    ],
    [['up', '--disk', '20'], /The disk \(--disk\) size "20" has no unit/],
    [['up', '--disk', '1.5'], /The disk \(--disk\) size "1\.5" has no unit/],
    [['up', '--memory', '0'], /The memory \(--memory\) size "0" has no unit/],
    [['up', '--memory', '1073741824'], /The memory \(--memory\) size "1073741824" has no unit/],
    [['doctor', '--memory', '4096'], /The memory \(--memory\) size "4096" has no unit/],
    [['up', '--memory', '0G'], /The memory \(--memory\) size 0G is below the minimum of 512M/],
    [['up', '--cpus', '2.5'], /Invalid cpus \(--cpus\) "2\.5"/],
    [['up', '--timeout', '1e3'], /Invalid timeout \(--timeout\) "1e3"/],
    [['start', '--timeout', '1.5'], /Invalid timeout in seconds "1\.5"/],
    [['up', '--name', '123'], /Invalid instance name "123"/],
    [['up', '--image', ''], /--image needs a value/],
    [['exercise', '--report', '5'], /--report needs a \.md file name, got "5"/],
    [['exercise', '--method', '0'], /Unknown --method "0"/],
    [['status', '--name', '4096'], /Invalid instance name "4096"/],
    [
      ['up', '--nmae', 'x'],
      /Unknown option `--nmae`\. Did you mean `--name`\?\n {2}next: Run `labvm help up` for the options\./,
    ],
    [['exercise', '--base-imag', 'x'], /Unknown option `--base-imag`\. Did you mean `--base-image`\?/],
    [['stauts'], /Unknown command "stauts"\. Did you mean `labvm status`\?/],
    [['help', 'exercize'], /Unknown command "exercize"\. Did you mean `labvm exercise`\?/],
  ];
  for (const [args, message] of refused) {
    test(`labvm ${args.join(' ')}: exit 2 with a clear message`, async () => {
      const run = await lab.run(args, absent);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
    });
  }

  test('an existing --report file is refused without --force, before anything runs', async () => {
    const file = join(lab.home, 'kept.md');
    await writeFile(file, 'mine\n');
    const run = await lab.run(['exercise', '--report', file], absent);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /already exists\.\n {2}next: Add --force to overwrite it/);
    const forced = await lab.run(['exercise', '--report', file, '--force'], absent);
    assert.doesNotMatch(forced.stderr, /already exists/);
    assert.equal(forced.code, 3, 'it goes on to look for Multipass');
  });

  test('labvm help, help <command>, version and --help', async () => {
    const help = await lab.run(['help']);
    assert.equal(help.code, 0);
    for (const command of [
      'up',
      'status',
      'down',
      'exercise',
      'shell',
      'exec',
      'list',
      'stop',
      'start',
      'doctor',
      'help',
      'version',
    ])
      assert.match(help.stdout, new RegExp(`^ {2}${command}\\b`, 'm'));
    assert.match(help.stdout, /labvm help <command>/);
    // `--help` and `-h` alone are answered before parsing: the same text, and the same with another flag after it.
    for (const args of [['--help'], ['-h'], ['--help', '--verbose']]) {
      const same = await lab.run(args);
      assert.equal(same.code, 0);
      assert.equal(same.stdout, help.stdout, `labvm ${args.join(' ')}`);
    }
    const up = await lab.run(['help', 'up']);
    assert.equal(up.code, 0);
    assert.match(up.stdout, /^labvm up: Create \(or resume\) the Ubuntu VM/);
    assert.match(up.stdout, /--memory <size>/);
    assert.equal((await lab.run(['up', '--help'])).stdout, up.stdout);
    const version = await lab.run(['version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^labvm\/\d+\.\d+\.\d+/);
    assert.equal((await lab.run(['--version'])).stdout, version.stdout);
    assert.equal((await lab.run(['-v'])).stdout, version.stdout);
  });

  test('help wraps long option texts between words, under their column', async () => {
    const help = await lab.run(['help', 'exercise']);
    const lines = help.stdout.split('\n');
    assert.ok(
      lines.every((line) => line.length <= 100),
      lines.filter((l) => l.length > 100).join('\n'),
    );
    const method = lines.findIndex((line) => line.includes('--method <method>'));
    const column = lines[method]!.indexOf('How to start');
    assert.match(lines[method + 1]!, new RegExp(`^ {${column}}\\S`), 'the continuation starts under the text');
    assert.ok(help.stdout.replace(/\n\s+/g, ' ').includes('or container (a helper container running nsenter)'));
  });
});
