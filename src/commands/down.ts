import { LabvmError } from '../core/errors.js';
import { withInstanceLock } from '../core/lock.js';
import type { Progress } from '../core/progress.js';
import { InstanceState } from '../core/state.js';
import { validateInstanceName } from '../core/validate.js';
import { Multipass } from '../vm/multipass.js';

export interface DownResult {
  name: string;
  instance: 'deleted' | 'absent';
  stateRemoved: boolean;
}

/** Removes the VM (purged, so the name is free again) and labvm's state for it. Idempotent. */
export async function down(name: string, progress: Progress, multipass = new Multipass()): Promise<DownResult> {
  validateInstanceName(name);
  return withInstanceLock(name, 'down', () => downLocked(name, progress, multipass));
}

async function downLocked(name: string, progress: Progress, multipass: Multipass): Promise<DownResult> {
  const state = new InstanceState(name);
  const [info, hasState] = await Promise.all([multipass.info(name), state.exists()]);
  const record = hasState ? await state.readRecord().catch(() => undefined) : undefined;
  if (info && !record && !hasState) {
    throw new LabvmError(
      `The Multipass instance "${name}" was not created by labvm, so labvm leaves it alone.`,
      'usage',
      `Remove it with \`multipass delete --purge ${name}\` if you are sure.`,
    );
  }
  const instance = info ? await progress.phase(`deleting ${name}`, () => multipass.deletePurge(name)) : 'absent';
  if (hasState) await progress.phase(`removing ${state.dir}`, () => state.remove());
  return { name, instance, stateRemoved: hasState };
}
