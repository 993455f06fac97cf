import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { multipassDaemonHint, multipassInstallHint } from '../../src/core/platform.js';
import {
  CLIENT_TIMEOUT_EXIT,
  isLaunchTimeout,
  spawnRunner,
  isValidIpv4,
  Multipass,
  MultipassError,
  progressLines,
  type LaunchOptions,
  type RunResult,
  type Runner,
} from '../../src/vm/multipass.js';
import { expectLabvmRejection, withPlatform } from './helpers.js';

// Shapes and messages from shared/reference/multipass-cli.md (Multipass 1.16).

interface Call {
  executable: string;
  args: string[];
  stdin?: string;
  onStdout?: (chunk: string) => void;
  timeoutMs?: number;
}

type Reply = Partial<RunResult> | Error | ((call: Call) => Partial<RunResult>);

/** A Runner that answers each call with the next scripted reply, and records the calls. */
function scripted(...replies: Reply[]): { runner: Runner; calls: Call[] } {
  const calls: Call[] = [];
  const runner: Runner = async (executable, args, stdin, onStdout, timeoutMs) => {
    const call = { executable, args, stdin, onStdout, timeoutMs };
    calls.push(call);
    const reply = replies.shift();
    if (reply === undefined) throw new Error(`unexpected extra multipass call: ${args.join(' ')}`);
    if (reply instanceof Error) throw reply;
    const result = typeof reply === 'function' ? reply(call) : reply;
    return { exitCode: 0, stdout: '', stderr: '', ...result };
  };
  return { runner, calls };
}

function multipassWith(...replies: Reply[]): { multipass: Multipass; calls: Call[] } {
  const { runner, calls } = scripted(...replies);
  return { multipass: new Multipass('/opt/multipass/bin/multipass', runner), calls };
}

const missing = (command: string, name = 'foo'): Partial<RunResult> => ({
  exitCode: 2,
  stderr: `${command} failed: The following errors occurred:\ninstance "${name}" does not exist\n`,
});
const socketDown = (command: string): Partial<RunResult> => ({
  exitCode: 2,
  stderr: `${command} failed: cannot connect to the multipass socket\n`,
});
const enoent = () =>
  Object.assign(new Error('spawn multipass ENOENT'), { code: 'ENOENT', errno: -2, syscall: 'spawn multipass' });

/** `info foo --format json` as 1.16 prints it for a Running instance (keys sorted, counts as strings). */
const RUNNING_INFO = `{
    "errors": [
    ],
    "info": {
        "foo": {
            "cpu_count": "1",
            "disks": {
                "sda1": {
                    "total": "5153960756",
                    "used": "1288490188"
                }
            },
            "image_hash": "1797c5c82016c1e65f4008fcf89deae3a044ef76087a9ec5b907c6d64a3609ac",
            "image_release": "16.04 LTS",
            "ipv4": [
                "10.168.32.2",
                "200.3.123.29"
            ],
            "load": [
                0.45,
                0.51,
                0.15
            ],
            "memory": {
                "total": 1503238554,
                "used": 60817408
            },
            "mounts": {
                "foo": {
                    "gid_mappings": ["1000:1000"],
                    "source_path": "/home/user/foo",
                    "uid_mappings": ["1000:1000"]
                }
            },
            "release": "Ubuntu 16.04.3 LTS",
            "snapshot_count": "0",
            "state": "Running"
        }
    }
}
`;

/** A stopped, Starting, Unknown or Deleted instance: runtime fields are empty. */
function notRunningInfo(state: string, ipv4: string[]): string {
  return JSON.stringify(
    {
      errors: [],
      info: {
        foo: {
          cpu_count: '',
          disks: { sda1: {} },
          image_hash: '1797c5c8',
          image_release: '24.04 LTS',
          ipv4,
          load: [],
          memory: {},
          mounts: {},
          release: '',
          snapshot_count: '0',
          state,
        },
      },
    },
    null,
    4,
  );
}

const LAUNCH: LaunchOptions = {
  name: 'foo',
  image: '24.04',
  cpus: 2,
  memory: '4G',
  disk: '20G',
  timeoutSeconds: 1200,
  userData: '#cloud-config\nusers:\n  - default\n',
};

describe('Multipass.preflight', () => {
  it('returns both versions when the daemon answers, from `version --format json`', async () => {
    const { multipass, calls } = multipassWith({
      stdout: '{\n    "multipass": "1.16.3",\n    "multipassd": "1.16.3"\n}\n',
    });
    assert.deepEqual(await multipass.preflight(), { client: '1.16.3', daemon: '1.16.3' });
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.executable, '/opt/multipass/bin/multipass');
    assert.deepEqual(calls[0]!.args, ['version', '--format', 'json']);
  });

  it('copes with the optional "update" object and platform suffixes', async () => {
    const { multipass } = multipassWith({
      stdout: JSON.stringify({
        multipass: '1.16.3+mac',
        multipassd: '1.16.3+mac',
        update: { title: '1.16.4', description: 'bug fixes', url: 'https://example.invalid/' },
      }),
    });
    assert.deepEqual(await multipass.preflight(), { client: '1.16.3+mac', daemon: '1.16.3+mac' });
  });

  it('reports a daemon that is down (no "multipassd" key, exit 0) as a prerequisite with the start hint', async () => {
    const { multipass } = multipassWith({ stdout: '{\n    "multipass": "1.16.3"\n}\n' });
    const error = await expectLabvmRejection(multipass.preflight(), 'prerequisite', /multipassd\) is not answering/);
    assert.equal(error.exitCode, 3);
    assert.equal(error.hint, multipassDaemonHint());
  });

  it('reports a missing multipass command (ENOENT) as a prerequisite with the install hint', async () => {
    const { multipass } = multipassWith(enoent());
    const error = await expectLabvmRejection(multipass.preflight(), 'prerequisite', /multipass command was not found/);
    assert.match(error.message, /\/opt\/multipass\/bin\/multipass/);
    assert.equal(error.hint, multipassInstallHint());
  });

  it('gives the install hint of the platform it runs on (winget on Windows)', async () => {
    const error = await withPlatform('win32', () =>
      expectLabvmRejection(new Multipass('multipass.exe', scripted(enoent()).runner).preflight(), 'prerequisite'),
    );
    assert.match(error.hint ?? '', /winget install Canonical\.Multipass/);
  });

  it('finds a missing executable with the real spawn runner too', async () => {
    const multipass = new Multipass('/nonexistent/labvm-unit/multipass');
    const error = await expectLabvmRejection(multipass.preflight(), 'prerequisite', /not found/);
    assert.equal(error.hint, multipassInstallHint());
  });

  it('passes other runner failures through unchanged', async () => {
    const failure = Object.assign(new Error('spawn EMFILE'), { code: 'EMFILE' });
    const { multipass } = multipassWith(failure);
    await assert.rejects(multipass.preflight(), (error) => error === failure);
  });

  it('reports output that is not JSON as a prerequisite, with the output as details', async () => {
    const { multipass } = multipassWith({ stdout: 'multipass   1.16.3\nmultipassd  1.16.3\n' });
    const error = await expectLabvmRejection(multipass.preflight(), 'prerequisite', /could not read as JSON/);
    assert.equal(error.details, 'multipass   1.16.3\nmultipassd  1.16.3\n');
  });
});

describe('Multipass.info', () => {
  it('reads a Running instance: first IPv4, releases, state', async () => {
    const { multipass, calls } = multipassWith({ stdout: RUNNING_INFO });
    assert.deepEqual(await multipass.info('foo'), {
      name: 'foo',
      state: 'Running',
      ipv4: '10.168.32.2',
      release: 'Ubuntu 16.04.3 LTS',
      imageRelease: '16.04 LTS',
    });
    assert.deepEqual(calls[0]!.args, ['info', 'foo', '--format', 'json']);
  });

  it('reads main-branch output too (insertion order, extra "zone" key)', async () => {
    const { multipass } = multipassWith({
      stdout: JSON.stringify({
        errors: [],
        info: {
          foo: {
            state: 'Running',
            zone: { name: 'zone1', available: true },
            ipv4: ['192.168.64.7'],
            release: 'Ubuntu 24.04.1 LTS',
            image_release: '24.04 LTS',
            cpu_count: '2',
            memory: { total: 4102029312, used: 312000000 },
          },
        },
      }),
    });
    assert.deepEqual(await multipass.info('foo'), {
      name: 'foo',
      state: 'Running',
      ipv4: '192.168.64.7',
      release: 'Ubuntu 24.04.1 LTS',
      imageRelease: '24.04 LTS',
    });
  });

  it('leaves ipv4 undefined while booting (ipv4: [])', async () => {
    const { multipass } = multipassWith({ stdout: notRunningInfo('Starting', []) });
    const info = await multipass.info('foo');
    assert.equal(info?.state, 'Starting');
    assert.equal(info?.ipv4, undefined);
    assert.equal(info?.release, '');
    assert.equal(info?.imageRelease, '24.04 LTS');
  });

  it('leaves ipv4 undefined for the "N/A" placeholder', async () => {
    const { multipass } = multipassWith({ stdout: notRunningInfo('Running', ['N/A']) });
    const info = await multipass.info('foo');
    assert.equal(info?.state, 'Running');
    assert.equal(info?.ipv4, undefined);
  });

  it('skips placeholders to the first valid address', async () => {
    const { multipass } = multipassWith({ stdout: notRunningInfo('Running', ['UNKNOWN', 'N/A', '10.0.0.9']) });
    assert.equal((await multipass.info('foo'))?.ipv4, '10.0.0.9');
  });

  it('returns undefined for a missing instance (exit 2, "does not exist")', async () => {
    const { multipass } = multipassWith(missing('info'));
    assert.equal(await multipass.info('foo'), undefined);
  });

  it('returns a Deleted instance with state Deleted (its name is still taken)', async () => {
    const { multipass } = multipassWith({ stdout: notRunningInfo('Deleted', []) });
    assert.deepEqual(await multipass.info('foo'), {
      name: 'foo',
      state: 'Deleted',
      ipv4: undefined,
      release: '',
      imageRelease: '24.04 LTS',
    });
  });

  it('returns undefined when the JSON does not mention the instance', async () => {
    const { multipass } = multipassWith({ stdout: '{"errors": [], "info": {"bar": {"state": "Running"}}}' });
    assert.equal(await multipass.info('foo'), undefined);
  });

  it("throws a MultipassError with Multipass's message for other failures", async () => {
    const result = { exitCode: 3, stdout: '', stderr: 'info failed: daemon is busy\ntry again later\n' };
    const { multipass } = multipassWith(result);
    await assert.rejects(multipass.info('foo'), (error: unknown) => {
      assert.ok(error instanceof MultipassError);
      assert.equal(error.message, 'info failed: daemon is busy try again later');
      assert.equal(error.command, 'info');
      assert.deepEqual(error.result, result);
      return true;
    });
  });

  it('reports an unreachable daemon as a prerequisite', async () => {
    const { multipass } = multipassWith(socketDown('info'));
    const error = await expectLabvmRejection(multipass.info('foo'), 'prerequisite');
    assert.equal(error.hint, multipassDaemonHint());
  });
});

describe('spawnRunner', () => {
  it("stops waiting for a client that outlives the timeout, as Multipass's own timer does (exit 5)", async () => {
    const started = Date.now();
    const result = await spawnRunner(
      process.execPath,
      ['-e', 'setTimeout(() => {}, 10000)'],
      undefined,
      undefined,
      200,
    );
    assert.equal(result.exitCode, CLIENT_TIMEOUT_EXIT);
    assert.match(result.stderr, /stopped waiting/);
    assert.ok(Date.now() - started < 9000, 'did not wait for the child to finish');
  });

  it("passes a finished child's exit code and output through", async () => {
    const result = await spawnRunner(
      process.execPath,
      ['-e', 'process.stdout.write("out"); process.stderr.write("err"); process.exit(3)'],
      undefined,
      undefined,
      10000,
    );
    assert.deepEqual(result, { exitCode: 3, stdout: 'out', stderr: 'err' });
  });
});

describe('Multipass.launch', () => {
  it('passes image, name, cpus, memory, disk, and the user-data on stdin with --cloud-init -; labvm bounds the wait', async () => {
    const { multipass, calls } = multipassWith({ stdout: 'Launched: foo\n' });
    assert.equal(await multipass.launch(LAUNCH), 'launched');
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.args, [
      'launch',
      '24.04',
      '--name',
      'foo',
      '--cpus',
      '2',
      '--memory',
      '4G',
      '--disk',
      '20G',
      '--cloud-init',
      '-',
    ]);
    assert.equal(calls[0]!.timeoutMs, 1_200_000);
    assert.equal(calls[0]!.stdin, LAUNCH.userData);
    assert.equal(calls[0]!.onStdout, undefined, 'no progress callback asked for, none passed');
  });

  it('is still provisioning when the client timer fires (exit 5)', async () => {
    const { multipass } = multipassWith({ exitCode: 5, stderr: 'Timed out waiting for instance launch.\n' });
    assert.equal(await multipass.launch(LAUNCH), 'still-provisioning');
  });

  it('is still provisioning when cloud-init is too slow (exit 2, "timed out waiting for initialization")', async () => {
    const { multipass } = multipassWith({
      exitCode: 2,
      stderr: 'launch failed: The following errors occurred:\ntimed out waiting for initialization to complete\n',
    });
    assert.equal(await multipass.launch(LAUNCH), 'still-provisioning');
  });

  it('is still provisioning when SSH was slow to come up (the VM is kept)', async () => {
    const { multipass } = multipassWith({
      exitCode: 2,
      stderr: 'launch failed: The following errors occurred:\nfoo: timed out waiting for response\n',
    });
    assert.equal(await multipass.launch(LAUNCH), 'still-provisioning');
  });

  for (const [what, result] of [
    ['an existing name', { exitCode: 2, stderr: 'launch failed: instance "foo" already exists\n' }],
    [
      'an invalid name',
      { exitCode: 2, stderr: 'launch failed: Invalid arguments supplied\nInvalid instance name supplied: 1bad\n' },
    ],
    [
      'a size below the minimum',
      { exitCode: 2, stderr: 'launch failed: Invalid arguments supplied\nInvalid memory size value supplied: 100M.\n' },
    ],
    ['an unreadable cloud-init', { exitCode: 1, stderr: 'Could not load cloud-init configuration: bad YAML\n' }],
  ] as const) {
    it(`throws a MultipassError for ${what}, with Multipass's message on one line`, async () => {
      const { multipass } = multipassWith(result);
      await assert.rejects(multipass.launch(LAUNCH), (error: unknown) => {
        assert.ok(error instanceof MultipassError);
        assert.equal(error.command, 'launch');
        assert.equal(error.message, result.stderr.trim().replace(/\n/g, ' '));
        assert.equal(error.result.exitCode, result.exitCode);
        return true;
      });
    });
  }

  it('names the exit code when Multipass printed nothing', async () => {
    const { multipass } = multipassWith({ exitCode: 3 });
    await assert.rejects(multipass.launch(LAUNCH), (error: MultipassError) => {
      assert.equal(error.message, 'multipass launch exited with 3 and printed no reason.');
      assert.doesNotMatch(error.hint ?? '', /above/, 'nothing is above to point at');
      return true;
    });
  });

  it('is a LabvmError of kind "vm", so the CLI shows Multipass\'s message instead of calling it a bug', async () => {
    const { multipass } = multipassWith({ exitCode: 2, stderr: 'launch failed: instance "foo" already exists\n' });
    const error = await expectLabvmRejection(
      multipass.launch(LAUNCH),
      'vm',
      /^launch failed: instance "foo" already exists$/,
    );
    assert.equal(error.exitCode, 4);
  });

  it('turns the spinner output it streams into progress lines', async () => {
    const lines: string[] = [];
    const { multipass } = multipassWith((call) => {
      for (const chunk of [
        '\x1b[2K\x1b[0A\x1b[0ECreating foo  ',
        '\b|',
        '\b/',
        '\b ',
        '\x1b[2K\x1b[0A\x1b[0E',
        'Launched: foo\n',
      ]) {
        call.onStdout?.(chunk);
      }
      return { stdout: 'ignored' };
    });
    assert.equal(await multipass.launch({ ...LAUNCH, onProgress: (line) => lines.push(line) }), 'launched');
    assert.deepEqual(lines, ['Creating foo', 'Launched: foo']);
  });

  it('reports an unreachable daemon as a prerequisite rather than a launch failure', async () => {
    const { multipass } = multipassWith(socketDown('launch'));
    await expectLabvmRejection(multipass.launch(LAUNCH), 'prerequisite');
  });
});

describe('Multipass.deletePurge, start, exec', () => {
  it('deletes with --purge', async () => {
    const { multipass, calls } = multipassWith({});
    assert.equal(await multipass.deletePurge('foo'), 'deleted');
    assert.deepEqual(calls[0]!.args, ['delete', '--purge', 'foo']);
  });

  it('says "absent" for a missing instance', async () => {
    const { multipass } = multipassWith(missing('delete'));
    assert.equal(await multipass.deletePurge('foo'), 'absent');
  });

  it('reports an unreachable daemon as a prerequisite', async () => {
    const { multipass } = multipassWith(socketDown('delete'));
    const error = await expectLabvmRejection(multipass.deletePurge('foo'), 'prerequisite');
    assert.equal(error.hint, multipassDaemonHint());
  });

  it('throws a MultipassError for other failures', async () => {
    const { multipass } = multipassWith({ exitCode: 2, stderr: 'delete failed: something broke\n' });
    await assert.rejects(multipass.deletePurge('foo'), {
      name: 'MultipassError',
      message: 'delete failed: something broke',
    });
  });

  it("start succeeds silently and fails with Multipass's message", async () => {
    const ok = multipassWith({});
    await ok.multipass.start('foo');
    assert.deepEqual(ok.calls[0]!.args, ['start', 'foo']);

    const bad = multipassWith({
      exitCode: 2,
      stderr: "start failed: instance(s) missing\nInstance 'foo' does not exist.\n",
    });
    await assert.rejects(bad.multipass.start('foo'), (error: unknown) => {
      assert.ok(error instanceof MultipassError);
      assert.equal(error.message, "start failed: instance(s) missing Instance 'foo' does not exist.");
      assert.equal(error.command, 'start');
      return true;
    });
  });
});

describe('progressLines', () => {
  /** What `multipass launch` writes to a pipe, chunk by chunk (AnimatedSpinner and the download progress). */
  const SPINNER_CHUNKS = [
    'Retrieving image: 3%',
    '\rRetrieving image: 42%',
    '\rRetrieving image: 42%',
    '\rRetrieving image: 100%',
    '\x1b[2K\x1b[0A\x1b[0E',
    'Creating foo  ',
    '\b|',
    '\b/',
    '\b-',
    '\b\\',
    '\b|',
    '\b ',
    '\x1b[2K\x1b[0A\x1b[0E',
    'Starting foo  ',
    '\b/',
    '\b-',
    '\b ',
    '\x1b[2K\x1b[0A\x1b[0E',
    'Waiting for initialization to complete  ',
    '\b-',
    '\b\\',
    '\b|',
    '\b ',
    '\x1b[2K\x1b[0A\x1b[0E',
    'Launched: foo\n',
  ];
  const EXPECTED = [
    'Retrieving image: 3%',
    'Retrieving image: 42%',
    'Retrieving image: 100%',
    'Creating foo',
    'Starting foo',
    'Waiting for initialization to complete',
    'Launched: foo',
  ];

  function linesOf(chunks: string[]): string[] {
    const lines: string[] = [];
    const feed = progressLines((line) => lines.push(line));
    for (const chunk of chunks) feed(chunk);
    return lines;
  }

  it('gives clean, distinct lines from the spinner written chunk by chunk', () => {
    assert.deepEqual(linesOf(SPINNER_CHUNKS), EXPECTED);
  });

  it('gives the same lines when the pipe delivers it all at once', () => {
    assert.deepEqual(linesOf([SPINNER_CHUNKS.join('')]), EXPECTED);
  });

  it('gives the same lines when a frame is split from its backspace', () => {
    const split = SPINNER_CHUNKS.flatMap((chunk) => (chunk.startsWith('\b') ? ['\b', chunk.slice(1)] : [chunk]));
    assert.deepEqual(linesOf(split), EXPECTED);
  });

  it('leaves no control characters and no bare spinner frames in any line', () => {
    for (const line of linesOf(SPINNER_CHUNKS)) {
      assert.doesNotMatch(line, /[\x00-\x1f\x7f]/);
      assert.doesNotMatch(line, /^[|/\\-]$/);
      assert.equal(line, line.trim());
    }
  });

  it('keeps text that merely contains slashes and hyphens', () => {
    assert.deepEqual(linesOf(['Retrieving image: ubuntu/24.04 - 5%\r\n']), ['Retrieving image: ubuntu/24.04 - 5%']);
  });

  it('treats Windows line ends like Unix ones', () => {
    assert.deepEqual(linesOf(['Creating foo\r\nStarting foo\r\n']), ['Creating foo', 'Starting foo']);
  });
});

describe('isValidIpv4 and isLaunchTimeout', () => {
  for (const address of ['10.168.32.2', '192.168.64.7', '0.0.0.0', '255.255.255.255']) {
    it(`accepts ${address}`, () => assert.equal(isValidIpv4(address), true));
  }
  for (const address of [
    'N/A',
    'UNKNOWN',
    '',
    '256.1.1.1',
    '10.0.0',
    '10.0.0.1.2',
    'fe80::1',
    ' 10.0.0.1',
    '10.0.0.1\n',
    'a.b.c.d',
    '1234.1.1.1',
  ]) {
    it(`rejects ${JSON.stringify(address)}`, () => assert.equal(isValidIpv4(address), false));
  }

  it('sees exit 5 and "timed out waiting for" as timeouts, and nothing else', () => {
    assert.equal(isLaunchTimeout({ exitCode: 5, stdout: '', stderr: '' }), true);
    assert.equal(
      isLaunchTimeout({
        exitCode: 2,
        stdout: '',
        stderr: 'launch failed: The following errors occurred:\ntimed out waiting for initialization to complete',
      }),
      true,
    );
    assert.equal(
      isLaunchTimeout({ exitCode: 2, stdout: '', stderr: 'launch failed: instance "foo" already exists' }),
      false,
    );
    assert.equal(isLaunchTimeout({ exitCode: 1, stdout: '', stderr: '' }), false);
  });
});
