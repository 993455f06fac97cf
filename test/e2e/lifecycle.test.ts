import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InstanceState } from '../../src/core/state.js';
import { connectToInstance } from '../../src/vm/instance.js';
import {
  LabvmEnv,
  e2eUnavailable,
  finished,
  interruptWhen,
  inVm,
  instanceState,
  leftoversOf,
  multipassDouble,
  purgeInstance,
  uniqueName,
} from '../support/labvm.js';

/** labvm up / status / down through the Multipass test double, against real VM stand-ins. */

const skip = e2eUnavailable();

interface Status {
  state: string;
  managedByLabvm: boolean;
  ipv4: string | null;
  cloudInit: string | null;
  docker: { reachable: boolean; version: string | null; error: string | null };
}

describe('labvm up, status and down', { skip, concurrency: false }, () => {
  const name = uniqueName('life');
  let lab: LabvmEnv;

  before(async () => (lab = await LabvmEnv.create()));
  after(async () => {
    purgeInstance(name);
    await lab.dispose();
  });

  test('up launches the VM through Multipass and follows it to a ready Docker', async () => {
    const run = await lab.run(['up', '--name', name, '--timeout', '300']);
    assert.equal(run.code, 0, run.stderr);
    for (const phase of [
      'preflight',
      'launching',
      'SSH reachable',
      'cloud-init finished',
      'Docker reachable over SSH',
    ]) {
      assert.match(run.stderr, new RegExp(`✔ ${phase}.* \\d+\\.\\ds`), `phase "${phase}" with its elapsed time`);
    }
    assert.match(run.stdout, new RegExp(`${name} is ready`));
    assert.match(run.stdout, /docker\s+\S+ \(reached over SSH\)/);
    assert.match(run.stdout, new RegExp(`Next: labvm exercise --name ${name}`));
    const clientKey = await readFile(join(lab.home, name, 'id_ed25519'), 'utf8');
    const keyBody = clientKey.split('\n')[2]!;
    for (const output of [run.stdout, run.stderr]) {
      assert.doesNotMatch(output, /PRIVATE KEY/, 'no private key in the output');
      assert.ok(!output.includes(keyBody), 'no client key material in the output');
    }
  });

  test('state is private to the user: folder 0700, files 0600', async () => {
    const dir = join(lab.home, name);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    for (const file of ['id_ed25519', 'id_ed25519.pub', 'known_hosts', 'instance.json', 'ssh_config']) {
      assert.equal((await stat(join(dir, file))).mode & 0o777, 0o600, file);
    }
  });

  test('the pinned host key is the one the VM serves', async () => {
    const pinned = (await readFile(join(lab.home, name, 'known_hosts'), 'utf8')).trim().split(/\s+/);
    assert.equal(pinned[0], `labvm-${name}`, 'pinned under an alias, not the IP');
    const served = inVm(name, 'cat /etc/ssh/ssh_host_ed25519_key.pub').stdout.trim().split(/\s+/);
    assert.equal(pinned[2], served[1]);
    assert.equal(
      inVm(name, 'ls /etc/ssh/ | grep -c "^ssh_host_.*_key$"').stdout.trim(),
      '1',
      'only the ed25519 host key exists',
    );
  });

  test('status --json reports a running VM with cloud-init done and Docker reachable', async () => {
    const run = await lab.run(['status', '--name', name, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const status = JSON.parse(run.stdout) as Status;
    assert.equal(status.state, 'Running');
    assert.equal(status.managedByLabvm, true);
    assert.match(status.ipv4 ?? '', /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal(status.cloudInit, 'done');
    assert.equal(status.docker.reachable, true);
    assert.equal(status.docker.version, inVm(name, 'docker version --format "{{.Server.Version}}"').stdout.trim());
    assert.doesNotMatch(run.stdout, /PRIVATE KEY/);
  });

  test('the Docker API answers over the SSH connection, and Docker is not exposed on TCP', async () => {
    const state = new InstanceState(name, lab.home);
    const record = (await state.readRecord())!;
    const ip = (JSON.parse((await lab.run(['status', '--name', name, '--json'])).stdout) as Status).ipv4!;
    const remote = await connectToInstance(state, record, ip);
    try {
      const containerName = `api-check-${process.pid}`;
      await remote.docker.api.createVolume({ Name: containerName });
      assert.ok(
        inVm(name, 'docker volume ls -q').stdout.split('\n').includes(containerName),
        'the volume exists in the VM',
      );
      await remote.docker.api.getVolume(containerName).remove();
      assert.equal(String(await remote.docker.api.ping()), 'OK');
    } finally {
      remote.close();
    }
    const listeners = inVm(name, 'ss -ltnH 2>/dev/null || netstat -ltn').stdout;
    assert.doesNotMatch(listeners, /:(2375|2376)\b/);
  });

  test('up on a ready VM says so quickly, without relaunching', async () => {
    const run = await lab.run(['up', '--name', name]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /was already ready/);
    assert.doesNotMatch(run.stderr, /launching/);
    assert.match(
      run.stderr,
      /✔ cloud-init finished .*provisioned \(\/var\/lib\/labvm\/provisioned\)/,
      'the marker, not a cloud-init round',
    );
  });

  test('up starts a stopped VM', async () => {
    const stopped = multipassDouble(['stop', name]);
    assert.equal(stopped.code, 0, stopped.stderr);
    const run = await lab.run(['up', '--name', name, '--timeout', '180']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /starting .* \(it was Stopped\)/);
    assert.match(run.stdout, /is ready/);
  });

  test('a VM serving a different host key is refused', async () => {
    // A new host key, loaded by sshd on SIGHUP: the VM now presents a key labvm never pinned.
    const rekey = inVm(
      name,
      'rm -f /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key && pkill -HUP -o -x sshd',
    );
    assert.equal(rekey.code, 0, rekey.stderr);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const run = await lab.run(['up', '--name', name, '--timeout', '60']);
    assert.equal(run.code, 6, run.stderr);
    assert.match(run.stderr, /presented SSH host key SHA256:\S+, which does not match the host key labvm pinned/);
    assert.match(run.stderr, /next: .*labvm down/);
    // status refuses the same way: a trust failure is an error of its own, never folded into a report.
    const status = await lab.run(['status', '--name', name, '--json']);
    assert.equal(status.code, 6, status.stderr);
    assert.equal(status.stdout, '');
    assert.match(status.stderr, /does not match the host key labvm pinned/);
  });

  test('down removes the instance, its container and volume, and the state folder', async () => {
    const run = await lab.run(['down', '--name', name]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /deleted and purged/);
    assert.deepEqual(leftoversOf(name), []);
    await assert.rejects(stat(join(lab.home, name)), { code: 'ENOENT' });
    const list = JSON.parse(multipassDouble(['list', '--format', 'json']).stdout) as { list: Array<{ name: string }> };
    assert.ok(!list.list.some((instance) => instance.name === name), 'not even a Deleted instance remains');
  });

  test('down again is not an error', async () => {
    const run = await lab.run(['down', '--name', name]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /no instance named/);
  });
});

describe('labvm up resumes and refuses', { skip, concurrency: false }, () => {
  let lab: LabvmEnv;
  const names: string[] = [];
  const fresh = (prefix: string) => {
    const name = uniqueName(prefix);
    names.push(name);
    return name;
  };

  before(async () => (lab = await LabvmEnv.create()));
  after(async () => {
    names.forEach(purgeInstance);
    await lab.dispose();
  });

  /** A second `up` follows the instance the first one left (it never launches another) to a ready Docker. */
  async function resumesToReady(name: string): Promise<void> {
    const again = await lab.run(['up', '--name', name, '--timeout', '300']);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /launching/, 'followed, not relaunched');
    assert.match(again.stdout, new RegExp(`${name} (is|was already) ready`));
  }

  async function downLeavesNothing(name: string): Promise<void> {
    assert.equal((await lab.run(['down', '--name', name])).code, 0);
    assert.deepEqual(leftoversOf(name), []);
  }

  test('a launch that times out in Multipass is followed to readiness by the same up', async () => {
    const name = fresh('resume');
    const run = await lab.run(['up', '--name', name, '--timeout', '300'], {
      MULTIPASS_DOUBLE_CLOUD_INIT_DELAY: '12',
      MULTIPASS_DOUBLE_PHASE_TIMEOUT: '3', // "timed out waiting for initialization to complete", exit 2
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Multipass stopped waiting, but the VM keeps provisioning/);
    assert.match(run.stdout, new RegExp(`${name} is ready`));
    await downLeavesNothing(name);
  });

  test("labvm's --timeout bounds the launch (exit 5, with the next step), and the next up resumes", async () => {
    const name = fresh('deadline');
    const slow = { MULTIPASS_DOUBLE_CLOUD_INIT_DELAY: '20' };
    const run = await lab.run(['up', '--name', name, '--timeout', '6'], slow);
    assert.equal(run.code, 5, run.stderr);
    assert.match(run.stderr, /Timed out after 6s waiting for/);
    assert.match(run.stderr, new RegExp(`next: .*labvm up --name ${name}\` again`));
    await resumesToReady(name);
    await downLeavesNothing(name);
  });

  test('Ctrl-C while launching: labvm exits 130, and the next up follows the VM to readiness', async () => {
    const name = fresh('ctrlc');
    const child = lab.spawn(['up', '--name', name, '--timeout', '300'], { MULTIPASS_DOUBLE_CLOUD_INIT_DELAY: '5' });
    const done = finished(child);
    interruptWhen(child, 'Starting ');
    const run = await done;
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stderr, new RegExp(`✖ launching ${name} .* — interrupted`), 'the cut phase gets its failure mark');
    assert.match(
      run.stderr,
      new RegExp(
        `interrupted\\. Run \`labvm up --name ${name}\` to resume, or \`labvm down --name ${name}\` to remove the VM\\.`,
      ),
    );
    await resumesToReady(name);
    await downLeavesNothing(name);
  });

  test('a launch that fails before the VM exists leaves no state and no instance behind', async () => {
    const name = fresh('nolaunch');
    const run = await lab.run(['up', '--name', name], { MULTIPASS_DOUBLE_IMAGE: 'labvm-test/no-such-image:latest' });
    assert.equal(run.code, 4, run.stderr);
    assert.match(run.stderr, /^labvm: launch failed: .+\n {2}next: Multipass's own words are above/m);
    await assert.rejects(stat(join(lab.home, name)), { code: 'ENOENT' });
    assert.deepEqual(leftoversOf(name), []);
  });

  test('failed provisioning is reported with its phase, cause and the end of the cloud-init log', async () => {
    const name = fresh('broken');
    const failing = { MULTIPASS_DOUBLE_FAILING_RUNCMD: 'echo "simulated provisioning failure" >&2; exit 3' };
    const run = await lab.run(['up', '--name', name, '--timeout', '300'], failing);
    assert.equal(run.code, 4, run.stderr);
    assert.match(run.stderr, /✖ cloud-init finished/);
    assert.match(
      run.stderr,
      /cloud-init finished with status "error" on the VM, and labvm's provisioning did not complete/,
    );
    assert.match(run.stderr, /last lines of \/var\/log\/cloud-init-output.log[\s\S]*simulated provisioning failure/);
    assert.match(run.stderr, new RegExp(`next: .*labvm down --name ${name}`));
    const again = await lab.run(['up', '--name', name, '--timeout', '60']);
    assert.equal(again.code, 4, 'a second up reports the same failure instead of calling the VM ready');
    await downLeavesNothing(name);
  });

  test('an instance labvm did not create is refused, and left alone by down', async () => {
    const name = fresh('foreign');
    const launched = multipassDouble(['launch', '--name', name, '--cloud-init', '-'], '#cloud-config\n{}\n');
    assert.equal(launched.code, 0, launched.stderr);
    const up = await lab.run(['up', '--name', name]);
    assert.equal(up.code, 2);
    assert.match(up.stderr, /already exists, and labvm did not create it/);
    const down = await lab.run(['down', '--name', name]);
    assert.equal(down.code, 2);
    assert.match(down.stderr, /not created by labvm/);
    assert.equal(instanceState(multipassDouble(['info', name, '--format', 'json']).stdout, name), 'Running');
  });

  test('bad input fails before anything runs, and leaves nothing behind', async () => {
    for (const args of [
      ['--name', '9lives'],
      ['--memory', '1CiG'],
      ['--disk', '100M'],
      ['--cpus', '0'],
      ['--timeout', 'soon'],
    ]) {
      const run = await lab.run(['up', ...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /^labvm: .+\n( {2}next: .+)?/);
      assert.doesNotMatch(run.stderr, /preflight/, 'validated before anything ran');
    }
    await assert.rejects(stat(join(lab.home, 'labvm')), { code: 'ENOENT' });
  });

  test('a missing Multipass or an unreachable daemon is a prerequisite error with the next step', async () => {
    const daemonDown = await lab.run(['up', '--name', fresh('nodaemon')], { MULTIPASS_DOUBLE_DAEMON_DOWN: '1' });
    assert.equal(daemonDown.code, 3);
    assert.match(daemonDown.stderr, /multipassd\) is not answering[\s\S]*next: Start the daemon/);
    const missing = await lab.run(['up'], { LABVM_MULTIPASS: join(lab.home, 'no-such-multipass') });
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /multipass command was not found[\s\S]*next: Install Multipass/);
  });
});
