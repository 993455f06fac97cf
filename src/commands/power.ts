import { LabvmError, usageError } from '../core/errors.js';
import { upCommand } from '../core/hints.js';
import type { Progress } from '../core/progress.js';
import { withInstanceLock } from '../core/lock.js';
import { InstanceState, recordedInstanceNames } from '../core/state.js';
import { validateInstanceName } from '../core/validate.js';
import { Multipass, type InstanceInfo } from '../vm/multipass.js';
import { Deadline, waitForAddress, waitForSsh } from '../vm/readiness.js';

export interface PowerResult {
  name: string;
  /** What labvm did: "stopped"/"started", or "already" when the VM was in that state. */
  action: 'stopped' | 'started' | 'already';
  address?: string;
}

/** Parks the VM (or every labvm VM) without deleting anything; `labvm start` or `labvm up` resumes it. */
export async function stop(
  names: { name: string; all: boolean },
  progress: Progress,
  multipass = new Multipass(),
): Promise<PowerResult[]> {
  const targets = names.all ? await recordedInstanceNames() : [names.name];
  const results: PowerResult[] = [];
  for (const name of targets) {
    validateInstanceName(name);
    await withInstanceLock(name, 'stop', async () => {
      const info = await labvmInstance(name, multipass, !names.all);
      if (!info) return; // --all skips records whose instance is gone (`labvm list` shows them)
      if (info.state === 'Stopped') results.push({ name, action: 'already' });
      else {
        await progress.phase(`stopping ${name}`, () => multipass.stop(name));
        results.push({ name, action: 'stopped' });
      }
    });
  }
  return results;
}

/** Starts a stopped labvm VM and waits until it answers over SSH with its pinned host key. */
export async function start(
  name: string,
  timeoutSeconds: number,
  progress: Progress,
  multipass = new Multipass(),
): Promise<PowerResult> {
  validateInstanceName(name);
  return withInstanceLock(name, 'start', () => startLocked(name, timeoutSeconds, progress, multipass));
}

async function startLocked(
  name: string,
  timeoutSeconds: number,
  progress: Progress,
  multipass: Multipass,
): Promise<PowerResult> {
  const info = (await labvmInstance(name, multipass, true))!;
  const deadline = Deadline.in(timeoutSeconds);
  if (info.state !== 'Running') await progress.phase(`starting ${name}`, () => multipass.start(name));
  const running = await progress.phase(
    'VM running with an IP address',
    (update) => waitForAddress(multipass, name, deadline, update),
    (i) => i.ipv4!,
  );
  const state = new InstanceState(name);
  const remote = await progress.phase('SSH reachable (host key verified against the pinned key)', async (update) =>
    waitForSsh(state, (await state.readRecord())!, running.ipv4!, deadline, update),
  );
  remote.close();
  return { name, action: info.state === 'Running' ? 'already' : 'started', address: running.ipv4 };
}

/** The instance behind one of labvm's records; refuses names labvm did not create. */
async function labvmInstance(name: string, multipass: Multipass, required: boolean): Promise<InstanceInfo | undefined> {
  validateInstanceName(name);
  const [record, info] = await Promise.all([new InstanceState(name).readRecord(), multipass.info(name)]);
  if (!record && info) {
    throw usageError(
      `The Multipass instance "${name}" was not created by labvm, so labvm leaves it alone.`,
      `Use \`multipass stop ${name}\` / \`multipass start ${name}\` for it.`,
    );
  }
  if ((!info || info.state === 'Deleted') && required) {
    throw new LabvmError(
      record
        ? `The VM "${name}" no longer exists in Multipass; only labvm's record of it is left.`
        : `There is no labvm VM named "${name}".`,
      'vm',
      record
        ? `Run \`labvm down --name ${name}\` to remove the record, then \`${upCommand(name)}\`.`
        : `Run \`${upCommand(name)}\` first.`,
    );
  }
  return info && info.state !== 'Deleted' ? info : undefined;
}
