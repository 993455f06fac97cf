import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  CLI,
  LabvmEnv,
  NGINX_BASE_IMAGE,
  e2eUnavailable,
  finished,
  loadImageIntoVm,
  multipassDouble,
  purgeInstance,
  uniqueName,
} from '../support/labvm.js';

/** A VM whose address does not answer from this computer: labvm carries its SSH connection through `multipass exec`. */

const skip = e2eUnavailable();
const RELAY = 'through `multipass exec`';

describe('a VM whose address cannot be reached', { skip, concurrency: false }, () => {
  const name = uniqueName('relay');
  let lab: LabvmEnv;

  before(async () => (lab = await LabvmEnv.create({ MULTIPASS_DOUBLE_UNROUTABLE: '1' })));
  after(async () => {
    purgeInstance(name);
    await lab.dispose();
  });

  test('up reaches it through multipass exec, with the pinned host key, and says so', async () => {
    const run = await lab.run(['up', '--name', name, '--timeout', '300', '--verbose']);
    assert.equal(run.code, 0, run.stderr);
    const address = /address +(\S+)/.exec(run.stdout)?.[1] ?? '';
    assert.match(address, /^192\.0\.2\.\d+$/, 'Multipass reports an address in TEST-NET-1');
    assert.match(run.stdout, new RegExp(`path +SSH ${RELAY.replace(/[`]/g, '.')}`));
    assert.match(run.stdout, new RegExp(`shell +labvm shell --name ${name}`));
    assert.match(run.stderr, /ssh +host key SHA256:\S+ matches the host key labvm pinned/);
    assert.match(run.stderr, new RegExp(`${address.replace(/\./g, '\\.')}:22 does not answer from here`));
  });

  test('status, exec and shell work over the relay', async () => {
    const status = await lab.run(['status', '--name', name, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as { sshPath: string; docker: { reachable: boolean } };
    assert.equal(report.docker.reachable, true);
    assert.match(report.sshPath, /multipass exec/);

    const exec = await lab.run(['exec', '--name', name, '--', 'sh', '-c', 'echo "$SSH_CONNECTION"; exit 5']);
    assert.equal(exec.code, 5, exec.stderr);
    assert.match(
      exec.stdout,
      /^127\.0\.0\.1 \d+ 127\.0\.0\.1 22$/m,
      'sshd saw the connection come from the relay inside the VM',
    );

    const shell = spawn('script', ['-qefc', `'${process.execPath}' '${CLI}' shell --name ${name}`, '/dev/null'], {
      env: lab.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const done = finished(shell);
    let seen = '';
    shell.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (/\$ $/.test(seen) && !seen.includes('relayed-')) shell.stdin.write('echo relayed-$((40+2)); exit 4\r');
    });
    const run = await done;
    assert.equal(run.code, 4, run.stdout + run.stderr);
    assert.match(run.stdout, /relayed-42/);
  });

  test('the exercise runs over the relay (one SSH connection for commands, the Docker API and the tunnel)', async () => {
    loadImageIntoVm(name);
    const run = await lab.run(['exercise', '--name', name, '--base-image', NGINX_BASE_IMAGE, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { pid: { same: boolean } };
    assert.equal(report.pid.same, false);
    assert.match(multipassDouble(['info', name]).stdout, /State:\s+Running/);
  });
});
