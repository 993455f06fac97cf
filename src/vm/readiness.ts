import pRetry, { AbortError } from 'p-retry';
import { LabvmError, errorMessage } from '../core/errors.js';
import type { InstanceState, InstanceRecord } from '../core/state.js';
import type { RemoteHost } from '../remote/ssh.js';
import { PROVISIONED_MARKER } from './cloud-init.js';
import { connectToInstance } from './instance.js';
import type { InstanceInfo, Multipass } from './multipass.js';

/** The checks `up` follows, in order. Each polls until ready or until the deadline. */

export class Deadline {
  constructor(readonly at: number, readonly totalSeconds: number) {}

  static in(seconds: number): Deadline {
    return new Deadline(Date.now() + seconds * 1000, seconds);
  }

  get remainingMs(): number {
    return Math.max(0, this.at - Date.now());
  }

  expired(what: string, hint: string): LabvmError {
    return new LabvmError(`Timed out after ${this.totalSeconds}s waiting for ${what}.`, 'timeout', hint);
  }
}

const POLL = { factor: 1.5, minTimeout: 500, maxTimeout: 5_000, randomize: true } as const;

/** Waits until Multipass reports the instance Running with a valid IPv4 (skipping [] and ["N/A"]). */
export async function waitForAddress(multipass: Multipass, name: string, deadline: Deadline, update: (detail: string) => void): Promise<InstanceInfo> {
  return pRetry(async () => {
    const info = await multipass.info(name);
    if (!info) throw new AbortError(new LabvmError(`The instance "${name}" disappeared while labvm was waiting for it.`, 'vm', 'Run `labvm up` again.'));
    if (info.state !== 'Running' || !info.ipv4) {
      update(`${info.state}${info.ipv4 ? '' : ', no IP address yet'}`);
      throw new Error(`instance is ${info.state}`);
    }
    return info;
  }, { ...POLL, retries: Infinity, maxRetryTime: deadline.remainingMs }).catch((error) => {
    throw error instanceof LabvmError ? error : deadline.expired('the VM to get an IP address',
      `Check \`multipass info ${name}\`; on Windows with VirtualBox the VM has no reachable IP (use Hyper-V).`);
  });
}

/** Connects with the pinned host key, retrying while sshd is not yet up; a wrong host key is never retried. */
export async function waitForSsh(state: InstanceState, record: InstanceRecord, address: string, deadline: Deadline, update: (detail: string) => void): Promise<RemoteHost> {
  return pRetry(async () => {
    try {
      return await connectToInstance(state, record, address, Math.min(20_000, Math.max(1_000, deadline.remainingMs)));
    } catch (error) {
      if (error instanceof LabvmError && error.kind === 'trust') throw new AbortError(error);
      update(errorMessage(error).replace(/^VM "[^"]+": /, ''));
      throw error;
    }
  }, { ...POLL, retries: Infinity, maxRetryTime: deadline.remainingMs }).catch((error) => {
    if (error instanceof LabvmError && error.kind === 'trust') throw error;
    throw deadline.expired(`SSH on ${address}:22`,
      'A VPN or firewall can block the VM network; check `multipass info` and try `labvm up` again (it resumes).');
  });
}

export type CloudInitStatus = 'done' | 'error' | 'degraded' | 'running' | 'not started' | 'disabled' | 'unknown';

export async function cloudInitStatus(remote: RemoteHost, wait = false, timeoutMs?: number): Promise<{ status: CloudInitStatus; output: string }> {
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

/**
 * Waits for cloud-init to finish and checks it succeeded: boot-finished (all that `multipass launch` waits for)
 * is written even when modules fail, so "Launched" does not mean Docker was installed.
 */
export async function waitForCloudInit(remote: RemoteHost, name: string, deadline: Deadline, acceptMarker = false): Promise<string> {
  // The marker is the last thing labvm's runcmd writes, and only when every step succeeded. On a VM that
  // was already running it is enough, and spares the time `cloud-init status` takes to start.
  if (acceptMarker && (await remote.run(`test -e ${PROVISIONED_MARKER}`)).exitCode === 0) return `provisioned (${PROVISIONED_MARKER})`;
  const { status, output } = await cloudInitStatus(remote, true, deadline.remainingMs);
  if (status === 'done') return 'status: done';
  if (status === 'running' || status === 'unknown' && deadline.remainingMs === 0) {
    throw deadline.expired('cloud-init to finish', `It may still be installing Docker: run \`labvm up --name ${name}\` again to keep following it.`);
  }
  // The table of authorized keys and the host key banner that end the log say nothing about the failure.
  const log = await remote.run("grep -v -e '^ci-info:' -e '^logger:' -e 'SSH HOST KEY' -e '^ssh-' /var/log/cloud-init-output.log | tail -n 25");
  throw new LabvmError(`cloud-init finished with status "${status}" on the VM: Docker may not be installed.`, 'vm',
    `Read the log with \`multipass exec ${name} -- sudo cat /var/log/cloud-init-output.log\`, then \`labvm down --name ${name}\` and \`labvm up --name ${name}\`.`,
    `${output.trim()}\n--- last lines of /var/log/cloud-init-output.log ---\n${log.stdout.trim()}`);
}

/** Group membership is fixed at login: a session opened before cloud-init added `ubuntu` to docker lacks it. */
export async function hasDockerGroup(remote: RemoteHost): Promise<boolean> {
  const result = await remote.run('id -nG');
  return result.stdout.split(/\s+/).includes('docker');
}

export async function dockerVersion(remote: RemoteHost): Promise<string> {
  const version = await remote.docker.api.version();
  return version.Version;
}
