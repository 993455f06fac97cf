import { LabvmError } from '../core/errors.js';
import { labvmCommand, upCommand } from '../core/hints.js';
import { InstanceState, recordedInstanceNames } from '../core/state.js';
import { validateInstanceName } from '../core/validate.js';
import type { RemoteHost } from '../remote/ssh.js';
import { connectToInstance } from './instance.js';
import { Multipass, type InstanceInfo } from './multipass.js';
import { cloudInitStatus, isProvisioned, type CloudInitStatus } from './readiness.js';

/** Every state a labvm command can find an instance in, as a person would name it. */
export type Situation =
  'absent' | 'not-labvm' | 'stopped' | 'starting' | 'provisioning' | 'provisioning-failed' | 'ready';

/** The situation of an instance from Multipass's view alone (provisioning needs a look inside: see provisioningOf). */
export function situationOf(info: InstanceInfo | undefined, hasRecord: boolean): Situation | 'running' {
  if (!info || info.state === 'Deleted') return 'absent';
  if (!hasRecord) return 'not-labvm';
  if (info.state === 'Stopped' || info.state === 'Suspended') return 'stopped';
  return info.state === 'Running' && info.ipv4 ? 'running' : 'starting';
}

/** Looks inside a running VM: labvm's marker means ready; without it, cloud-init's status says still running or failed. */
export async function setupOf(
  remote: RemoteHost,
): Promise<{ situation: Situation; cloudInit: CloudInitStatus | null }> {
  if (await isProvisioned(remote)) return { situation: 'ready', cloudInit: null };
  const { status } = await cloudInitStatus(remote);
  const running = status === 'running' || status === 'not started' || status === 'unknown';
  return { situation: running ? 'provisioning' : 'provisioning-failed', cloudInit: status };
}

export interface SituationText {
  /** What the state is, in one sentence. */
  says: string;
  /** The one command to run next (with the right --name), and why. */
  next: string;
}

/**
 * The words for each situation. `command` is what the user ran (its --name hint for a ready VM), `others` the other
 * labvm VMs, named when the asked-for one is absent (a forgotten --name should not lead to a second VM).
 */
export function describeSituation(
  name: string,
  situation: Situation,
  command: string,
  others: string[] = [],
  detail = '',
): SituationText {
  switch (situation) {
    case 'absent': {
      const elsewhere = others.filter((other) => other !== name);
      if (elsewhere.length === 0)
        return { says: `There is no labvm VM named "${name}".`, next: `Create it with \`${upCommand(name)}\`.` };
      const which = elsewhere.length === 1 ? elsewhere[0]! : '<name>';
      return {
        says: `There is no labvm VM named "${name}"; labvm has ${elsewhere.map((other) => `"${other}"`).join(', ')}.`,
        next: `Run \`labvm ${command} --name ${which}\`, or \`${upCommand(name)}\` to create "${name}".`,
      };
    }
    case 'not-labvm':
      return {
        says: `The Multipass instance "${name}" was not created by labvm, so labvm leaves it alone.`,
        next: 'Use a labvm VM under another name: `labvm up --name <name>`.',
      };
    case 'stopped':
      return {
        says: `${name} is stopped${detail ? ` (${detail})` : ''}.`,
        next: `Run \`${upCommand(name)}\` to start it.`,
      };
    case 'starting':
      return {
        says: `${name} is starting${detail ? ` (${detail})` : ''}.`,
        next: `Run \`${upCommand(name)}\` to follow it until it is ready.`,
      };
    case 'provisioning':
      return {
        says: `${name} is still being set up (cloud-init running).`,
        next: `Run \`${upCommand(name)}\` to follow it.`,
      };
    case 'provisioning-failed':
      return {
        says: `${name}'s set-up failed (cloud-init status: ${detail || 'error'}): Docker may not be installed.`,
        next: `Run \`${upCommand(name)}\` to see the end of the set-up log, then \`${labvmCommand('down', name)}\` and \`${upCommand(name)}\` to start again.`,
      };
    case 'ready':
      return {
        says: `${name} is ready.`,
        next: `Run \`${labvmCommand(command === 'status' ? 'exercise' : command, name)}\`.`,
      };
  }
}

/** The error a command that needs a ready VM raises in any other situation. */
export function notReadyError(
  name: string,
  situation: Situation,
  command: string,
  others: string[] = [],
  detail = '',
): LabvmError {
  const { says, next } = describeSituation(name, situation, command, others, detail);
  return new LabvmError(says, situation === 'not-labvm' ? 'usage' : 'vm', next);
}

/**
 * Connects to a labvm VM that must be ready; in any other state, says which and the one command to run next.
 * `provisioned` false accepts a VM still being set up (a shell there can watch cloud-init).
 */
export async function connectToReadyInstance(
  name: string,
  command: string,
  provisioned = true,
  multipass = new Multipass(),
): Promise<RemoteHost> {
  validateInstanceName(name);
  const state = new InstanceState(name);
  const [record, info] = await Promise.all([state.readRecord(), multipass.info(name)]);
  const situation = situationOf(info, !!record);
  if (situation !== 'running' || !record) {
    const others = situation === 'absent' ? await recordedInstanceNames() : [];
    throw notReadyError(
      name,
      situation === 'running' ? 'not-labvm' : situation,
      command,
      others,
      info ? stateDetail(info) : '',
    );
  }
  const remote = await connectToInstance(state, record, info!.ipv4!, undefined, multipass);
  if (!provisioned) return remote;
  try {
    const setup = await setupOf(remote);
    if (setup.situation !== 'ready') throw notReadyError(name, setup.situation, command, [], setup.cloudInit ?? '');
    return remote;
  } catch (error) {
    remote.close();
    throw error;
  }
}

/** Multipass's words for a VM that is not up, e.g. "Starting, no IP address yet". */
export function stateDetail(info: InstanceInfo): string {
  return `Multipass: ${info.state}${info.state === 'Running' && !info.ipv4 ? ', no IP address yet' : ''}`;
}
