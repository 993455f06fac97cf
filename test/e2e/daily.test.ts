import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEd25519 } from '../../src/vm/keys.js';
import {
  CLI,
  LabvmEnv,
  e2eUnavailable,
  finished,
  inVm,
  multipassDouble,
  purgeInstance,
  uniqueName,
} from '../support/labvm.js';

/** The daily commands (shell, exec) on one VM, through the Multipass test double and a real stand-in. */

const skip = e2eUnavailable();

/** Resolves once the child's stdout has shown `text` (after `from`), failing after `timeoutMs`. */
function waitForOutput(child: ChildProcess, text: string | RegExp, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      child.stdout?.off('data', onData);
      reject(new Error(`timed out waiting for ${String(text)}; output so far:\n${seen}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (typeof text === 'string' ? seen.includes(text) : text.test(seen)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(seen);
      }
    };
    child.stdout?.on('data', onData);
  });
}

describe('labvm shell, exec, doctor, list, stop and start', { skip, concurrency: false }, () => {
  const name = uniqueName('daily');
  let lab: LabvmEnv;
  let home: string;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'labvm-e2e-home-'));
    lab = await LabvmEnv.create({ HOME: home, USERPROFILE: home });
    const up = await lab.run(['up', '--name', name, '--timeout', '300']);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    purgeInstance(name);
    await lab.dispose();
    await rm(home, { recursive: true, force: true });
  });

  test('shell: a typed command runs on the VM in a pty that follows the window size; the exit status and the terminal are restored', async () => {
    const flag = join(lab.home, 'resize-now');
    // Inside a real pty (util-linux script): a fixed size first, then a resize while labvm runs.
    const script = [
      'stty rows 40 cols 100',
      'before=$(stty -g)',
      `(while [ ! -e '${flag}' ]; do sleep 0.1; done; stty rows 50 cols 120 < /dev/tty) &`,
      `'${process.execPath}' '${CLI}' shell --name ${name}`,
      'code=$?',
      '[ "$(stty -g)" = "$before" ] && echo TERMINAL-RESTORED',
      'exit $code',
    ].join('\n');
    const child = spawn('script', ['-qefc', script, '/dev/null'], { env: lab.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const done = finished(child);
    try {
      await waitForOutput(child, /\$ $/m);
      child.stdin.write('echo typed-$((6*7)) on $(hostname); stty size\r');
      await waitForOutput(child, /typed-42 on \S+\s+40 100/);
      await writeFile(flag, '');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      child.stdin.write('stty size\r');
      await waitForOutput(child, /50 120/);
      child.stdin.write('exit 3\r');
      const run = await done;
      assert.equal(run.code, 3, `the shell's exit status is labvm's\n${run.stdout}${run.stderr}`);
      assert.match(run.stdout, new RegExp(`typed-42 on ${name}`), 'the command ran on the VM');
      assert.match(run.stdout, /TERMINAL-RESTORED/, 'raw mode is undone on exit');
      assert.equal(existsSync(join(home, '.ssh')), false, 'nothing was added to ~/.ssh');
    } finally {
      child.kill();
    }
  });

  test('exec: the exit code passes through, stdout and stderr stay apart', async () => {
    const run = await lab.run(['exec', '--name', name, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    assert.equal(run.code, 7);
    assert.equal(run.stdout, 'out\n');
    assert.equal(run.stderr, 'err\n');
  });

  test('exec: stdin reaches the command, and arguments keep their spaces and quotes', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'exec', '--name', name, '--', 'sh', '-c', 'tr a-z A-Z; printf "%s|" "$@"', 'sh', 'a b', "c'd"],
      { env: lab.env, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    child.stdin.end('hello\n');
    const run = await finished(child);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "HELLO\na b|c'd|");
  });

  test('exec runs as the VM user with Docker, over the pinned key (a tampered pin is refused with exit 6)', async () => {
    const run = await lab.run([
      'exec',
      '--name',
      name,
      '--',
      'sh',
      '-c',
      'id -un; docker version --format "{{.Server.Version}}"',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^ubuntu\n\d+\.\d+/);
    const recordFile = join(lab.home, name, 'instance.json');
    const record = await readFile(recordFile, 'utf8');
    const other = generateEd25519('someone-else').publicKey;
    await writeFile(recordFile, record.replace(/"hostPublicKey": "[^"]+"/, `"hostPublicKey": "${other}"`));
    try {
      for (const args of [
        ['exec', '--name', name, '--', 'true'],
        ['shell', '--name', name],
      ]) {
        const refused = await lab.run(args);
        assert.equal(refused.code, 6, refused.stderr);
        assert.match(refused.stderr, /does not match the host key labvm pinned/);
      }
    } finally {
      await writeFile(recordFile, record);
    }
  });

  test('exec without a command, or on a missing VM, fails with the next step', async () => {
    const none = await lab.run(['exec', '--name', name]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /No command given[\s\S]*labvm exec -- /);
    const missing = await lab.run(['exec', '--name', `${name}-none`, '--', 'true']);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /no labvm VM named[\s\S]*labvm up --name/);
    const shell = await lab.run(['shell', '--name', `${name}-none`]);
    assert.equal(shell.code, 4);
  });

  test('doctor: a pass/warn/fail table with a fix for each problem; a VM whose pinned key does not match fails it (exit 3)', async () => {
    const run = await lab.run(['doctor']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    for (const row of [
      /^pass {2}Node\.js +v\d+/m,
      /^pass {2}Multipass installed +multipass 1\.16\.3/m,
      /^pass {2}Multipass daemon +multipassd 1\.16\.3/m,
      /^pass {2}Virtualization driver +qemu/m,
      /^(pass|warn) {2}Free memory +\S+ free of \S+; up asks for 4G/m,
      /^(pass|warn) {2}Free disk .*up asks for 20G/m,
      new RegExp(`^pass {2}VM ${name} +reachable direct to [\\d.]+:22, host key matches the pinned one`, 'm'),
    ]) {
      assert.match(run.stdout, row);
    }
    const json = JSON.parse((await lab.run(['doctor', '--json'])).stdout) as {
      ok: boolean;
      checks: Array<{ name: string; status: string; fix: string | null }>;
    };
    assert.equal(json.ok, true);
    assert.ok(
      json.checks.every(
        (check) =>
          ['pass', 'warn', 'fail'].includes(check.status) && (check.status === 'pass') === (check.fix === null),
      ),
    );

    const recordFile = join(lab.home, name, 'instance.json');
    const record = await readFile(recordFile, 'utf8');
    await writeFile(
      recordFile,
      record.replace(/"hostPublicKey": "[^"]+"/, `"hostPublicKey": "${generateEd25519('someone-else').publicKey}"`),
    );
    try {
      const untrusted = await lab.run(['doctor']);
      assert.equal(untrusted.code, 3);
      assert.match(
        untrusted.stdout,
        new RegExp(`^fail {2}VM ${name} +trust failed: .*does not match[\\s\\S]*fix: .*labvm down --name ${name}`, 'm'),
      );
    } finally {
      await writeFile(recordFile, record);
    }

    const daemonDown = await lab.run(['doctor'], { MULTIPASS_DOUBLE_DAEMON_DOWN: '1' });
    assert.equal(daemonDown.code, 3);
    assert.match(daemonDown.stdout, /^fail {2}Multipass daemon +multipassd is not answering\n +fix: Start /m);
    const missing = await lab.run(['doctor'], { LABVM_MULTIPASS: join(lab.home, 'no-multipass-here') });
    assert.equal(missing.code, 3);
    assert.match(
      missing.stdout,
      /^fail {2}Multipass installed +The multipass command was not found[\s\S]*fix: Install Multipass/m,
    );
  });

  test('every command leaves a debug log in the state folder (multipass, SSH, remote commands, Docker API, with timings) and no secret in it; --verbose shows it live', async () => {
    const verbose = await lab.run(['status', '--name', name, '--verbose']);
    assert.equal(verbose.code, 0, verbose.stderr);
    assert.match(verbose.stderr, /^\S+Z multipass +multipass info \S+ --format json -> exit 0 \(\d+ ms\)$/m);
    const logs = (await readdir(join(lab.home, name, 'logs'))).sort();
    const upLog = logs.find((file) => file.endsWith('-up.log'));
    assert.ok(upLog, `an up log among ${logs.join(', ')}`);
    assert.equal((await stat(join(lab.home, name, 'logs', upLog))).mode & 0o777, 0o600);
    const text = await readFile(join(lab.home, name, 'logs', upLog), 'utf8');
    for (const line of [
      /multipass +multipass launch 24\.04 --name \S+ .* -> exit 0 \(\d+ ms\)/,
      /multipass +multipass version --format json -> exit 0/,
      /ssh +connecting to [\d.]+:22 as ubuntu \(key\)/,
      /ssh +host key SHA256:\S+ matches the host key labvm pinned/,
      /ssh +authenticated as ubuntu in \d+ ms/,
      /remote +\$ test -e \/var\/lib\/labvm\/provisioned -> exit \d \(\d+ ms\)/,
      /docker +GET \/version -> ok \(\d+ ms\)/,
    ]) {
      assert.match(text, line);
    }
    const clientKey = (await readFile(join(lab.home, name, 'id_ed25519'), 'utf8'))
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'));
    const hostKey = inVm(name, 'cat /etc/ssh/ssh_host_ed25519_key')
      .stdout.split('\n')
      .filter((l) => l && !l.startsWith('-----'));
    assert.ok(clientKey.length > 0 && hostKey.length > 0);
    for (const file of logs) {
      const log = await readFile(join(lab.home, name, 'logs', file), 'utf8');
      assert.doesNotMatch(log, /PRIVATE KEY|ssh_keys|BEGIN /, file);
      for (const keyLine of [...clientKey, ...hostKey])
        assert.ok(!log.includes(keyLine.slice(0, 40)), `${file} holds key material`);
    }
  });

  test('list shows the VM with its size and readiness, and a record whose VM is gone with the command that cleans it', async () => {
    const gone = `${name}-gone`;
    await cp(join(lab.home, name), join(lab.home, gone), { recursive: true });
    const json = await lab.run(['list', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const entries = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    const vm = entries.find((e) => e.name === name)!;
    assert.equal(vm.state, 'Running');
    assert.match(String(vm.ipv4), /^\d+\.\d+\.\d+\.\d+$/);
    assert.deepEqual(
      [vm.cpus, vm.memory, vm.disk, vm.image, vm.ready, vm.cleanup],
      [2, '4G', '20G', '24.04', true, null],
    );
    assert.match(String(vm.release), /Ubuntu|Debian/);
    const missing = entries.find((e) => e.name === gone)!;
    assert.deepEqual([missing.state, missing.ready, missing.cleanup], ['missing', null, `labvm down --name ${gone}`]);
    assert.doesNotMatch(json.stdout, /PRIVATE KEY/);

    const text = await lab.run(['list']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^NAME\s+STATE\s+ADDRESS/);
    assert.match(text.stdout, new RegExp(`^${name}\\s+Running\\s+\\d+\\.\\d+\\.\\d+\\.\\d+.*\\s+yes$`, 'm'));
    assert.match(text.stdout, new RegExp(`${gone}: the VM is gone.*\`labvm down --name ${gone}\``));
    const cleaned = await lab.run(['down', '--name', gone]);
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.equal(existsSync(join(lab.home, gone)), false);
  });

  test('stop parks the VM (twice is fine), start resumes it over the pinned key, stop --all stops every labvm VM', async () => {
    const stopped = await lab.run(['stop', '--name', name]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, new RegExp(`${name} stopped. Resume it with \`labvm start --name ${name}\``));
    assert.match(multipassDouble(['info', name]).stdout, /State:\s+Stopped/);
    const again = await lab.run(['stop', '--name', name]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /was already stopped/);
    const listed = JSON.parse((await lab.run(['list', '--json'])).stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(
      listed.map((e) => [e.name, e.state, e.ready]),
      [[name, 'Stopped', null]],
    );
    const refused = await lab.run(['exec', '--name', name, '--', 'true']);
    assert.equal(refused.code, 4);
    assert.match(
      refused.stderr,
      new RegExp(`${name} is stopped .*\\n {2}next: Run \`labvm up --name ${name}\` to start it\\.`),
    );
    assert.match(
      refused.stderr,
      new RegExp(`debug log: ${join(lab.home, name, 'logs')}\\S+-exec\\.log`),
      'a failure says where its log is',
    );

    const started = await lab.run(['start', '--name', name]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stderr, /SSH reachable \(host key verified against the pinned key\)/);
    assert.match(started.stdout, new RegExp(`${name} started; address \\d+\\.\\d+\\.\\d+\\.\\d+`));
    assert.equal((await lab.run(['exec', '--name', name, '--', 'true'])).code, 0);

    const all = await lab.run(['stop', '--all']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, new RegExp(`${name} stopped`));
    assert.match(multipassDouble(['info', name]).stdout, /State:\s+Stopped/);
  });

  test('stop and start name what is wrong: no such VM (exit 4)', async () => {
    for (const command of ['stop', 'start']) {
      const run = await lab.run([command, '--name', `${name}-none`]);
      assert.equal(run.code, 4, run.stderr);
      assert.match(run.stderr, /no labvm VM named[\s\S]*labvm up --name/);
    }
  });
});

describe('teacher defaults (config file, environment, flags)', { skip }, () => {
  let lab: LabvmEnv;
  const name = uniqueName('defaults');
  before(async () => (lab = await LabvmEnv.create()));
  after(async () => {
    purgeInstance(name);
    await lab.dispose();
  });

  test('up takes its values from the file, then the environment, then the flag; nothing is launched on a bad one', async () => {
    await writeFile(join(lab.home, 'config.json'), JSON.stringify({ memory: '100M', disk: '30G' }));
    const fromFile = await lab.run(['up', '--name', name]);
    assert.equal(fromFile.code, 2, fromFile.stderr);
    assert.match(fromFile.stderr, /memory size 100M is below the minimum/);
    // A bad value in the file is refused even where a later source would override it; give it a good one.
    await writeFile(join(lab.home, 'config.json'), JSON.stringify({ memory: '1G', disk: '30G' }));
    const fromEnv = await lab.run(['up', '--name', name], { LABVM_MEMORY: '200M' });
    assert.match(fromEnv.stderr, /memory \(LABVM_MEMORY\) size 200M is below/);
    const fromFlag = await lab.run(['up', '--name', name, '--memory', '300M'], { LABVM_MEMORY: '200M' });
    assert.match(fromFlag.stderr, /memory \(--memory\) size 300M is below/);
    assert.match(multipassDouble(['info', name]).stderr, /does not exist/, 'nothing was launched');
  });

  test('doctor shows each value with where it came from; --config names another file', async () => {
    const classFile = join(lab.home, 'class.json');
    await writeFile(classFile, JSON.stringify({ image: '22.04', baseImage: 'mirror.school/nginx:1' }));
    const run = await lab.run(['doctor', '--config', classFile, '--cpus', '3'], { LABVM_DISK: '25G' });
    assert.match(run.stdout, /flag > environment > config file > built-in/);
    assert.match(run.stdout, /^ {2}cpus +3 +flag: --cpus$/m);
    assert.match(run.stdout, /^ {2}disk +25G +env: LABVM_DISK$/m);
    assert.match(run.stdout, new RegExp(`^ {2}baseImage +mirror\\.school/nginx:1 +file: ${classFile}$`, 'm'));
    assert.match(run.stdout, /^ {2}memory +4G +built-in$/m, '--config replaces $LABVM_HOME/config.json');
    assert.match(run.stdout, /Free disk .*up asks for 25G/);
  });

  test('an unknown key or a bad value stops every command with the file and the key (exit 2)', async () => {
    await writeFile(join(lab.home, 'config.json'), '{"memroy": "4G"}');
    for (const args of [['up', '--name', name], ['doctor'], ['exercise', '--name', name]]) {
      const run = await lab.run(args);
      assert.equal(run.code, 2, `${args[0]}: ${run.stderr}`);
      assert.match(
        run.stderr,
        new RegExp(
          `config file ${join(lab.home, 'config.json')} has an unknown key "memroy"[\\s\\S]*next: Use only these keys`,
        ),
      );
    }
    await writeFile(join(lab.home, 'config.json'), '{"timeout": "soon"}');
    const bad = await lab.run(['doctor']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /has a bad value for "timeout": Invalid timeout "soon"/);
  });
});
