// Smoke test of the test infrastructure: the Multipass test double (test/double) launching a VM
// stand-in (test/standin) from a labvm-like user-data, then the contract labvm relies on.
// Needs the host prepared by scripts/test-host/prepare.sh; skipped only when no Docker engine answers.
// Run: npx tsc -p . && node --test dist/test/e2e/standin.test.js

import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { instanceState } from '../support/labvm.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MULTIPASS = join(REPO_ROOT, 'test/double/bin/multipass');
const BOOT_FINISHED = '/var/lib/cloud/instance/boot-finished';
const HOST_ALIAS = 'labvm-standin-smoke';
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

const suffix = `${process.pid}-${Date.now().toString(36)}`;
const NAME = `smoke-${suffix}`;
const SLOW_NAME = `smoke-slow-${suffix}`;

const dockerDown = spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0;

function multipass(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  return spawnSync(MULTIPASS, args, {
    input: options.input ?? '',
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    timeout: 600_000,
  });
}

function describeResult(r: SpawnSyncReturns<string>) {
  return `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

function sleep(ms: number) {
  return new Promise((done) => setTimeout(done, ms));
}

/** Keys and user-data like labvm's: client key authorised, host key pair imposed, docker group. */
function makeFixture(dir: string) {
  for (const key of ['client', 'host']) {
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', key, '-f', join(dir, key)]);
    assert.equal(r.status, 0, `ssh-keygen: ${r.stderr.toString()}`);
  }
  const clientPub = readFileSync(join(dir, 'client.pub'), 'utf8').trim();
  const hostPub = readFileSync(join(dir, 'host.pub'), 'utf8').trim();
  const hostPrivate = readFileSync(join(dir, 'host'), 'utf8');
  const userData = [
    '#cloud-config',
    'ssh_authorized_keys:',
    `  - ${clientPub}`,
    'ssh_deletekeys: true',
    'ssh_genkeytypes: [ed25519]',
    'ssh_keys:',
    '  ed25519_private: |',
    ...hostPrivate
      .trimEnd()
      .split('\n')
      .map((line) => `    ${line}`),
    `  ed25519_public: ${hostPub}`,
    'groups: [docker]',
    'write_files:',
    '  - path: /opt/labvm/marker',
    '    content: written-by-cloud-init',
    'runcmd:',
    "  - [sh, -c, 'command -v docker >/dev/null || echo docker missing; usermod -aG docker ubuntu']",
    '',
  ].join('\n');
  const [type, key] = hostPub.split(' ');
  writeFileSync(join(dir, 'known_hosts'), `${HOST_ALIAS} ${type} ${key}\n`);
  // Same alias, some other key: must be refused.
  const otherPub = readFileSync(join(dir, 'client.pub'), 'utf8').split(' ');
  writeFileSync(join(dir, 'wrong_known_hosts'), `${HOST_ALIAS} ${otherPub[0]} ${otherPub[1]}\n`);
  return userData;
}

describe(
  'multipass double + VM stand-in',
  { skip: dockerDown ? 'no Docker engine answers `docker info` (run scripts/test-host/prepare.sh)' : false },
  () => {
    let dir = '';
    let userData = '';
    let ip = '';

    const ssh = (knownHosts: string, command: string) =>
      spawnSync(
        'ssh',
        [
          '-o',
          'BatchMode=yes',
          '-o',
          'StrictHostKeyChecking=yes',
          '-o',
          `UserKnownHostsFile=${join(dir, knownHosts)}`,
          '-o',
          'GlobalKnownHostsFile=/dev/null',
          '-o',
          `HostKeyAlias=${HOST_ALIAS}`,
          '-o',
          'IdentitiesOnly=yes',
          '-o',
          'ConnectTimeout=10',
          '-o',
          'LogLevel=ERROR',
          '-i',
          join(dir, 'client'),
          `ubuntu@${ip}`,
          command,
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'labvm-standin-smoke-'));
      userData = makeFixture(dir);
    });

    after(() => {
      for (const name of [NAME, SLOW_NAME]) multipass(['delete', '--purge', name]);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('launches from user-data on stdin, with spinner noise and "Launched:"', { timeout: 600_000 }, () => {
      const r = multipass(['launch', '-n', NAME, '--cloud-init', '-'], { input: userData });
      assert.equal(r.status, 0, describeResult(r));
      assert.match(r.stdout, /\x1B\[2K/, 'spinner escapes even without a TTY');
      assert.match(r.stdout, new RegExp(`Creating ${NAME}`));
      assert.match(r.stdout, /Waiting for initialization to complete/);
      assert.match(r.stdout, new RegExp(`Launched: ${NAME}\\n$`));
    });

    it('info --format json has the documented shape, Running with an IPv4', () => {
      const r = multipass(['info', NAME, '--format', 'json']);
      assert.equal(r.status, 0, describeResult(r));
      const doc = JSON.parse(r.stdout) as { errors: unknown[]; info: Record<string, Record<string, unknown>> };
      assert.deepEqual(doc.errors, []);
      assert.deepEqual(Object.keys(doc.info), [NAME]);
      const info = doc.info[NAME]!;
      assert.deepEqual(Object.keys(info).sort(), [
        'cpu_count',
        'disks',
        'image_hash',
        'image_release',
        'ipv4',
        'load',
        'memory',
        'mounts',
        'release',
        'snapshot_count',
        'state',
      ]);
      assert.equal(info.state, 'Running');
      assert.equal(info.cpu_count, '1');
      assert.equal(info.image_release, '24.04 LTS');
      assert.equal(info.snapshot_count, '0');
      assert.deepEqual(info.mounts, {});
      const disk = (info.disks as { sda1: Record<string, unknown> }).sda1;
      assert.equal(typeof disk.total, 'string');
      assert.equal(typeof disk.used, 'string');
      const memory = info.memory as Record<string, unknown>;
      assert.ok(Number.isInteger(memory.total) && Number.isInteger(memory.used), JSON.stringify(memory));
      assert.equal((info.load as unknown[]).length, 3);
      assert.ok(typeof info.release === 'string' && info.release.length > 0);
      const ipv4 = info.ipv4 as string[];
      assert.match(ipv4[0] ?? '', IPV4);
      ip = ipv4[0]!;

      const listed = JSON.parse(multipass(['list', '--format', 'json']).stdout) as { list: Record<string, unknown>[] };
      assert.deepEqual(
        listed.list.find((i) => i.name === NAME),
        { ipv4: [ip], name: NAME, release: 'Ubuntu 24.04 LTS', state: 'Running' },
      );
    });

    it('serves exactly the imposed host key; a fresh login reaches dockerd through the docker group', () => {
      const r = ssh('known_hosts', "docker version --format '{{.Server.Version}}'");
      assert.equal(r.status, 0, describeResult(r));
      assert.match(r.stdout.trim(), /^\d+\.\d+/);
      const refused = ssh('wrong_known_hosts', 'true');
      assert.equal(refused.status, 255, 'a different pinned key must make ssh refuse the host');
      assert.match(refused.stderr, /host key|HOST IDENTIFICATION/i);
    });

    it('exec passes the remote exit code, runs as ubuntu in /home/ubuntu, passes stdin', () => {
      assert.equal(multipass(['exec', NAME, '--', 'sh', '-c', 'exit 33']).status, 33);
      const r = multipass(['exec', NAME, '--', 'sh', '-c', 'echo "$(id -un) $(pwd) $(cat)"'], { input: 'piped' });
      assert.equal(r.status, 0, describeResult(r));
      assert.equal(r.stdout, 'ubuntu /home/ubuntu piped\n');
    });

    it('cloud-init finished with status done and applied the user-data', () => {
      const r = multipass(['exec', NAME, '--', 'cloud-init', 'status']);
      assert.equal(r.status, 0, describeResult(r));
      assert.match(r.stdout, /status: done/);
      assert.equal(multipass(['exec', NAME, '--', 'cat', '/opt/labvm/marker']).stdout, 'written-by-cloud-init');
    });

    it('launch --timeout exits 5 and leaves the instance provisioning to the end', { timeout: 300_000 }, async () => {
      const r = multipass(['launch', '-n', SLOW_NAME, '--timeout', '3', '--cloud-init', '-'], {
        input: userData,
        env: { MULTIPASS_DOUBLE_CLOUD_INIT_DELAY: '20' },
      });
      assert.equal(r.status, 5, describeResult(r));
      assert.equal(r.stderr, 'Timed out waiting for instance launch.\n');
      const state = instanceState(multipass(['info', SLOW_NAME, '--format', 'json']).stdout, SLOW_NAME);
      assert.ok(state === 'Starting' || state === 'Running', `state right after the timeout: ${state ?? 'none'}`);
      const deadline = Date.now() + 240_000;
      while (multipass(['exec', SLOW_NAME, '--', 'test', '-e', BOOT_FINISHED]).status !== 0) {
        assert.ok(Date.now() < deadline, 'boot-finished never appeared');
        await sleep(2000);
      }
      assert.match(multipass(['exec', SLOW_NAME, '--', 'cloud-init', 'status']).stdout, /status: done/);
    });

    it('delete marks Deleted; delete --purge leaves no container and no volume', () => {
      assert.equal(multipass(['delete', SLOW_NAME]).status, 0);
      const listed = JSON.parse(multipass(['list', '--format', 'json']).stdout) as { list: Record<string, unknown>[] };
      assert.equal(listed.list.find((i) => i.name === SLOW_NAME)?.state, 'Deleted');
      const again = multipass(['launch', '-n', SLOW_NAME]);
      assert.equal(again.status, 2);
      assert.equal(again.stderr, `launch failed: instance "${SLOW_NAME}" already exists\n`);

      const r = multipass(['delete', '--purge', SLOW_NAME]);
      assert.equal(r.status, 0, describeResult(r));
      assert.equal(r.stdout, '');
      const containers = spawnSync(
        'docker',
        ['ps', '-aq', '--filter', `label=multipass-double.instance=${SLOW_NAME}`],
        { encoding: 'utf8' },
      );
      assert.equal(containers.stdout.trim(), '');
      const volumes = spawnSync(
        'docker',
        ['volume', 'ls', '-q', '--filter', `label=multipass-double.instance=${SLOW_NAME}`],
        { encoding: 'utf8' },
      );
      assert.equal(volumes.stdout.trim(), '');
    });

    it('reports errors with the real messages and exit codes', () => {
      const badName = multipass(['launch', '-n', '1bad']);
      assert.equal(badName.status, 2);
      assert.equal(badName.stderr, 'launch failed: Invalid arguments supplied\nInvalid instance name supplied: 1bad\n');
      const missing = multipass(['info', SLOW_NAME, '--format', 'json']);
      assert.equal(missing.status, 2);
      assert.equal(missing.stdout, '');
      assert.equal(
        missing.stderr,
        `info failed: The following errors occurred:\ninstance "${SLOW_NAME}" does not exist\n`,
      );
      const noName = multipass(['delete']);
      assert.equal(noName.status, 1);
      assert.equal(noName.stderr, 'Name argument or --all is required\n');
      const down = multipass(['list'], { env: { MULTIPASS_DOUBLE_DAEMON_DOWN: '1' } });
      assert.equal(down.status, 2);
      assert.equal(down.stderr, 'list failed: cannot connect to the multipass socket\n');
    });
  },
);
