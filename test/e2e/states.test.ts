import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { LabvmEnv, e2eUnavailable, finished, multipassDouble, purgeInstance, uniqueName } from '../support/labvm.js';

/**
 * Every state a user can meet (absent, starting, still provisioning, ready, stopped, not labvm's, provisioning
 * failed), walked through `status`, `exercise` and `up`: each names the state and the one next command, --name kept.
 */

const skip = e2eUnavailable();

/** Resolves once the child's stderr contains `text`. */
function stderrReaches(child: ChildProcess, text: string): Promise<void> {
  let seen = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(text)) resolve();
    });
    child.on('close', () => reject(new Error(`exited before printing "${text}":\n${seen}`)));
  });
}

describe('instance states through status, exercise and up', { skip, concurrency: false }, () => {
  const name = uniqueName('state');
  const failing = uniqueName('statefail');
  let lab: LabvmEnv;

  before(async () => (lab = await LabvmEnv.create()));
  after(async () => {
    purgeInstance(name);
    purgeInstance(failing);
    await lab.dispose();
  });

  const status = (args: string[] = ['--name', name]) => lab.run(['status', ...args]);
  const exercise = (args: string[] = ['--name', name]) => lab.run(['exercise', ...args]);

  test('absent: status and exercise say so and how to create it', async () => {
    const shown = await status();
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(
      shown.stdout,
      `There is no labvm VM named "${name}".\nnext: Create it with \`labvm up --name ${name}\`.\n`,
    );
    const run = await exercise();
    assert.equal(run.code, 4, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`There is no labvm VM named "${name}"\\.\\n {2}next: Create it with \`labvm up --name ${name}\``),
    );
  });

  test('starting, then still provisioning; Ctrl-C keeps --name and marks the phase it cut', async () => {
    const child = lab.spawn(['up', '--name', name, '--timeout', '900'], {
      MULTIPASS_DOUBLE_CLOUD_INIT_DELAY: '45', // no sshd yet: Multipass says Starting
      MULTIPASS_DOUBLE_PHASE_TIMEOUT: '2',
      MULTIPASS_DOUBLE_FAILING_RUNCMD: 'sleep 75', // then cloud-init runs for a while
    });
    const done = finished(child);
    await stderrReaches(child, 'Multipass stopped waiting');
    const [starting, early] = await Promise.all([status(), exercise()]);
    assert.match(starting.stdout, new RegExp(`^${name} is starting \\(`), starting.stdout);
    assert.match(
      starting.stdout,
      new RegExp(`next: Run \`labvm up --name ${name}\` to follow it until it is ready\\.`),
    );
    // The running `up` holds the instance: the exercise says which command is at work instead of racing it.
    assert.equal(early.code, 8, early.stderr);
    assert.match(early.stderr, new RegExp(`\`labvm up\` \\(PID \\d+, since [^)]+\\) is working on "${name}"`));

    await stderrReaches(child, '✔ SSH reachable');
    const provisioning = await status();
    assert.match(
      provisioning.stdout,
      new RegExp(`^${name} is still being set up \\(cloud-init running\\)\\.`),
      provisioning.stdout,
    );
    assert.match(provisioning.stdout, new RegExp(`next: Run \`labvm up --name ${name}\` to follow it\\.$`, 'm'));
    assert.doesNotMatch(provisioning.stdout, /Channel open failure|systemctl/);
    const json = JSON.parse((await status(['--name', name, '--json'])).stdout) as { situation: string; next: string };
    assert.equal(json.situation, 'provisioning');
    child.kill('SIGINT');
    const cut = await done;
    assert.equal(cut.code, 130, cut.stderr);
    assert.match(cut.stderr, /✖ cloud-init finished \d+\.\ds — interrupted/);
    assert.match(
      cut.stderr,
      new RegExp(
        `labvm: interrupted\\. Run \`labvm up --name ${name}\` to resume, or \`labvm down --name ${name}\` to remove the VM\\.`,
      ),
    );

    // up was cut short while cloud-init still runs in the VM: the exercise names that state and the next step.
    const run = await exercise();
    assert.equal(run.code, 4, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(
        `labvm: ${name} is still being set up \\(cloud-init running\\)\\.\\n {2}next: Run \`labvm up --name ${name}\` to follow it\\.`,
      ),
    );
    assert.doesNotMatch(run.stderr, /docker\.sock|Channel open failure/);

    const resumed = await lab.run(['up', '--name', name, '--timeout', '900']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`${name} is ready`));
  });

  test('ready: status points to the exercise, up says it was ready', async () => {
    const shown = await status();
    assert.match(shown.stdout, new RegExp(`^${name} is ready\\.`));
    assert.match(shown.stdout, new RegExp(`next: Run \`labvm exercise --name ${name}\`\\.$`, 'm'));
    const again = await lab.run(['up', '--name', name]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`${name} was already ready`));
  });

  test('a forgotten --name names the labvm VMs instead of steering to a new one', async () => {
    const shown = await status([]);
    assert.equal(shown.code, 0);
    assert.match(shown.stdout, new RegExp(`There is no labvm VM named "labvm"; labvm has "${name}"\\.`));
    assert.match(
      shown.stdout,
      new RegExp(`next: Run \`labvm status --name ${name}\`, or \`labvm up\` to create "labvm"\\.`),
    );
    const run = await exercise([]);
    assert.equal(run.code, 4);
    assert.match(
      run.stderr,
      new RegExp(`next: Run \`labvm exercise --name ${name}\`, or \`labvm up\` to create "labvm"\\.`),
    );
  });

  test('stopped: status and exercise say so; up starts it', async () => {
    assert.equal(multipassDouble(['stop', name]).code, 0);
    const shown = await status();
    assert.match(shown.stdout, new RegExp(`^${name} is stopped`));
    assert.match(shown.stdout, new RegExp(`next: Run \`labvm up --name ${name}\` to start it\\.$`, 'm'));
    const run = await exercise();
    assert.equal(run.code, 4);
    assert.match(
      run.stderr,
      new RegExp(`${name} is stopped.*\\n {2}next: Run \`labvm up --name ${name}\` to start it\\.`),
    );
    const started = await lab.run(['up', '--name', name]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stderr, /✔ starting/);
  });

  test("not labvm's: status says so, exercise and up refuse with exit 2", async () => {
    await rename(join(lab.home, name), join(lab.home, `${name}-moved`));
    const shown = await status();
    assert.match(shown.stdout, new RegExp(`The Multipass instance "${name}" was not created by labvm`));
    assert.match(shown.stdout, /next: Use a labvm VM under another name: `labvm up --name <name>`\./);
    assert.equal((await exercise()).code, 2);
    const up = await lab.run(['up', '--name', name]);
    assert.equal(up.code, 2, up.stderr);
    assert.match(up.stderr, /labvm did not create it/);
  });

  test('provisioning failed: up shows the log, status and exercise name the failure and the next command', async () => {
    const up = await lab.run(['up', '--name', failing, '--timeout', '600'], {
      MULTIPASS_DOUBLE_FAILING_RUNCMD: 'echo "simulated provisioning failure" >&2; exit 3',
    });
    assert.equal(up.code, 4, up.stderr);
    const shown = await status(['--name', failing]);
    assert.match(
      shown.stdout,
      new RegExp(`^${failing}'s set-up failed \\(cloud-init status: (error|degraded|done)\\)`),
      shown.stdout,
    );
    assert.match(shown.stdout, new RegExp(`next: Run \`labvm up --name ${failing}\` to see the end of the set-up log`));
    const run = await exercise(['--name', failing]);
    assert.equal(run.code, 4, run.stderr);
    assert.match(run.stderr, new RegExp(`${failing}'s set-up failed`));
  });
});
