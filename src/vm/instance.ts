import { connect } from 'node:net';
import ssh2 from 'ssh2';
import { LabvmError } from '../core/errors.js';
import { debug } from '../core/debug-log.js';
import type { InstanceState, InstanceRecord } from '../core/state.js';
import { labvmCommand, upCommand } from '../core/hints.js';
import { Multipass } from './multipass.js';
import { knownHostsLine, publicKeyBlob } from '../remote/host-keys.js';
import { RemoteHost, type SshTarget } from '../remote/ssh.js';
import { generateEd25519, type KeyPair } from './keys.js';

/** The user inside the VM: Multipass's default user, which cloud-init gives labvm's key. */
export const VM_USER = 'ubuntu';

export function hostAlias(name: string): string {
  return `labvm-${name}`;
}

/** The client key for this instance: reused when present, so a resumed `up` keeps working. */
export async function ensureClientKey(state: InstanceState): Promise<KeyPair> {
  const [privateKey, publicKey] = await Promise.all([state.read('clientKey'), state.read('clientPublicKey')]);
  if (privateKey && publicKey) return { privateKey, publicKey: publicKey.trim() };
  const pair = generateEd25519(`labvm@${state.name}`);
  await state.write('clientKey', pair.privateKey);
  await state.write('clientPublicKey', `${pair.publicKey}\n`);
  return pair;
}

/** Pins the VM's host key (under an alias, not the IP, which can change) and records the instance. */
export async function pinAndRecord(state: InstanceState, record: InstanceRecord): Promise<void> {
  await state.write('knownHosts', `${knownHostsLine(hostAlias(state.name), record.hostPublicKey)}\n`);
  await state.writeRecord(record);
}

/**
 * Puts back what labvm wrote and someone changed, from the pinned record: private modes (OpenSSH refuses a key
 * others can read) and the known_hosts line, so the `ssh -F` command labvm prints works again.
 */
export async function restorePinnedFiles(state: InstanceState, record: InstanceRecord): Promise<void> {
  await state.restoreModes();
  const line = `${knownHostsLine(hostAlias(state.name), record.hostPublicKey)}\n`;
  if ((await state.read('knownHosts')) !== line) await state.write('knownHosts', line);
}

/** An ssh_config so `ssh -F <file> labvm-<name>` reaches the VM with the same pinned trust as labvm. */
export async function writeSshConfig(state: InstanceState, address: string): Promise<void> {
  const quote = (path: string) => `"${path}"`;
  await state.write(
    'sshConfig',
    [
      `Host ${hostAlias(state.name)}`,
      `  HostName ${address}`,
      `  User ${VM_USER}`,
      `  IdentityFile ${quote(state.path('clientKey'))}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${quote(state.path('knownHosts'))}`,
      `  HostKeyAlias ${hostAlias(state.name)}`,
      '  StrictHostKeyChecking yes',
      // Win32-OpenSSH has no ControlMaster, and an inherited ControlPath breaks connections there.
      '  ControlMaster no',
      '  ControlPath none',
      '',
    ].join('\n'),
  );
}

export async function instanceTarget(
  state: InstanceState,
  record: InstanceRecord,
  address: string,
): Promise<SshTarget> {
  const privateKey = await state.read('clientKey');
  const recreate = `Run \`labvm down --name ${state.name}\` and \`labvm up --name ${state.name}\` to recreate the VM with new keys.`;
  if (!privateKey) {
    throw new LabvmError(
      `labvm's SSH key for "${state.name}" is missing (${state.path('clientKey')}).`,
      'trust',
      recreate,
    );
  }
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) {
    throw new LabvmError(
      `labvm's SSH key for "${state.name}" is damaged (${state.path('clientKey')}: ${parsed.message}).`,
      'trust',
      recreate,
    );
  }
  return {
    host: address,
    port: 22,
    username: VM_USER,
    privateKey,
    trustedHostKeys: [pinnedKey(state, record)],
    trustSource: 'the host key labvm pinned when it created this VM',
    label: `VM "${state.name}"`,
    trustHint: `If this VM was recreated outside labvm, run \`${labvmCommand('down', state.name)}\` then \`${upCommand(state.name)}\`.`,
    reachHint: `Check that the VM is running (\`${labvmCommand('status', state.name)}\`) and reachable from this computer (VPNs and firewalls can block it).`,
  };
}

function pinnedKey(state: InstanceState, record: InstanceRecord): Buffer {
  try {
    return publicKeyBlob(record.hostPublicKey);
  } catch {
    throw new LabvmError(
      `The pinned host key in ${state.path('record')} is damaged, so labvm cannot trust the VM.`,
      'trust',
      `Run \`${labvmCommand('down', state.name)}\` and \`${upCommand(state.name)}\` to recreate the VM with new keys.`,
    );
  }
}

/**
 * Connects straight to the VM's address when it answers from here, else through `multipass exec` (VirtualBox's
 * NAT, a VPN): either way one SSH connection, checked against the pinned host key.
 */
export async function connectToInstance(
  state: InstanceState,
  record: InstanceRecord,
  address: string,
  readyTimeoutMs?: number,
  multipass = new Multipass(),
): Promise<RemoteHost> {
  const target = await instanceTarget(state, record, address);
  if (await addressAnswers(address, target.port)) return RemoteHost.connect(target, readyTimeoutMs);
  const via = {
    description: "through `multipass exec` (the VM's address does not answer from here)",
    open: () => multipass.relayToSsh(state.name),
  };
  return RemoteHost.connect({ ...target, via }, readyTimeoutMs);
}

const PROBE_MS = 3_000;

/** A refused connection counts: the address is reachable, sshd is just not listening yet. */
export function addressAnswers(address: string, port: number, timeoutMs = PROBE_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: timeoutMs });
    const done = (answers: boolean) => {
      socket.destroy();
      debug('ssh', `${address}:${port} ${answers ? 'answers' : 'does not answer'} from here`);
      resolve(answers);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED'));
  });
}
