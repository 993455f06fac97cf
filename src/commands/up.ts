import { LabvmError, usageError } from '../core/errors.js';
import { withInstanceLock } from '../core/lock.js';
import type { Progress } from '../core/progress.js';
import { InstanceState, type InstanceRecord } from '../core/state.js';
import { validateInstanceName } from '../core/validate.js';
import { readCaCertificates } from '../core/network.js';
import { shownSettings, type Settings, type ShownSetting } from '../core/settings.js';
import { renderUserData, type RenderedUserData } from '../vm/cloud-init.js';
import {
  ensureClientKey,
  hostAlias,
  pinAndRecord,
  restorePinnedFiles,
  writeSshConfig,
  connectToInstance,
} from '../vm/instance.js';
import { generateEd25519 } from '../vm/keys.js';
import { Multipass, type InstanceInfo } from '../vm/multipass.js';
import {
  Deadline,
  dockerVersion,
  hasDockerGroup,
  waitForAddress,
  waitForCloudInit,
  waitForSsh,
} from '../vm/readiness.js';
import { labvmVersion } from '../core/paths.js';
import { labvmCommand, upCommand } from '../core/hints.js';

/** What `labvm up` was asked for; sizes stay text in Multipass's notation (checked in core/settings.ts). */
export interface UpOptions {
  name: string;
  cpus: number;
  memory: string;
  disk: string;
  image: string;
  timeoutSeconds: number;
  /** The network settings the VM is made with (checked in core/settings.ts); they apply to a new VM only. */
  network: NetworkSettings;
}

export const networkKeys = [
  'dockerRepository',
  'dockerKeyFingerprint',
  'httpProxy',
  'httpsProxy',
  'noProxy',
  'caCertificates',
] as const;

export type NetworkSettings = Pick<Settings, (typeof networkKeys)[number]>;

export interface UpSummary {
  name: string;
  address: string;
  release: string;
  dockerVersion: string;
  alreadyReady: boolean;
  sshConfig: string;
  /** How labvm's SSH connection reached the VM: straight to its address, or through `multipass exec`. */
  sshPath: string;
  /** False when the address does not answer from here, so `ssh -F` cannot be used (labvm shell can). */
  directSsh: boolean;
  stateDir: string;
  /** The network settings the VM was made with that are not labvm's built-in ones (proxy credentials redacted). */
  network: ShownSetting[];
}

/** cpus, memory, disk and the timeout are checked, with their bounds, where they are resolved (core/settings.ts). */
export function validateUpOptions(options: UpOptions): UpOptions {
  validateInstanceName(options.name);
  // Multipass takes a release, an alias, a remote:release, or a file:// or http(s):// URL: no spaces, quotes or `$`.
  if (!/^[\w.:/\\@%+~-]+$/.test(options.image)) {
    throw usageError(
      `Invalid --image "${options.image}".`,
      'Use an Ubuntu release such as 24.04 or noble (`multipass find` lists them), or a file:// or https:// image URL.',
    );
  }
  return options;
}

/** The user-data `up --print-cloud-init` shows: the same rendering, private keys and credentials redacted, nothing launched. */
export function previewUserData(options: UpOptions): string {
  const client = generateEd25519('labvm@preview');
  return userDataFor(options, client.publicKey, generateEd25519('labvm-vm@preview')).redacted;
}

function userDataFor(
  options: UpOptions,
  clientPublicKey: string,
  hostKey: { privateKey: string; publicKey: string },
): RenderedUserData {
  const { network } = options;
  return renderUserData({
    clientPublicKey,
    hostKey,
    network: {
      dockerRepository: network.dockerRepository.value,
      dockerKeyFingerprint: network.dockerKeyFingerprint.value,
      httpProxy: network.httpProxy.value,
      httpsProxy: network.httpsProxy.value,
      noProxy: network.noProxy.value,
      caCertificates: readCaCertificates(network.caCertificates.value, 'caCertificates'),
    },
  });
}

/** The network settings as `up`'s summary and the instance record show them: those not built in, redacted. */
export function shownNetwork(network: NetworkSettings): ShownSetting[] {
  return shownSettings(network, networkKeys).filter((setting) => setting.source !== 'built-in');
}

export async function up(input: UpOptions, progress: Progress, multipass = new Multipass()): Promise<UpSummary> {
  const options = validateUpOptions(input);
  return withInstanceLock(options.name, 'up', () => upLocked(options, progress, multipass));
}

async function upLocked(options: UpOptions, progress: Progress, multipass: Multipass): Promise<UpSummary> {
  const deadline = Deadline.in(options.timeoutSeconds);
  await progress.phase(
    'preflight',
    () => multipass.preflight(),
    (v) => `Multipass ${v.daemon}`,
  );

  const state = new InstanceState(options.name);
  const existing = await multipass.info(options.name);
  let record = await state.readRecord();
  if (existing && !record) {
    throw new LabvmError(
      `A Multipass instance named "${options.name}" already exists, and labvm did not create it.`,
      'usage',
      `Choose another name with \`labvm up --name <name>\`, or remove that instance yourself (\`multipass delete --purge ${options.name}\`) if you no longer need it.`,
    );
  }

  const alreadyRunning = existing?.state === 'Running';
  if (!existing || existing.state === 'Deleted' || !record) {
    record = await launch(options, state, multipass, existing, progress, deadline);
  } else {
    noteNetworkChanges(options, record, progress);
    if (!alreadyRunning) await resume(options.name, existing, multipass, progress);
  }
  return followToReady(
    options.name,
    state,
    record,
    multipass,
    deadline,
    progress,
    alreadyRunning ? existing : undefined,
  );
}

async function launch(
  options: UpOptions,
  state: InstanceState,
  multipass: Multipass,
  existing: InstanceInfo | undefined,
  progress: Progress,
  deadline: Deadline,
): Promise<InstanceRecord> {
  if (existing?.state === 'Deleted') {
    // Deleted instances still hold their name in Multipass; this one is labvm's own (it has a record).
    await progress.phase('purging the deleted instance', () => multipass.deletePurge(options.name));
  }
  const client = await ensureClientKey(state);
  const hostKey = generateEd25519(hostAlias(options.name));
  const userData = userDataFor(options, client.publicKey, hostKey);
  const record: InstanceRecord = {
    name: options.name,
    createdBy: 'labvm',
    createdAt: new Date().toISOString(),
    labvmVersion: labvmVersion(),
    image: options.image,
    cpus: options.cpus,
    memory: options.memory,
    disk: options.disk,
    hostPublicKey: hostKey.publicKey,
    network: shownNetwork(options.network),
  };
  // Recorded before launching, so an interrupted launch can be followed (or removed) by the next run.
  await pinAndRecord(state, record);
  try {
    await progress.phase(
      `launching ${options.name} (Ubuntu ${options.image}, ${options.cpus} CPU, ${options.memory} memory, ${options.disk} disk)`,
      async (update) => {
        const outcome = await multipass.launch({
          ...options,
          timeoutSeconds: deadline.remainingMs / 1000,
          userData: userData.text,
          onProgress: update,
        });
        if (outcome === 'still-provisioning') {
          progress.note(
            deadline.remainingMs > 0
              ? 'Multipass stopped waiting, but the VM keeps provisioning; labvm follows it.'
              : 'The --timeout elapsed during the launch; the VM keeps provisioning in Multipass.',
          );
        }
        return outcome;
      },
    );
  } catch (error) {
    // Multipass cleans up after a launch that failed before the VM existed; then labvm's state goes too.
    if (!(await multipass.info(options.name).catch(() => 'unknown'))) await state.remove();
    throw error;
  }
  return record;
}

/** The network settings shape a VM when it is made: changed ones are not applied to an existing VM, and up says so. */
function noteNetworkChanges(options: UpOptions, record: InstanceRecord, progress: Progress): void {
  if (!record.network) return; // made by a labvm without network settings
  const shown = (settings: ShownSetting[]) => new Map(settings.map((s) => [s.key, JSON.stringify(s.value)]));
  const before = shown(record.network);
  const now = shown(shownNetwork(options.network));
  const changed = networkKeys.filter((key) => before.get(key) !== now.get(key));
  if (changed.length > 0)
    progress.note(
      `${changed.join(', ')} differ${changed.length === 1 ? 's' : ''} from what ${options.name} was made with; network settings apply to a new VM: \`${labvmCommand('down', options.name)}\` and \`${upCommand(options.name)}\` to use them.`,
    );
}

async function resume(name: string, existing: InstanceInfo, multipass: Multipass, progress: Progress): Promise<void> {
  if (existing.state === 'Stopped' || existing.state === 'Suspended') {
    await progress.phase(`starting ${name} (it was ${existing.state})`, () => multipass.start(name));
  } else {
    progress.note(`The instance is ${existing.state}; labvm waits for it.`);
  }
}

/** `running` is the instance as already seen Running, so a ready VM costs no second `multipass info`. */
async function followToReady(
  name: string,
  state: InstanceState,
  record: InstanceRecord,
  multipass: Multipass,
  deadline: Deadline,
  progress: Progress,
  running: InstanceInfo | undefined,
): Promise<UpSummary> {
  const info = await progress.phase(
    'VM running with an IP address',
    async (update) => (running?.ipv4 ? running : waitForAddress(multipass, name, deadline, update)),
    (i) => i.ipv4!,
  );
  const address = info.ipv4!;
  await restorePinnedFiles(state, record);
  await writeSshConfig(state, address);
  let remote = await progress.phase('SSH reachable (host key verified against the pinned key)', (update) =>
    waitForSsh(state, record, address, deadline, update),
  );
  try {
    const cloudInit = await progress.phase(
      'cloud-init finished',
      (update) => waitForCloudInit(remote, name, deadline, update),
      (outcome) => outcome.summary,
    );
    if (!(await hasDockerGroup(remote))) {
      remote.close(); // this login predates cloud-init's docker group; a new one gets it
      remote = await connectToInstance(state, record, address);
    }
    const version = await progress.phase(
      'Docker reachable over SSH',
      () => dockerVersion(remote, name),
      (v) => `Docker ${v}`,
    );
    const release = info.release || (await remote.run('. /etc/os-release && echo "$PRETTY_NAME"')).stdout.trim();
    return {
      name,
      address,
      release,
      dockerVersion: version,
      alreadyReady: !!running && cloudInit.alreadyProvisioned,
      sshConfig: state.path('sshConfig'),
      stateDir: state.dir,
      sshPath: remote.path,
      directSsh: !remote.target.via,
      network: record.network ?? [],
    };
  } finally {
    remote.close();
  }
}
