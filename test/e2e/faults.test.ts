import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  CLI,
  LabvmEnv,
  NGINX_BASE_IMAGE,
  docker,
  e2eUnavailable,
  finished,
  inVm,
  labWithReadyVm,
  purgeInstance,
  standinContainer,
  uniqueName,
  type Run,
} from '../support/labvm.js';

/**
 * The fault matrix: each row injects one fault into a real run on one VM stand-in (reused by every row), then
 * checks the exit code, that the message names the cause and the next step, that nothing the run started is
 * left (containers, `sleep 600`/nsenter processes in this stand-in, *.tmp files in the state folder), and that
 * the next normal run succeeds.
 */

const skip = e2eUnavailable();
const QUESTION = 'Is the PID the same inside and outside the container?';
const isRoot = process.getuid?.() === 0;

describe('fault matrix', { skip, concurrency: false }, () => {
  const name = uniqueName('fault');
  let lab: LabvmEnv;
  const exercise = (...args: string[]) => ['exercise', '--name', name, '--base-image', NGINX_BASE_IMAGE, ...args];
  const stateFile = (file: string) => join(lab.home, name, file);
  const sshd = (signal: string, which: 'sessions' | 'listener') =>
    inVm(name, `pkill -${signal} -f '${which === 'sessions' ? '[s]shd: ubuntu' : '[s]shd: .*listener'}' || true`);
  const sshLogins = () => (docker(['logs', standinContainer(name)]).stderr.match(/Accepted publickey/g) ?? []).length;

  before(async () => (lab = await labWithReadyVm(name)));
  after(async () => {
    sshd('CONT', 'listener');
    purgeInstance(name);
    await lab.dispose();
  });

  async function assertNothingLeft(): Promise<void> {
    assert.equal(inVm(name, 'docker ps -a --format "{{.Names}}"').stdout.trim(), '', 'no container is left in the VM');
    assert.equal(
      inVm(name, 'ps -eo args | grep -E "^(sleep 600|nsenter)" || true').stdout.trim(),
      '',
      'no sleep or nsenter is left in the VM',
    );
    assert.deepEqual(
      (await readdir(join(lab.home, name))).filter((file) => file.endsWith('.tmp')),
      [],
      'no temporary file in the state folder',
    );
    assert.deepEqual(await readdir(join(lab.home, '.locks')), [], 'no lock left');
  }
  async function assertNextRunSucceeds(): Promise<void> {
    const next = await lab.run(exercise('--json'));
    assert.equal(next.code, 0, next.stderr);
    assert.equal((JSON.parse(next.stdout) as { pid: { cause: string } }).pid.cause, 'nested-pid-namespace');
    await assertNothingLeft();
  }
  /** Never a silent success: exit 0 prints the report; anything else says what happened and what to do. */
  function assertSpoke(run: Run): void {
    if (run.code === 0) assert.ok(run.stdout.includes(QUESTION), `exit 0 prints the report\n${run.stderr}`);
    else assert.match(run.stderr, /^labvm: .+[\s\S]*next: /m, 'an error with its next step');
    assert.doesNotMatch(run.stderr, /unexpected error|\n\s+at /, 'no bug report, no stack trace');
  }
  /** Runs the exercise and calls `fault` once, as soon as stderr shows `text`. */
  function withFault(
    args: string[],
    text: string,
    fault: (child: ChildProcess) => void | Promise<void>,
    detached = false,
  ): Promise<Run> {
    const child = detached
      ? spawn(process.execPath, [CLI, ...args], { env: lab.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      : lab.spawn(args);
    const done = finished(child);
    let stderr = '';
    let injected: Promise<void> | undefined;
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!injected && stderr.includes(text)) injected = Promise.resolve(fault(child));
    });
    return done.then(async (run) => {
      assert.ok(injected, `the fault was injected at "${text}"\n${run.stderr}`);
      await injected;
      return run;
    });
  }

  // 1. The VM's sshd session is killed at several points of the run.
  for (const point of [
    '… checking the host',
    '… running my-nginx-cntr',
    '… starting sleep 600',
    '… killing it from inside',
    '… stopping my-nginx-cntr',
    '… cleaning up',
  ]) {
    test(`sshd killed at "${point}": an error naming the lost connection (or the report), never a silent exit 0; nothing left`, async () => {
      const run = await withFault(exercise(), point, () => void sshd('KILL', 'sessions'));
      assertSpoke(run);
      if (run.code !== 0) {
        assert.equal(run.code, 4, run.stderr);
        assert.match(run.stderr, new RegExp(`labvm: The SSH connection to VM "${name}" was lost .*during "`));
        assert.match(
          run.stderr,
          new RegExp(`next: Check that the VM is running \\(\`labvm status --name ${name}\`\\)`),
        );
      }
      if (/starting sleep|killing|stopping/.test(point))
        assert.match(run.stderr, /reconnecting once[\s\S]*✔ cleaning up/);
      await assertNothingLeft();
    });
  }

  test('sshd killed and no new connection possible: the message names what is left and the command that removes it', async () => {
    const run = await withFault(exercise(), '✔ starting sleep 600', () => {
      sshd('STOP', 'listener');
      sshd('KILL', 'sessions');
    });
    sshd('CONT', 'listener');
    assert.equal(run.code, 4, run.stderr);
    assert.match(run.stderr, /was lost/);
    assert.match(
      run.stderr,
      new RegExp(
        `Cleanup was incomplete too: Cleanup could not finish \\(reconnecting failed: .+\\); on ${name} these may be left: my-nginx-cntr, sleep 600 \\(PID \\d+\\)`,
      ),
    );
    assert.match(run.stderr, new RegExp(`next: Run \`labvm exercise --name ${name}\` again: it removes them first`));
    assert.match(
      inVm(name, 'docker ps -a --format "{{.Names}}"').stdout,
      /my-nginx-cntr/,
      'the leftover the message named is really there',
    );
    await assertNextRunSucceeds();
  });

  // 2. Signals: SIGTERM and SIGHUP take the path of Ctrl-C (exercise.test.ts covers SIGINT in several phases).
  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    test(`${signal} during the exercise cleans up and exits ${code}`, async () => {
      const run = await withFault(exercise(), '✔ starting sleep 600', (child) => void child.kill(signal));
      assert.equal(run.code, code, run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`interrupted \\(${signal}\\)[\\s\\S]*✔ cleaning up[\\s\\S]*labvm: Interrupted \\(${signal}\\)`),
      );
      await assertNothingLeft();
    });
  }

  test('a second Ctrl-C quits at once (130); the next run replaces what was left', async () => {
    const run = await withFault(exercise(), '✔ starting sleep 600', (child) => {
      child.kill('SIGINT');
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        if ((stderr += chunk.toString()).includes('Ctrl-C again to quit at once')) child.kill('SIGINT');
      });
    });
    assert.equal(run.code, 130, run.stderr);
    assert.doesNotMatch(run.stderr, /✔ cleaning up/, 'it quit without waiting for cleanup');
    await assertNextRunSucceeds();
  });

  test('Ctrl-C while a remote step hangs (sshd frozen) ends the step at once, then cleans up', async () => {
    let thawed = false;
    let failedWhileFrozen = false;
    const child = lab.spawn(exercise());
    const done = finished(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('✖ killing it from inside') && !thawed) failedWhileFrozen = true;
    });
    while (!stderr.includes('… killing it from inside')) await delay(20);
    sshd('STOP', 'sessions');
    await delay(500);
    child.kill('SIGINT');
    for (let waited = 0; waited < 15_000 && !failedWhileFrozen; waited += 100) await delay(100);
    thawed = true;
    sshd('CONT', 'sessions');
    const run = await done;
    assert.ok(failedWhileFrozen, `the hanging step ended at the Ctrl-C, not when sshd came back\n${run.stderr}`);
    assert.equal(run.code, 130, run.stderr);
    await assertNothingLeft();
  });

  test('Ctrl-C during "connecting over SSH" reaching the whole process group (as a terminal does) exits 130, not 4', async () => {
    const run = await withFault(
      exercise(),
      '… connecting over SSH',
      (child) => void process.kill(-child.pid!, 'SIGINT'),
      true,
    );
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stderr, /Interrupted \(SIGINT\)/);
    assert.doesNotMatch(run.stderr, /multipass .* exited with/);
    await assertNothingLeft();
  });

  // 3. Concurrent runs on one instance.
  test('a second command on a busy instance waits, then names the holder (command, PID, since) and exits 8', async () => {
    let second: Run | undefined;
    let third: Run | undefined;
    let stillRunning = false;
    const run = await withFault(exercise(), '… removing leftovers', async (child) => {
      sshd('STOP', 'sessions'); // the exercise holds the lock, waiting on its frozen connection
      try {
        [second, third] = await Promise.all([lab.run(['up', '--name', name]), lab.run(['down', '--name', name])]);
        stillRunning = child.exitCode === null;
      } finally {
        sshd('CONT', 'sessions');
      }
    });
    assert.ok(stillRunning, 'the exercise still ran while they waited');
    assert.equal(run.code, 0, run.stderr);
    for (const blocked of [second!, third!]) {
      assert.equal(blocked.code, 8, blocked.stderr);
      assert.match(
        blocked.stderr,
        new RegExp(
          `labvm: \`labvm exercise\` \\(PID \\d+, since \\S+\\) is working on "${name}"[\\s\\S]*next: Wait for it to finish`,
        ),
      );
    }
    await assertNothingLeft();
  });

  test('two `up` at once on one instance do not corrupt its state: the next exercise trusts the VM', async () => {
    const runs = await Promise.all([lab.run(['up', '--name', name]), lab.run(['up', '--name', name])]);
    for (const run of runs) assert.ok(run.code === 0 || run.code === 8, run.stderr);
    assert.ok(runs.some((run) => run.code === 0));
    await assertNextRunSucceeds();
  });

  test('a lock left by a process that died is taken over', async () => {
    const dead = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout,
    );
    await writeFile(
      join(lab.home, '.locks', `${name}.lock`),
      JSON.stringify({ pid: dead, command: 'up', since: '2020-01-01T00:00:00.000Z', host: hostname() }),
    );
    const run = await lab.run(['up', '--name', name]);
    assert.equal(run.code, 0, run.stderr);
    await assertNothingLeft();
  });

  // 4. Checked before work starts; results never lost to a failing report write.
  test('--report to a folder, into /proc, or under a file: exit 2 before connecting', async () => {
    const logins = sshLogins();
    await mkdir(join(lab.home, 'folder.md'));
    for (const report of [
      join(lab.home, 'folder.md'),
      '/proc/labvm-report.md',
      join(lab.home, name, 'instance.json', 'r.md'),
    ]) {
      const run = await lab.run(exercise('--report', report));
      assert.equal(run.code, 2, `${report}: ${run.stderr}`);
      assert.match(run.stderr, /^labvm: .*report.*\n {2}next: Pass --report a file in a folder that exists/m);
      assert.doesNotMatch(run.stderr, /connecting over SSH/);
    }
    assert.equal(sshLogins(), logins, 'no SSH login happened');
    await rm(join(lab.home, 'folder.md'), { recursive: true });
  });

  test(
    'a report that cannot be written (disk full) loses nothing: the report is printed first, exit 3 names the path',
    { skip: !isRoot && 'needs root to mount a tiny tmpfs' },
    async () => {
      await withFullDisk(async (full) => {
        const report = join(full, 'report.md');
        const run = await lab.run(exercise('--report', report));
        assert.equal(run.code, 3, run.stderr);
        assert.ok(run.stdout.includes(QUESTION), 'the report reached the terminal');
        assert.match(
          run.stderr,
          new RegExp(
            `labvm: Cannot write the report to ${report}.*: the disk is full \\(ENOSPC\\)[\\s\\S]*next: Free some space`,
          ),
        );
        assert.deepEqual(
          (await readdir(full)).filter((file) => file.endsWith('.tmp')),
          [],
          'no temporary file left',
        );
      });
      await assertNothingLeft();
    },
  );

  // 5. File-system errors under LABVM_HOME are errors with the path and the fix, not bugs.
  test(
    'LABVM_HOME on a full disk: exit 3 naming the path, no *.tmp left',
    { skip: !isRoot && 'needs root to mount a tiny tmpfs' },
    async () => {
      await withFullDisk(async (full) => {
        const run = await lab.run(['up', '--name', uniqueName('full')], { LABVM_HOME: full });
        assert.equal(run.code, 3, run.stderr);
        assert.match(
          run.stderr,
          new RegExp(`labvm: Cannot .* ${full}/.*: the disk is full \\(ENOSPC\\)[\\s\\S]*next: Free some space`),
        );
        assert.deepEqual(
          (await listAll(full)).filter((file) => file.endsWith('.tmp') || file.endsWith('.lock')),
          [],
        );
      });
    },
  );

  test('LABVM_HOME a file, instance.json a folder: exit 3 naming the path and the fix', async () => {
    // The config file under LABVM_HOME is the first thing read, so it is the path named.
    const scratch = await mkdtemp(join(tmpdir(), 'labvm-fs-'));
    try {
      await writeFile(join(scratch, 'home-file'), '');
      const homeIsFile = await lab.run(['up', '--name', 'x'], { LABVM_HOME: join(scratch, 'home-file') });
      assert.equal(homeIsFile.code, 3, homeIsFile.stderr);
      assert.match(
        homeIsFile.stderr,
        /labvm: Cannot read the config file .*home-file[\\/]config\.json: part of the path is a file, not a folder \(ENOTDIR\)[\s\S]*next: .*LABVM_HOME/,
      );
      await mkdir(join(scratch, 'home', 'x', 'instance.json'), { recursive: true });
      const recordIsFolder = await lab.run(['exercise', '--name', 'x'], { LABVM_HOME: join(scratch, 'home') });
      assert.equal(recordIsFolder.code, 3, recordIsFolder.stderr);
      assert.match(
        recordIsFolder.stderr,
        /labvm: Cannot read .*instance\.json: it is a folder, not a file \(EISDIR\)[\s\S]*next: /,
      );
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  test('LABVM_MULTIPASS a folder, a file without execute permission, or a program that fails silently: exit 3 with a hint', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'labvm-mp-'));
    try {
      await writeFile(join(scratch, 'not-executable'), '#!/bin/sh\n', { mode: 0o644 });
      for (const executable of [scratch, join(scratch, 'not-executable')]) {
        const run = await lab.run(['up', '--name', 'x'], { LABVM_MULTIPASS: executable, LABVM_HOME: scratch });
        assert.equal(run.code, 3, run.stderr);
        assert.match(
          run.stderr,
          /cannot be run as a program[\s\S]*next: Point LABVM_MULTIPASS at the multipass executable/,
        );
      }
      const silent = await lab.run(['up', '--name', 'x'], { LABVM_MULTIPASS: '/bin/false', LABVM_HOME: scratch });
      assert.equal(silent.code, 3, silent.stderr);
      assert.match(
        silent.stderr,
        /`\/bin\/false version` failed: exit 1, and it printed no reason[\s\S]*next: Check that "\/bin\/false" is Multipass/,
      );
      assert.doesNotMatch(silent.stderr, /above/, 'nothing is above to point at');
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  // 6. Trust and state: damaged files are named with the repair; `up` restores what it safely can.
  test('a damaged client key is a trust failure (exit 6) with the down + up repair', async () => {
    const key = await readFile(stateFile('id_ed25519'), 'utf8');
    await writeFile(stateFile('id_ed25519'), key.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'));
    const run = await lab.run(exercise());
    await writeFile(stateFile('id_ed25519'), key);
    assert.equal(run.code, 6, run.stderr);
    assert.match(
      run.stderr,
      /labvm's SSH key for .* is damaged[\s\S]*next: Run `labvm down --name .*` and `labvm up --name /,
    );
    assert.doesNotMatch(run.stderr, /--identity|ssh-agent/);
  });

  test('a damaged record is named with the down + up repair (exit 4)', async () => {
    const record = await readFile(stateFile('instance.json'), 'utf8');
    await writeFile(stateFile('instance.json'), '{ "createdBy": "lab');
    const run = await lab.run(exercise());
    await writeFile(stateFile('instance.json'), record);
    assert.equal(run.code, 4, run.stderr);
    assert.match(run.stderr, /instance\.json is damaged[\s\S]*next: Run `labvm down --name/);
  });

  test('up on a ready VM restores key modes and the pinned known_hosts, so its ssh command works again', async () => {
    const knownHosts = await readFile(stateFile('known_hosts'), 'utf8');
    await chmod(stateFile('id_ed25519'), 0o644);
    await unlink(stateFile('known_hosts'));
    const run = await lab.run(['up', '--name', name]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await stat(stateFile('id_ed25519'))).mode & 0o777, 0o600);
    assert.equal(await readFile(stateFile('known_hosts'), 'utf8'), knownHosts);
    const ssh = spawnSync('ssh', ['-F', stateFile('ssh_config'), '-o', 'BatchMode=yes', `labvm-${name}`, 'true'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(ssh.status, 0, ssh.stderr);
  });

  test('dockerd stopped on the VM: an error naming Docker and how to check it; the next run succeeds once it is back', async () => {
    // The stand-in runs dockerd without systemd: stop it, and start it again the way its boot script does.
    assert.equal(inVm(name, 'pkill -x dockerd; while [ -e /var/run/docker.pid ]; do sleep 0.2; done').code, 0);
    const run = await lab.run(exercise());
    assert.equal(
      inVm(
        name,
        'setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null & for i in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done; exit 1',
      ).code,
      0,
    );
    assert.notEqual(run.code, 0);
    assertSpoke(run);
    assert.match(run.stderr, /docker\.sock[\s\S]*next: Check that Docker runs there/);
    await assertNextRunSucceeds();
  });

  test('after every fault above, a normal run still succeeds', async () => {
    await assertNextRunSucceeds();
  });
});

/** A 64 KiB tmpfs filled to the last byte (root only), removed afterwards. */
async function withFullDisk(work: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'labvm-full-'));
  try {
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]).status, 0, 'mount a tmpfs');
    spawnSync('sh', ['-c', `cat /dev/zero > ${dir}/filler`]);
    await work(dir);
  } finally {
    spawnSync('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

async function listAll(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String);
}
