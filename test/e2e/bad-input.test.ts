import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabvmEnv } from '../support/labvm.js';

/**
 * Every option of every command, driven through the real CLI with values a person (or a script) might pass by
 * mistake: each must be refused with exit 2 and a message with the next step, before anything runs. "Before
 * anything runs" is checked, not assumed: LABVM_MULTIPASS is a program that records any call, and the state
 * folder must stay empty.
 */

const PWNED = join(tmpdir(), `labvm-bad-input-${process.pid}`);
const GENERIC = [
  '',
  '0',
  '-1',
  '1e3',
  '9'.repeat(40),
  'ünïcödé',
  '"quoted\'',
  `$(touch ${PWNED})`,
  '`touch x`',
  'a b',
  '../..',
  '\u202e',
];

describe('bad input: every option of every command is refused before anything runs', { concurrency: false }, () => {
  let scratch: string;
  let lab: LabvmEnv;
  let folder: string;
  let count = 0;
  let rejected = 0;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'labvm-bad-'));
    const recorder = join(scratch, 'multipass');
    // Any call to multipass leaves a trace in the file its run names.
    await writeFile(recorder, '#!/bin/sh\necho "$@" >> "$LABVM_TEST_CALLS"\nexit 1\n', { mode: 0o755 });
    folder = join(scratch, 'a-folder.md');
    await mkdir(folder);
    lab = await LabvmEnv.create({ LABVM_MULTIPASS: recorder, HOME: scratch });
  });
  after(async () => {
    console.log(`bad inputs tried: ${count}, refused with exit 2 before anything ran: ${rejected}`);
    await lab.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  /** One run in a state folder of its own, so that runs can go four at a time and each is checked alone. */
  async function refusedBeforeAnything(args: string[]): Promise<string[]> {
    const home = await mkdtemp(join(scratch, 'home-'));
    const calls = join(home, '..', `${home.split(/[\\/]/).pop()}.calls`);
    try {
      const run = await lab.run(args, { LABVM_HOME: home, LABVM_TEST_CALLS: calls });
      return [
        run.code !== 2 && `exit ${run.code}`,
        !/^labvm: \S.*\n(?:[\s\S]*\n)? {2}next: \S/.test(run.stderr) && 'no message with a next step',
        /unexpected error|\n\s+at \S+ \(|bug in labvm/.test(run.stderr) && 'a stack trace',
        run.stdout !== '' && 'output on stdout',
        existsSync(calls) && 'multipass was called',
        (await readdir(home)).length > 0 && 'LABVM_HOME was written to',
      ]
        .filter((problem): problem is string => !!problem)
        .map((problem) => `${problem}\n${run.stderr}`);
    } finally {
      await rm(home, { recursive: true, force: true });
      await rm(calls, { force: true });
    }
  }

  const host = ['--host', 'ubuntu@192.0.2.1'];
  const rows: Array<{ command: string; option: string; values: () => string[]; base?: string[]; after?: string[] }> = [
    { command: 'up', option: '--name', values: () => [...GENERIC, 'a'.repeat(64), 'a'.repeat(300), folder] },
    { command: 'up', option: '--cpus', values: () => [...GENERIC, '257', '1.5'] },
    { command: 'up', option: '--memory', values: () => [...GENERIC, '100M', '2048G', '9'.repeat(30) + 'G', '1.5'] },
    { command: 'up', option: '--disk', values: () => [...GENERIC, '1G', '99999999G'] },
    {
      command: 'up',
      option: '--image',
      values: () => ['', 'ünïcödé', '"quoted\'', `$(touch ${PWNED})`, 'a b', '24.04;reboot'],
    },
    {
      command: 'up',
      option: '--timeout',
      values: () => GENERIC.filter((value) => value !== '1e3').concat(['3000000', '86401', '1.5']),
    },
    { command: 'status', option: '--name', values: () => [...GENERIC, 'a'.repeat(300)] },
    { command: 'down', option: '--name', values: () => [...GENERIC, 'a'.repeat(300)] },
    { command: 'exercise', option: '--name', values: () => [...GENERIC, 'a'.repeat(300)] },
    { command: 'exercise', option: '--method', values: () => [...GENERIC, 'NATIVE', 'helper'] },
    {
      command: 'exercise',
      option: '--base-image',
      values: () => [
        '',
        '-1',
        'ünïcödé',
        '"quoted\'',
        `$(touch ${PWNED})`,
        'a b',
        'Nginx',
        'nginx:',
        `${'a'.repeat(256)}`,
        folder,
      ],
    },
    {
      command: 'exercise',
      option: '--report',
      values: () => [
        '',
        '0',
        'report.txt',
        folder,
        '/proc/labvm.md',
        join(scratch, 'multipass', 'x.md'),
        `$(touch ${PWNED}).md`.replace('/', '/no-such-folder/'),
      ],
    },
    {
      command: 'exercise',
      option: '--host',
      values: () => [
        ...GENERIC,
        'me@',
        '@host',
        'me@host:0',
        'me@host:99999',
        `me@$(touch ${PWNED})`,
        'me@ho st',
        "me@'host'",
      ],
    },
    {
      command: 'exercise',
      option: '--identity',
      base: host,
      values: () => ['', '0', 'ünïcödé', folder, '/proc/no-key', `$(touch ${PWNED})`],
    },
    { command: 'exercise', option: '--identity', values: () => [join(scratch, 'multipass')] }, // without --host
    { command: 'stop', option: '--name', values: () => [...GENERIC, 'a'.repeat(300)] },
    { command: 'start', option: '--name', values: () => [...GENERIC, 'a'.repeat(300)] },
    {
      command: 'start',
      option: '--timeout',
      values: () => GENERIC.filter((value) => value !== '1e3').concat(['3000000']),
    },
    { command: 'shell', option: '--name', values: () => [...GENERIC, 'a'.repeat(300)] },
    { command: 'exec', option: '--name', after: ['--', 'true'], values: () => [...GENERIC, 'a'.repeat(300)] },
  ];

  for (const row of rows) {
    test(`${row.command} ${row.option}${row.base ? ` (with ${row.base.join(' ')})` : ''}`, async () => {
      const failures: string[] = [];
      const queue = row
        .values()
        .map((value) => [row.command, ...(row.base ?? []), `${row.option}=${value}`, ...(row.after ?? [])]);
      count += queue.length;
      const worker = async () => {
        for (let args = queue.shift(); args; args = queue.shift()) {
          const problems = await refusedBeforeAnything(args);
          if (problems.length)
            failures.push(`labvm ${args.map((arg) => JSON.stringify(arg)).join(' ')}: ${problems.join(', ')}`);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      assert.ok(!existsSync(PWNED), 'no shell ran a value');
      rejected += row.values().length - failures.length;
      assert.deepEqual(failures, []);
    });
  }
});
