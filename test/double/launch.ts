// launch: checks its arguments like multipassd, creates the container with the NoCloud seed, waits like the client.

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { parseArgs, parseTimeout } from './args.js';
import {
  DEFAULT_IMAGE,
  DEFAULT_PHASE_TIMEOUT_S,
  INSTANCE_LABEL,
  LABEL,
  MIN_DISK,
  MIN_MEMORY,
  NAME_RULE,
  SIZE_RULE,
  failed,
  usageError,
} from './common.js';
import { containerName, docker, findInstances, sh, volumeName } from './instances.js';
import { Spinner, out } from './output.js';
import { startClientTimer, waitForCloudInit, waitForSsh } from './waiting.js';

const IMAGE_RELEASES: Record<string, string> = {
  '24.04': '24.04 LTS',
  noble: '24.04 LTS',
  n: '24.04 LTS',
  lts: '24.04 LTS',
  default: '24.04 LTS',
  '22.04': '22.04 LTS',
  jammy: '22.04 LTS',
  j: '22.04 LTS',
  '20.04': '20.04 LTS',
  focal: '20.04 LTS',
  f: '20.04 LTS',
  '25.04': '25.04',
  plucky: '25.04',
  p: '25.04',
  '25.10': '25.10',
  questing: '25.10',
  q: '25.10',
};

interface LaunchRequest {
  name: string;
  image: string;
  imageRelease: string;
  cpus: number;
  memoryBytes: number;
  diskBytes: number;
  timeoutS: number | undefined;
  userData: string;
}

/** Bytes for a size such as 1G, 1.5GiB, 512M, 1024 (all units binary); exit 1 on bad syntax. */
function parseSize(text: string, what: 'memory' | 'disk'): number {
  const match = SIZE_RULE.exec(text);
  if (!match || (match[2] !== undefined && match[3] === undefined))
    throw usageError(
      `error: ${text} is not a valid ${what} size - need a non-negative integer/decimal followed by an optional unit ` +
        '(K, M, G, KB, MB, GB, KiB, MiB, GiB or B; all binary)',
    );
  const unit = (match[3] ?? 'B').charAt(0).toUpperCase();
  const factor = { B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[unit] ?? 1;
  return Math.floor(Number(`${match[1]}${match[2] ?? ''}`) * factor);
}

function readCloudInit(source: string | undefined): Record<string, unknown> {
  if (source === undefined) return {};
  let text: string;
  try {
    text = readFileSync(source === '-' ? 0 : source, 'utf8');
  } catch (error) {
    throw usageError(`error: Could not load cloud-init configuration: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = YAML.parse(text);
  } catch (error) {
    throw usageError(`error: Could not load cloud-init configuration: ${(error as Error).message}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data))
    throw usageError('error: Could not load cloud-init configuration: not a YAML mapping (cloud-config)');
  return data as Record<string, unknown>;
}

/** A throwaway ed25519 public key, standing in for multipassd's own key. */
function daemonPublicKey(): string {
  const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const field = (bytes: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes]);
  const blob = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} multipass-double@localhost`;
}

/** Like multipassd's prepare_user_data: default user kept, its key appended, re-dumped. */
function mergeUserData(userData: Record<string, unknown>): string {
  const merged = { ...userData };
  const keys: unknown[] = Array.isArray(merged.ssh_authorized_keys) ? merged.ssh_authorized_keys : [];
  merged.ssh_authorized_keys = [...keys, daemonPublicKey()];
  // Test knob: a runcmd line run first that fails, so cloud-init ends in `status: error` (boot-finished is
  // still written, as on a real VM whose provisioning failed).
  const failing = process.env.MULTIPASS_DOUBLE_FAILING_RUNCMD;
  if (failing) merged.runcmd = [failing, ...(Array.isArray(merged.runcmd) ? (merged.runcmd as unknown[]) : [])];
  const users: unknown = merged.users;
  if (Array.isArray(users) && !users.includes('default')) merged.users = [...(users as unknown[]), 'default'];
  return `#cloud-config\n${YAML.stringify(merged, { lineWidth: 0 })}`;
}

function parseLaunch(argv: string[]): LaunchRequest {
  const args = parseArgs(
    argv,
    {
      name: ['-n', '--name'],
      cpus: ['-c', '--cpus'],
      memory: ['-m', '--memory', '--mem'],
      disk: ['-d', '--disk'],
      timeout: ['--timeout'],
      cloudInit: ['--cloud-init'],
      network: ['--network'],
      mount: ['--mount'],
    },
    { bridged: ['--bridged'] },
  );
  if (args.positional.length > 1) throw usageError('Too many arguments supplied');
  const cpusText = args.values.get('cpus') ?? '1';
  if (!/^\d+$/.test(cpusText) || Number(cpusText) < 1)
    throw usageError(`Error: invalid CPU count '${cpusText}', need a positive integer value.`);
  const memoryBytes = parseSize(args.values.get('memory') ?? '1G', 'memory');
  const diskBytes = parseSize(args.values.get('disk') ?? '5G', 'disk');
  const timeoutS = parseTimeout(args);
  const userData = mergeUserData(readCloudInit(args.values.get('cloudInit')));

  // The real launch makes up a name when none is given; labvm always gives one, so the double insists.
  const name = args.values.get('name');
  if (name === undefined) throw usageError('The multipass test double needs --name (it makes up no names).');
  const image = (args.positional[0] ?? 'default').replace(/^[a-z]+:/, '');
  const problems: string[] = [];
  if (!NAME_RULE.test(name)) problems.push(`Invalid instance name supplied: ${name}`);
  if (memoryBytes < MIN_MEMORY) problems.push(`Invalid memory size value supplied: ${args.values.get('memory')}.`);
  if (diskBytes < MIN_DISK) problems.push(`Invalid disk size value supplied: ${args.values.get('disk')}.`);
  if (problems.length > 0) throw failed('launch', `Invalid arguments supplied\n${problems.join('\n')}`);
  const imageRelease = IMAGE_RELEASES[image];
  if (imageRelease === undefined) throw failed('launch', `Unable to find an image matching "${image}"`);
  return { name, image, imageRelease, cpus: Number(cpusText), memoryBytes, diskBytes, timeoutS, userData };
}

/** Capabilities the stand-in must drop because this machine's bounding set lacks them (--privileged fails). */
function capabilitiesMissingFromBoundingSet(): string[] {
  const CAPS = [
    'CHOWN',
    'DAC_OVERRIDE',
    'DAC_READ_SEARCH',
    'FOWNER',
    'FSETID',
    'KILL',
    'SETGID',
    'SETUID',
    'SETPCAP',
    'LINUX_IMMUTABLE',
    'NET_BIND_SERVICE',
    'NET_BROADCAST',
    'NET_ADMIN',
    'NET_RAW',
    'IPC_LOCK',
    'IPC_OWNER',
    'SYS_MODULE',
    'SYS_RAWIO',
    'SYS_CHROOT',
    'SYS_PTRACE',
    'SYS_PACCT',
    'SYS_ADMIN',
    'SYS_BOOT',
    'SYS_NICE',
    'SYS_RESOURCE',
    'SYS_TIME',
    'SYS_TTY_CONFIG',
    'MKNOD',
    'LEASE',
    'AUDIT_WRITE',
    'AUDIT_CONTROL',
    'SETFCAP',
    'MAC_OVERRIDE',
    'MAC_ADMIN',
    'SYSLOG',
    'WAKE_ALARM',
    'BLOCK_SUSPEND',
    'AUDIT_READ',
    'PERFMON',
    'BPF',
    'CHECKPOINT_RESTORE',
  ];
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (hex === undefined) return [];
  const bounding = BigInt(`0x${hex}`);
  return CAPS.filter((_, bit) => ((bounding >> BigInt(bit)) & 1n) === 0n);
}

/**
 * Creates the container and its volume, puts the NoCloud seed in, starts it. Like multipassd, a failure
 * before the start removes everything; once started, the instance stays whatever happens next.
 */
async function createInstance(req: LaunchRequest, spinner: Spinner) {
  const container = containerName(req.name);
  const volume = volumeName(req.name);
  spinner.start(`Creating ${req.name}`);
  try {
    await docker(['volume', 'rm', '-f', volume]); // an orphan left by an interrupted launch
    await docker(['volume', 'create', '--label', `${INSTANCE_LABEL}=${req.name}`, volume]);
    await createContainer(req, container, volume);
  } catch (error) {
    await sh({ nothrow: true })`docker rm -f ${container}`;
    await sh({ nothrow: true })`docker volume rm -f ${volume}`;
    throw error;
  }
  spinner.start(`Starting ${req.name}`);
  await docker(['start', container]);
}

async function createContainer(req: LaunchRequest, container: string, volume: string) {
  const image = process.env.MULTIPASS_DOUBLE_IMAGE ?? DEFAULT_IMAGE;
  const labels = {
    [INSTANCE_LABEL]: req.name,
    [`${LABEL}.cpus`]: String(req.cpus),
    [`${LABEL}.memory`]: String(req.memoryBytes),
    [`${LABEL}.disk`]: String(req.diskBytes),
    [`${LABEL}.image`]: req.image,
    [`${LABEL}.image-release`]: req.imageRelease,
  };
  await docker([
    'create',
    '--name',
    container,
    '--hostname',
    req.name,
    ...Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]),
    '--cap-add',
    'ALL',
    ...capabilitiesMissingFromBoundingSet().flatMap((cap) => ['--cap-drop', cap]),
    '--security-opt',
    'seccomp=unconfined',
    '--security-opt',
    'apparmor=unconfined',
    '--security-opt',
    'systempaths=unconfined',
    '--device-cgroup-rule',
    'a *:* rwm',
    '--cgroupns',
    'private',
    '--volume',
    `${volume}:/var/lib/docker`,
    '--env',
    `STANDIN_CLOUD_INIT_DELAY=${process.env.MULTIPASS_DOUBLE_CLOUD_INIT_DELAY ?? '0'}`,
    image,
  ]);
  const seed = mkdtempSync(join(tmpdir(), 'multipass-double-seed-'));
  try {
    writeFileSync(join(seed, 'user-data'), req.userData);
    writeFileSync(join(seed, 'meta-data'), `instance-id: ${req.name}\nlocal-hostname: ${req.name}\n`);
    await docker(['cp', `${seed}/.`, `${container}:/var/lib/cloud/seed/nocloud/`]);
  } finally {
    rmSync(seed, { recursive: true, force: true });
  }
}

export async function launch(argv: string[]): Promise<number> {
  const req = parseLaunch(argv);
  if ((await findInstances(req.name)).length > 0) throw failed('launch', `instance "${req.name}" already exists`);
  const image = process.env.MULTIPASS_DOUBLE_IMAGE ?? DEFAULT_IMAGE;
  if (!(await sh({ nothrow: true })`docker image inspect ${image}`).ok)
    throw failed('launch', `image ${image} is missing; run scripts/test-host/prepare.sh`);

  const spinner = new Spinner();
  const created = createInstance(req, spinner);
  const cancelTimer = startClientTimer(req.timeoutS, spinner, 'Timed out waiting for instance launch.', () => created);
  const phaseTimeoutS = Number(process.env.MULTIPASS_DOUBLE_PHASE_TIMEOUT) || (req.timeoutS ?? DEFAULT_PHASE_TIMEOUT_S);
  try {
    await created;
    await waitForSsh('launch', req.name, phaseTimeoutS);
    spinner.start('Waiting for initialization to complete');
    await waitForCloudInit('launch', req.name, phaseTimeoutS);
  } finally {
    cancelTimer();
    spinner.stop();
  }
  out(`Launched: ${req.name}\n`);
  return 0;
}
