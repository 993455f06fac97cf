import { LabvmError, dockerErrorMessage, errorMessage } from '../core/errors.js';
import { NotYet, StopRetrying, retry } from '../core/wait.js';
import type { InstanceState, InstanceRecord } from '../core/state.js';
import type { RemoteHost } from '../remote/ssh.js';
import { PROVISIONED_MARKER } from './vm-paths.js';
import { labvmCommand, upCommand } from '../core/hints.js';
import { connectToInstance } from './instance.js';
import type { InstanceInfo, Multipass } from './multipass.js';

/** The checks `up` follows, in order. Each polls until ready or until the deadline. */

export class Deadline {
  constructor(
    readonly at: number,
    readonly totalSeconds: number,
  ) {}

  static in(seconds: number): Deadline {
    return new Deadline(Date.now() + seconds * 1000, seconds);
  }

  get remainingMs(): number {
    return Math.max(0, this.at - Date.now());
  }

  /** The time-out error; `cause` is what the last attempt saw. */
  expired(what: string, hint: string, cause?: unknown): LabvmError {
    return new LabvmError(`Timed out after ${this.totalSeconds}s waiting for ${what}.`, 'timeout', hint, undefined, {
      cause,
    });
  }
}

const POLL = { intervalMs: 500, factor: 1.5, maxIntervalMs: 5_000, randomize: true } as const;

/** How long a Running VM may lack an address before labvm stops hoping (VirtualBox's NAT never gives one). */
const NO_ADDRESS_LIMIT_MS = 120_000;

/** Waits until Multipass reports the instance Running with a valid IPv4 (skipping [] and ["N/A"]). */
export async function waitForAddress(
  multipass: Multipass,
  name: string,
  deadline: Deadline,
  update: (detail: string) => void,
): Promise<InstanceInfo> {
  let runningSince: number | undefined;
  return retry(
    async () => {
      const info = await multipass.info(name);
      if (!info)
        throw new StopRetrying(
          new LabvmError(
            `The instance "${name}" disappeared while labvm was waiting for it.`,
            'vm',
            `Run \`${upCommand(name)}\` again.`,
          ),
        );
      if (info.state === 'Running' && info.ipv4) return info;
      if (info.state === 'Running' && Date.now() - (runningSince ??= Date.now()) > NO_ADDRESS_LIMIT_MS) {
        throw new StopRetrying(
          new LabvmError(
            `The VM "${name}" runs but Multipass reports no reachable IP address.`,
            'vm',
            `On Windows with VirtualBox, Multipass VMs have no IP reachable from the host: use Hyper-V (Windows Pro), or a bridged network. Then \`${labvmCommand('down', name)}\` and \`${upCommand(name)}\`.`,
          ),
        );
      }
      update(`${info.state}${info.ipv4 ? '' : ', no IP address yet'}`);
      throw new NotYet(`instance is ${info.state}${info.ipv4 ? '' : ' without an IP address'}`);
    },
    {
      ...POLL,
      timeoutMs: deadline.remainingMs,
      // Multipass's own failure, when that is what kept it from answering, says more than a time-out.
      timeoutError: (last) =>
        last instanceof LabvmError
          ? last
          : deadline.expired(
              'the VM to get an IP address',
              `Check \`multipass info ${name}\`, then run \`${upCommand(name)}\` again: it resumes.`,
              last,
            ),
    },
  );
}

/** Connects with the pinned host key, retrying while sshd is not yet up; a wrong host key is never retried. */
export async function waitForSsh(
  state: InstanceState,
  record: InstanceRecord,
  address: string,
  deadline: Deadline,
  update: (detail: string) => void,
): Promise<RemoteHost> {
  return retry(
    async () => {
      try {
        return await connectToInstance(state, record, address, Math.min(20_000, Math.max(1_000, deadline.remainingMs)));
      } catch (error) {
        if (error instanceof LabvmError && (error.kind === 'trust' || error.kind === 'usage'))
          throw new StopRetrying(error);
        throw error;
      }
    },
    {
      ...POLL,
      timeoutMs: deadline.remainingMs,
      onRetry: (error) => update(errorMessage(error).replace(/^VM "[^"]+": /, '')),
      timeoutError: (last) =>
        deadline.expired(
          `SSH on ${address}:22`,
          `A VPN or firewall can block the VM network; check \`multipass info ${state.name}\` and try \`${upCommand(state.name)}\` again (it resumes).`,
          last,
        ),
    },
  );
}

export type CloudInitStatus = 'done' | 'error' | 'degraded' | 'running' | 'not started' | 'disabled' | 'unknown';

export async function cloudInitStatus(
  remote: RemoteHost,
  wait = false,
  timeoutMs?: number,
): Promise<{ status: CloudInitStatus; output: string }> {
  const result = await remote.run(`cloud-init status${wait ? ' --wait' : ''} --long`, { timeoutMs });
  const output = result.stdout + result.stderr;
  const extended = /^extended_status:\s*(.+)$/m.exec(output)?.[1]?.trim();
  const status = /^status:\s*(.+)$/m.exec(output)?.[1]?.trim();
  return { status: parseStatus(extended?.startsWith('degraded') ? 'degraded' : status), output };
}

function parseStatus(text: string | undefined): CloudInitStatus {
  const known: CloudInitStatus[] = ['done', 'error', 'degraded', 'running', 'not started', 'disabled'];
  return known.find((status) => status === text) ?? 'unknown';
}

export interface CloudInitOutcome {
  summary: string;
  /** Provisioning had finished before this run looked: the VM was ready already. */
  alreadyProvisioned: boolean;
}

/**
 * Waits for cloud-init to finish and checks that labvm's provisioning succeeded: boot-finished (all that
 * `multipass launch` waits for) is written even when modules fail, so "Launched" does not mean Docker is there.
 * The marker, written last by labvm's runcmd and only when every step succeeded, is the success check; cloud-init's
 * own status is reported beside it (newer releases say "degraded" for warnings that do not matter here).
 */
export async function waitForCloudInit(
  remote: RemoteHost,
  name: string,
  deadline: Deadline,
  update: (detail: string) => void = () => undefined,
): Promise<CloudInitOutcome> {
  const provisioned = () => isProvisioned(remote);
  if (await provisioned()) return { summary: `provisioned (${PROVISIONED_MARKER})`, alreadyProvisioned: true };
  const stopFollowing = followCloudInitLog(remote, deadline, update);
  const { status, output } = await cloudInitStatus(remote, true, deadline.remainingMs).finally(stopFollowing);
  if (await provisioned()) {
    return {
      summary: status === 'done' ? 'status: done' : `provisioned; cloud-init status: ${status}`,
      alreadyProvisioned: false,
    };
  }
  if (status === 'running' || (status === 'unknown' && deadline.remainingMs === 0)) {
    throw deadline.expired(
      'cloud-init to finish',
      `It may still be installing Docker: run \`${upCommand(name)}\` again to keep following it.`,
    );
  }
  // The table of authorized keys and the host key banner that end the log say nothing about the failure.
  const log = await remote.run(`${LOG_NOISE} /var/log/cloud-init-output.log | tail -n 25`);
  throw new LabvmError(
    `cloud-init finished with status "${status}" on the VM, and labvm's provisioning did not complete: Docker may not be installed.`,
    'vm',
    `Read the log with \`multipass exec ${name} -- sudo cat /var/log/cloud-init-output.log\`, then \`${labvmCommand('down', name)}\` and \`${upCommand(name)}\`.`,
    `${output.trim()}\n--- last lines of /var/log/cloud-init-output.log ---\n${log.stdout.trim()}`,
  );
}

// The lines of the output log that say nothing about progress: key tables and banners.
const LOG_NOISE = "grep -v -e '^ci-info:' -e '^logger:' -e 'SSH HOST KEY' -e '^ssh-' -e '^[[:space:]]*$'";
const LOG_SAMPLE_MS = 2_000;

/** While cloud-init runs, shows its latest output line as the phase's detail, so a long install visibly moves. */
function followCloudInitLog(remote: RemoteHost, deadline: Deadline, update: (detail: string) => void): () => void {
  const stop = new AbortController();
  update('waiting for cloud-init');
  const sample = async () => {
    const line = (
      await remote.run(`tail -n 30 /var/log/cloud-init-output.log 2>/dev/null | ${LOG_NOISE} | tail -n 1`)
    ).stdout.trim();
    if (line && !stop.signal.aborted) update(`waiting for cloud-init: ${line}`);
    throw new NotYet('cloud-init is still running');
  };
  // Sampling ends with the wait (stop) or the deadline; its failures only mean no new detail.
  retry(sample, { timeoutMs: deadline.remainingMs, intervalMs: LOG_SAMPLE_MS, signal: stop.signal }).catch(
    () => undefined,
  );
  return () => stop.abort();
}

/** labvm's marker, written last by its runcmd and only when every provisioning step succeeded. */
export async function isProvisioned(remote: RemoteHost): Promise<boolean> {
  return (await remote.run(`test -e ${PROVISIONED_MARKER}`)).exitCode === 0;
}

/** Group membership is fixed at login: a session opened before cloud-init added `ubuntu` to docker lacks it. */
export async function hasDockerGroup(remote: RemoteHost): Promise<boolean> {
  const result = await remote.run('id -nG');
  return result.stdout.split(/\s+/).includes('docker');
}

/** `name`: the labvm instance, for the hint (none for another host). */
export async function dockerVersion(remote: RemoteHost, name?: string): Promise<string> {
  try {
    return (await remote.docker.api.version()).Version;
  } catch (error) {
    if (error instanceof LabvmError) throw error;
    throw new LabvmError(
      `Docker on ${remote.target.label} did not answer: ${dockerErrorMessage(error)}.`,
      'vm',
      `Check Docker there with \`sudo systemctl status docker\`${name ? `, or run \`${upCommand(name)}\` again` : ''}.`,
      undefined,
      { cause: error },
    );
  }
}
