import { statfs } from 'node:fs/promises';
import { freemem, homedir, totalmem } from 'node:os';
import { LabvmError, errorMessage } from '../core/errors.js';
import { multipassDaemonHint } from '../core/platform.js';
import { DEFAULT_NAME } from '../core/defaults.js';
import { shownSettings, type Settings, type ShownSetting } from '../core/settings.js';
import { InstanceState, recordedInstanceNames } from '../core/state.js';
import { formatBytes, parseSize } from '../core/validate.js';
import { connectToInstance } from '../vm/instance.js';
import { Multipass, type InstanceInfo } from '../vm/multipass.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** What to do about a warning or failure; null when the check passed. */
  fix: string | null;
}

export interface DoctorReport {
  checks: Check[];
  /** The values `up` and `exercise` would use, each with where it came from (flag > env > file > built-in); proxy credentials redacted. */
  settings: ShownSetting[];
  /** False when any check failed (the command then exits non-zero). */
  ok: boolean;
}

const MIN_MULTIPASS = [1, 16];
const MIN_NODE = [20, 19];

const pass = (name: string, detail: string): Check => ({ name, status: 'pass', detail, fix: null });
const warn = (name: string, detail: string, fix: string): Check => ({ name, status: 'warn', detail, fix });
const fail = (name: string, detail: string, fix: string): Check => ({ name, status: 'fail', detail, fix });

/** Checks this computer before a lesson; each check says what it found and, when not fine, what to do. */
export async function doctor(settings: Settings, multipass = new Multipass()): Promise<DoctorReport> {
  const { memory, disk } = settings;
  const checks = [
    nodeCheck(process.versions.node),
    ...(await multipassChecks(multipass)),
    memoryCheck(parseSize(memory.value, 'memory', 0), freemem(), totalmem(), memory.value),
    await diskCheck(parseSize(disk.value, 'disk', 0), disk.value),
    ...(await vmChecks(multipass)),
  ];
  return {
    checks,
    settings: shownSettings(settings),
    ok: checks.every((check) => check.status !== 'fail'),
  };
}

export function nodeCheck(version: string): Check {
  const name = 'Node.js';
  return atLeast(version, MIN_NODE)
    ? pass(name, `v${version}`)
    : fail(
        name,
        `v${version}; labvm needs ${MIN_NODE.join('.')} or newer`,
        'Install Node.js 20.19 or newer (22 LTS recommended) from nodejs.org or your package manager.',
      );
}

async function multipassChecks(multipass: Multipass): Promise<Check[]> {
  let versions: { client: string; daemon?: string };
  try {
    versions = await multipass.versions();
  } catch (error) {
    const fix = error instanceof LabvmError && error.hint ? error.hint : 'Check that `multipass version` works.';
    return [fail('Multipass installed', errorMessage(error), fix)];
  }
  const installed = atLeast(versions.client, MIN_MULTIPASS)
    ? pass('Multipass installed', `multipass ${versions.client}`)
    : warn(
        'Multipass installed',
        `multipass ${versions.client}; labvm is made for ${MIN_MULTIPASS.join('.')} or newer`,
        'Update Multipass to 1.16 or newer.',
      );
  if (!versions.daemon)
    return [installed, fail('Multipass daemon', 'multipassd is not answering', multipassDaemonHint())];
  return [installed, pass('Multipass daemon', `multipassd ${versions.daemon}`), await driverCheck(multipass)];
}

async function driverCheck(multipass: Multipass): Promise<Check> {
  const name = 'Virtualization driver';
  try {
    return driverVerdict(await multipass.driver());
  } catch (error) {
    return warn(name, `could not read it: ${errorMessage(error)}`, 'Run `multipass get local.driver` to see why.');
  }
}

export function driverVerdict(driver: string): Check {
  const name = 'Virtualization driver';
  if (driver === 'virtualbox') {
    return warn(
      name,
      'virtualbox: its NAT gives the VM no address this computer can reach',
      'On Windows Pro/Enterprise use Hyper-V: `multipass set local.driver=hyperv` (VMs made with the old driver stay with it).',
    );
  }
  const known: Record<string, string> = {
    qemu: 'QEMU',
    hyperv: 'Hyper-V',
    applevz: 'Apple Virtualization',
    lxd: 'LXD',
  };
  return pass(name, known[driver] ? `${driver} (${known[driver]})` : driver);
}

export function memoryCheck(needed: number, free: number, total: number, asked: string): Check {
  const name = 'Free memory';
  const found = `${formatBytes(roundDown(free))} free of ${formatBytes(roundDown(total))}; up asks for ${asked}`;
  if (total < needed)
    return fail(
      name,
      found,
      `This computer cannot give the VM ${asked}: use \`labvm up --memory ${formatBytes(roundDown(total / 2))}\`.`,
    );
  if (free < needed)
    return warn(
      name,
      found,
      `Close other programs before \`labvm up\`, or ask for less with \`labvm up --memory 2G\`.`,
    );
  return pass(name, found);
}

async function diskCheck(needed: number, asked: string): Promise<Check> {
  const name = 'Free disk';
  try {
    const stats = await statfs(homedir());
    return diskVerdict(needed, stats.bavail * stats.bsize, asked);
  } catch (error) {
    return warn(name, `could not measure it: ${errorMessage(error)}`, `Make sure ${asked} of disk is free for the VM.`);
  }
}

export function diskVerdict(needed: number, free: number, asked: string): Check {
  const name = 'Free disk';
  const found = `${formatBytes(roundDown(free))} free in the home folder's file system; up asks for ${asked}`;
  // Multipass allocates the disk lazily, so less free space than asked is a risk for later, not a failure now.
  return free >= needed
    ? pass(name, found)
    : warn(name, found, `Free some space, or ask for less with \`labvm up --disk 10G\` (the exercise needs about 6G).`);
}

/** Each VM labvm created: running ones must answer on port 22 with the host key pinned at launch. */
async function vmChecks(multipass: Multipass): Promise<Check[]> {
  const names = await recordedInstanceNames();
  if (names.length === 0) return [];
  let instances: Map<string, InstanceInfo>;
  try {
    instances = new Map((await multipass.list()).map((info) => [info.name, info]));
  } catch {
    return []; // Multipass itself failed: its own checks above say why
  }
  return Promise.all(names.map((name) => vmCheck(new InstanceState(name), instances.get(name))));
}

async function vmCheck(state: InstanceState, info: InstanceInfo | undefined): Promise<Check> {
  const name = `VM ${state.name}`;
  const nameFlag = state.name === DEFAULT_NAME ? '' : ` --name ${state.name}`;
  if (!info || info.state === 'Deleted')
    return warn(name, "gone from Multipass; labvm's record is left", `Run \`labvm down${nameFlag}\` to remove it.`);
  if (info.state !== 'Running') return pass(name, `${info.state} (\`labvm start${nameFlag}\` resumes it)`);
  if (!info.ipv4)
    return fail(
      name,
      'Running without an IP address',
      `Check \`multipass info ${state.name}\`; on VirtualBox use Hyper-V.`,
    );
  try {
    const record = await state.readRecord();
    if (!record)
      return warn(name, "labvm's record is missing", `Run \`labvm down${nameFlag}\` and \`labvm up${nameFlag}\`.`);
    const remote = await connectToInstance(state, record, info.ipv4, 10_000);
    remote.close();
    return pass(name, `reachable ${remote.path}, host key matches the pinned one`);
  } catch (error) {
    const fix = error instanceof LabvmError && error.hint ? error.hint : `Run \`labvm status${nameFlag}\`.`;
    const what = error instanceof LabvmError && error.kind === 'trust' ? 'trust failed' : 'not reachable';
    return fail(name, `${what}: ${errorMessage(error)}`, fix);
  }
}

function atLeast(version: string, minimum: number[]): boolean {
  const parts = version.split(/[.+-]/).map(Number);
  for (let i = 0; i < minimum.length; i++) {
    const part = parts[i] ?? 0;
    if (Number.isNaN(part)) return false;
    if (part !== minimum[i]) return part > minimum[i]!;
  }
  return true;
}

/** To a whole number of megabytes, so formatBytes prints "3712M" rather than a byte count. */
function roundDown(bytes: number): number {
  const unit = bytes >= 1024 ** 3 * 10 ? 1024 ** 3 : 1024 ** 2;
  return Math.floor(bytes / unit) * unit;
}
