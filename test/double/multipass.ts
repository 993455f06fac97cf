// Multipass test double.
//
// Keeps the command-line contract of multipass 1.16.3 (output shapes, messages, exit codes; see
// /work/shared/reference/multipass-cli.md) for the commands labvm uses, but its instances are Docker
// containers built from the VM stand-in image (test/standin): each one runs the real cloud-init on the
// user-data it was given, a real sshd and a real dockerd, and is reachable on its bridge IP.
//
// Instance = container `multipass-double-<name>` (renamed `multipass-double-<name>.deleted` while
// Deleted) + volume `multipass-double-<name>-docker` at /var/lib/docker. Everything is found again
// through the label `multipass-double.instance=<name>`; the double keeps no state on the host.
//
// Environment knobs:
//   MULTIPASS_DOUBLE_IMAGE             image of new instances (default labvm-test/vm-standin:latest)
//   MULTIPASS_DOUBLE_CLOUD_INIT_DELAY  seconds the instance waits before cloud-init (a slow boot)
//   MULTIPASS_DOUBLE_DAEMON_DOWN=1     behave as if multipassd were unreachable
//   MULTIPASS_DOUBLE_FAILING_RUNCMD    a shell line put first in the user-data's runcmd (to make provisioning fail)
//   MULTIPASS_DOUBLE_UNROUTABLE=1      report each instance at an address the host cannot reach (exec still works)
//   MULTIPASS_DOUBLE_PHASE_TIMEOUT     seconds the daemon waits for each launch phase, in place of the
//                                      300 s default or --timeout (a slow network makes the real one give up)

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { $, ProcessOutput } from 'zx';

const VERSION = '1.16.3';
const LABEL = 'multipass-double';
const INSTANCE_LABEL = `${LABEL}.instance`;
const CONTAINER_PREFIX = 'multipass-double-';
const DELETED_SUFFIX = '.deleted';
const DEFAULT_IMAGE = 'labvm-test/vm-standin:latest';
const DEFAULT_PHASE_TIMEOUT_S = 300;
const STOP_TIMEOUT_S = 20;
const NAME_RULE = /^([a-zA-Z]|[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const SIZE_RULE = /^(\d+)(\.\d+)?([KMG](i?B)?|B)?$/i;
const MIN_MEMORY = 128 * 2 ** 20;
const MIN_DISK = 512 * 2 ** 20;
const BOOT_FINISHED = '/var/lib/cloud/instance/boot-finished';

/** A failure to report: `text` goes to stderr as is, the process exits with `exitCode`. */
class MultipassError extends Error {
  constructor(
    readonly text: string,
    readonly exitCode: number,
  ) {
    super(text);
  }
}

/** Command-line error (exit 1), printed without the "<cmd> failed:" prefix. */
const usageError = (text: string) => new MultipassError(text, 1);

/** Daemon-side failure (exit 2): `<cmd> failed: <message>`. */
const failed = (cmd: string, message: string) => new MultipassError(`${cmd} failed: ${message}`, 2);

const errorsOccurred = (cmd: string, lines: string[]) =>
  failed(cmd, `The following errors occurred:\n${lines.join('\n')}`);

// ---------------------------------------------------------------------------------------------------
// Docker

const sh = $({ quiet: true });

async function docker(args: string[], input?: string): Promise<string> {
  try {
    return (await sh({ input })`docker ${args}`).stdout;
  } catch (error) {
    if (error instanceof ProcessOutput) {
      throw new Error(`docker ${args[0]} failed: ${error.stderr.trim() || `exit ${error.exitCode}`}`, { cause: error });
    }
    throw error;
  }
}

/** Runs a command in the container; true when it exits 0. */
async function dockerExecOk(container: string, command: string[]): Promise<boolean> {
  return (await sh({ nothrow: true })`docker exec ${container} ${command}`).exitCode === 0;
}

interface ContainerJson {
  Name: string;
  Image: string;
  Config: { Labels: Record<string, string> | null };
  State: { Running: boolean; Status: string };
  NetworkSettings: { IPAddress: string };
  SizeRootFs?: number;
}

type State = 'Running' | 'Starting' | 'Stopped' | 'Deleted';

interface Instance {
  name: string;
  container: string;
  state: State;
  ipv4: string[];
  labels: Record<string, string>;
  imageHash: string;
  rootFsBytes: number;
}

const containerName = (name: string) => `${CONTAINER_PREFIX}${name}`;
const volumeName = (name: string) => `${CONTAINER_PREFIX}${name}-docker`;

function tcpAccepts(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(port, host);
  });
}

/**
 * With MULTIPASS_DOUBLE_UNROUTABLE=1 the instance is reported at an address this computer cannot reach (TEST-NET-1,
 * RFC 5737), as behind VirtualBox's NAT or a VPN; `exec` still reaches it, as Multipass's own SSH path does.
 */
function reportedAddress(ip: string): string {
  return process.env.MULTIPASS_DOUBLE_UNROUTABLE === '1' ? `192.0.2.${Number(ip.split('.')[3] ?? 1) || 1}` : ip;
}

async function toInstance(json: ContainerJson): Promise<Instance> {
  const container = json.Name.replace(/^\//, '');
  const labels = json.Config.Labels ?? {};
  const ip = json.NetworkSettings.IPAddress;
  let state: State;
  if (container.endsWith(DELETED_SUFFIX)) state = 'Deleted';
  else if (!json.State.Running) state = 'Stopped';
  else state = ip && (await tcpAccepts(ip, 22)) ? 'Running' : 'Starting';
  return {
    name: labels[INSTANCE_LABEL] ?? container,
    container,
    state,
    ipv4: state === 'Running' ? [reportedAddress(ip)] : [],
    labels,
    imageHash: json.Image.replace(/^sha256:/, ''),
    rootFsBytes: json.SizeRootFs ?? 0,
  };
}

/** Every instance of the double (or only the one called `name`), sorted by name. */
async function findInstances(name?: string, withSize = false): Promise<Instance[]> {
  const filter = name === undefined ? `label=${INSTANCE_LABEL}` : `label=${INSTANCE_LABEL}=${name}`;
  const ids = (await docker(['ps', '-aq', '--filter', filter])).split(/\s+/).filter(Boolean);
  if (ids.length === 0) return [];
  // Containers can vanish between the two calls (another process purging): inspect reports them
  // as missing, exits 1, and still prints the others.
  const inspected = await sh({ nothrow: true })`docker inspect ${withSize ? ['--size'] : []} ${ids}`;
  if (!inspected.stdout.trim().startsWith('[')) throw new Error(`docker inspect failed: ${inspected.stderr.trim()}`);
  const json = JSON.parse(inspected.stdout) as ContainerJson[];
  const instances = await Promise.all(json.map(toInstance));
  return instances.sort((a, b) => a.name.localeCompare(b.name));
}

async function findInstance(name: string, withSize = false): Promise<Instance | undefined> {
  return (await findInstances(name, withSize))[0];
}

/**
 * Resolves names to instances like the daemon's instance selection: any missing name (or, when
 * `allowDeleted` is false, any deleted one) fails the whole command with one line per culprit.
 */
async function selectInstances(cmd: string, names: string[], all: boolean, allowDeleted: boolean) {
  const everyone = await findInstances();
  if (all) return allowDeleted ? everyone : everyone.filter((i) => i.state !== 'Deleted');
  const problems: string[] = [];
  const selected: Instance[] = [];
  for (const name of new Set(names)) {
    const instance = everyone.find((i) => i.name === name);
    if (!instance) problems.push(`instance "${name}" does not exist`);
    else if (instance.state === 'Deleted' && !allowDeleted) problems.push(`instance "${name}" is deleted`);
    else selected.push(instance);
  }
  if (problems.length > 0) throw errorsOccurred(cmd, problems);
  return selected;
}

// ---------------------------------------------------------------------------------------------------
// Command-line parsing (QCommandLineParser-like: -x V, --long V, --long=V, `--` ends the options)

interface Args {
  positional: string[];
  values: Map<string, string>;
  switches: Set<string>;
  afterDashDash: string[];
}

/** `valueOptions`/`switchOptions` map a canonical key to its spellings. -v/-h are accepted everywhere. */
function parseArgs(
  argv: string[],
  valueOptions: Record<string, string[]> = {},
  switchOptions: Record<string, string[]> = {},
): Args {
  const lookup = new Map<string, { key: string; takesValue: boolean }>();
  for (const [key, flags] of Object.entries(valueOptions)) for (const f of flags) lookup.set(f, { key, takesValue: true });
  const globals = { verbose: ['-v', '-vv', '-vvv', '-vvvv', '--verbose'], help: ['-h', '--help'] };
  for (const [key, flags] of Object.entries({ ...globals, ...switchOptions }))
    for (const f of flags) lookup.set(f, { key, takesValue: false });

  const args: Args = { positional: [], values: new Map(), switches: new Set(), afterDashDash: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.afterDashDash = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      args.positional.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const option = lookup.get(flag);
    if (!option) throw usageError(`Unknown option '${flag.replace(/^-+/, '')}'.`);
    if (!option.takesValue) {
      args.switches.add(option.key);
    } else if (eq > 0) {
      args.values.set(option.key, arg.slice(eq + 1));
    } else if (i + 1 < argv.length) {
      args.values.set(option.key, argv[++i]!);
    } else {
      throw usageError(`Missing value after '${flag}'.`);
    }
  }
  return args;
}

/** Names given, or --all; neither: `Name argument or --all is required` (exit 1). */
function namesOrAll(args: Args): { names: string[]; all: boolean } {
  const all = args.switches.has('all');
  if (all && args.positional.length > 0) throw usageError('Cannot specify name when --all option set');
  if (!all && args.positional.length === 0) throw usageError('Name argument or --all is required');
  return { names: args.positional, all };
}

function parseTimeout(args: Args): number | undefined {
  const raw = args.values.get('timeout');
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw usageError('error: --timeout value has to be a positive integer');
  return Number(raw);
}

function parseFormat(args: Args): 'table' | 'json' | 'yaml' | 'csv' {
  const format = args.values.get('format') ?? 'table';
  if (format !== 'table' && format !== 'json' && format !== 'yaml' && format !== 'csv')
    throw usageError(`Invalid format type given.`);
  return format;
}

// ---------------------------------------------------------------------------------------------------
// Output helpers

const out = (text: string) => process.stdout.write(text);

function printJson(value: unknown) {
  out(`${JSON.stringify(value, null, 4)}\n`);
}

/** Multipass's AnimatedSpinner: `message  ` then `\b<frame>` ticks, and a line clear when stopped. */
class Spinner {
  private static readonly FRAMES = ['|', '/', '-', '\\'];
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;

  start(message: string) {
    this.stop();
    out(`${message}  `);
    this.timer = setInterval(() => out(`\b${Spinner.FRAMES[this.frame++ % Spinner.FRAMES.length]}`), 100);
    this.timer.unref();
  }

  stop() {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    out('\x1B[2K\x1B[0A\x1B[0E');
  }
}

function formatBinary(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value}${units[0]}` : `${value.toFixed(1)}${units[unit]}`;
}

// ---------------------------------------------------------------------------------------------------
// Waiting for an instance

/** Polls `check` every `intervalMs` until it holds; false when `timeoutS` elapsed first. */
async function pollUntil(check: () => Promise<boolean>, timeoutS: number, intervalMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

async function waitForSsh(cmd: string, name: string, timeoutS: number) {
  const up = await pollUntil(
    async () => {
      const instance = await findInstance(name);
      if (!instance || instance.state === 'Stopped' || instance.state === 'Deleted')
        throw failed(cmd, `instance "${name}" stopped while booting; see: docker logs ${containerName(name)}`);
      return instance.state === 'Running';
    },
    timeoutS,
    500,
  );
  if (!up) throw errorsOccurred(cmd, [`${name}: timed out waiting for response`]);
}

async function waitForCloudInit(cmd: string, name: string, timeoutS: number) {
  const done = await pollUntil(() => dockerExecOk(containerName(name), ['test', '-e', BOOT_FINISHED]), timeoutS, 1000);
  if (!done) throw errorsOccurred(cmd, ['timed out waiting for initialization to complete']);
}

/**
 * The client-side `--timeout` timer: when it fires, waits for `settled` (the daemon's side of the work
 * that must not be cut short), prints `message` and exits 5. The instance is left as it is.
 */
function startClientTimer(timeoutS: number | undefined, spinner: Spinner, message: string, settled: () => Promise<unknown>) {
  if (timeoutS === undefined) return () => undefined;
  const timer = setTimeout(() => {
    void settled()
      .catch(() => undefined)
      .then(() => {
        spinner.stop();
        process.stderr.write(`${message}\n`);
        process.exit(5);
      });
  }, timeoutS * 1000);
  return () => clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------------
// Launch

const IMAGE_RELEASES: Record<string, string> = {
  '24.04': '24.04 LTS', noble: '24.04 LTS', n: '24.04 LTS', lts: '24.04 LTS', default: '24.04 LTS',
  '22.04': '22.04 LTS', jammy: '22.04 LTS', j: '22.04 LTS',
  '20.04': '20.04 LTS', focal: '20.04 LTS', f: '20.04 LTS',
  '25.04': '25.04', plucky: '25.04', p: '25.04',
  '25.10': '25.10', questing: '25.10', q: '25.10',
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

const PET_ADJECTIVES = ['brave', 'calm', 'eager', 'gentle', 'happy', 'jolly', 'lively', 'proud', 'sunny', 'witty'];
const PET_ANIMALS = ['badger', 'crane', 'dingo', 'gecko', 'heron', 'lemur', 'otter', 'panda', 'quail', 'squid'];
const petName = () =>
  `${PET_ADJECTIVES[Math.floor(Math.random() * 10)]}-${PET_ANIMALS[Math.floor(Math.random() * 10)]}`;

function parseLaunch(argv: string[]): LaunchRequest {
  const args = parseArgs(
    argv,
    {
      name: ['-n', '--name'], cpus: ['-c', '--cpus'], memory: ['-m', '--memory', '--mem'], disk: ['-d', '--disk'],
      timeout: ['--timeout'], cloudInit: ['--cloud-init'], network: ['--network'], mount: ['--mount'],
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

  const name = args.values.get('name') ?? petName();
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
    'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
    'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
    'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
    'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
    'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
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
    'create', '--name', container, '--hostname', req.name,
    ...Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]),
    '--cap-add', 'ALL', ...capabilitiesMissingFromBoundingSet().flatMap((cap) => ['--cap-drop', cap]),
    '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
    '--security-opt', 'systempaths=unconfined', '--device-cgroup-rule', 'a *:* rwm', '--cgroupns', 'private',
    '--volume', `${volume}:/var/lib/docker`,
    '--env', `STANDIN_CLOUD_INIT_DELAY=${process.env.MULTIPASS_DOUBLE_CLOUD_INIT_DELAY ?? '0'}`,
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

async function launch(argv: string[]): Promise<number> {
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

// ---------------------------------------------------------------------------------------------------
// info / list

interface RuntimeInfo {
  load: number[];
  memoryUsed: number;
  innerDockerBytes: number;
  release: string;
}

/** One `docker exec` for what multipassd would read over SSH. */
async function runtimeInfo(instance: Instance): Promise<RuntimeInfo> {
  const script = [
    'read l1 l2 l3 _ < /proc/loadavg; echo "load=$l1 $l2 $l3"',
    'm=/sys/fs/cgroup/memory',
    'if [ -r $m/memory.usage_in_bytes ]; then',
    '  echo "mem=$(( $(cat $m/memory.usage_in_bytes) - $(awk \'$1 == "total_inactive_file" { print $2 }\' $m/memory.stat) ))"',
    'else awk \'/^MemTotal/ { t = $2 } /^MemAvailable/ { a = $2 } END { print "mem=" (t - a) * 1024 }\' /proc/meminfo; fi',
    'echo "docker=$(du -sxb /var/lib/docker 2>/dev/null | cut -f1)"',
    '. /etc/os-release; echo "release=$PRETTY_NAME"',
  ].join('\n');
  const fields = new Map<string, string>();
  for (const line of (await docker(['exec', instance.container, 'sh', '-c', script])).split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return {
    load: (fields.get('load') ?? '').split(' ').filter(Boolean).map(Number),
    memoryUsed: Number(fields.get('mem') ?? 0),
    innerDockerBytes: Number(fields.get('docker') || 0),
    release: fields.get('release') ?? '',
  };
}

interface InfoJson {
  cpu_count: string;
  disks: { sda1: { total?: string; used?: string } };
  image_hash: string;
  image_release: string;
  ipv4: string[];
  load: number[];
  memory: { total?: number; used?: number };
  mounts: Record<string, never>;
  release: string;
  snapshot_count: string;
  state: State;
}

async function infoJson(instance: Instance): Promise<InfoJson> {
  const base: InfoJson = {
    cpu_count: '',
    disks: { sda1: {} },
    image_hash: instance.imageHash,
    image_release: instance.labels[`${LABEL}.image-release`] ?? '',
    ipv4: instance.ipv4,
    load: [],
    memory: {},
    mounts: {},
    release: '',
    snapshot_count: '0',
    state: instance.state,
  };
  if (instance.state !== 'Running') return base;
  const runtime = await runtimeInfo(instance);
  return {
    ...base,
    cpu_count: instance.labels[`${LABEL}.cpus`] ?? '1',
    disks: {
      sda1: {
        total: instance.labels[`${LABEL}.disk`] ?? '',
        used: String(instance.rootFsBytes + runtime.innerDockerBytes),
      },
    },
    load: runtime.load,
    memory: { total: Number(instance.labels[`${LABEL}.memory`] ?? 0), used: runtime.memoryUsed },
    release: runtime.release,
  };
}

function infoTable(name: string, info: InfoJson): string {
  const row = (label: string, value: string) => `${`${label}:`.padEnd(16)}${value}\n`;
  const running = info.state === 'Running';
  const usage = (used?: string | number, total?: string | number) =>
    used === undefined || total === undefined ? '--' : `${formatBinary(Number(used))} out of ${formatBinary(Number(total))}`;
  return [
    row('Name', name),
    row('State', info.state),
    row('Snapshots', info.snapshot_count),
    row('IPv4', info.ipv4[0] ?? '--'),
    row('Release', info.release || '--'),
    row('Image hash', `${info.image_hash.slice(0, 12)} (Ubuntu ${info.image_release})`),
    row('CPU(s)', info.cpu_count || '--'),
    row('Load', running ? info.load.map((n) => n.toFixed(2)).join(' ') : '--'),
    row('Disk usage', running ? usage(info.disks.sda1.used, info.disks.sda1.total) : '--'),
    row('Memory usage', running ? usage(info.memory.used, info.memory.total) : '--'),
    row('Mounts', '--'),
  ].join('');
}

async function info(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { format: ['--format'] }, { all: ['--all'], snapshots: ['--snapshots'] });
  const format = parseFormat(args);
  const selected =
    args.positional.length === 0 ? await findInstances() : await selectInstances('info', args.positional, false, true);
  const sized = await Promise.all(selected.map(async (i) => (await findInstance(i.name, true)) ?? i));
  const infos = await Promise.all(sized.map(async (i) => [i.name, await infoJson(i)] as const));
  if (format === 'json') printJson({ errors: [], info: Object.fromEntries(infos) });
  else if (format === 'yaml') out(YAML.stringify(Object.fromEntries(infos.map(([n, i]) => [n, [i]]))));
  else out(infos.map(([name, i]) => infoTable(name, i)).join('\n'));
  return 0;
}

async function list(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { format: ['--format'] }, { snapshots: ['--snapshots'] });
  const format = parseFormat(args);
  const rows = (await findInstances()).map((i) => ({
    ipv4: i.ipv4,
    name: i.name,
    release: `Ubuntu ${i.labels[`${LABEL}.image-release`] ?? ''}`.trim(),
    state: i.state,
  }));
  if (format === 'json') return printJson({ list: rows }), 0;
  if (format === 'yaml') return out(YAML.stringify(Object.fromEntries(rows.map((r) => [r.name, [r]])))), 0;
  if (format === 'csv') {
    out('Name,State,IPv4,IPv6,Release,AllIPv4\n');
    for (const r of rows) out(`${r.name},${r.state},${r.ipv4[0] ?? ''},,${r.release},"${r.ipv4.join(',')}"\n`);
    return 0;
  }
  if (rows.length === 0) return out('No instances found.\n'), 0;
  const width = Math.max(24, ...rows.map((r) => r.name.length + 2));
  out(`${'Name'.padEnd(width)}${'State'.padEnd(18)}${'IPv4'.padEnd(17)}Image\n`);
  for (const r of rows) out(`${r.name.padEnd(width)}${r.state.padEnd(18)}${(r.ipv4[0] ?? '--').padEnd(17)}${r.release}\n`);
  return 0;
}

// ---------------------------------------------------------------------------------------------------
// Lifecycle

async function bootInstance(instance: Instance) {
  if (instance.state === 'Stopped') await docker(['start', instance.container]);
}

async function start(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { timeout: ['--timeout'] }, { all: ['--all'] });
  const { names, all } = namesOrAll(args);
  const timeoutS = parseTimeout(args);
  const everyone = await findInstances();
  const problems: string[] = [];
  for (const name of names) {
    const instance = everyone.find((i) => i.name === name);
    if (!instance) problems.push(`Instance '${name}' does not exist.`);
    else if (instance.state === 'Deleted')
      problems.push(`Instance '${name}' is deleted. Use 'recover' to recover it or 'purge' to permanently delete it.`);
  }
  if (problems.length > 0) throw failed('start', `instance(s) missing\n${problems.join('\n')}`);
  const targets = everyone.filter((i) => i.state !== 'Deleted' && (all || names.includes(i.name)));
  const spinner = new Spinner();
  const booted = Promise.all(targets.map(bootInstance));
  const cancelTimer = startClientTimer(timeoutS, spinner, 'Timed out waiting for instance to start.', () => booted);
  try {
    spinner.start(`Starting ${all ? 'all instances' : names.join(', ')}`);
    await booted;
    for (const instance of targets) await waitForSsh('start', instance.name, timeoutS ?? DEFAULT_PHASE_TIMEOUT_S);
  } finally {
    cancelTimer();
    spinner.stop();
  }
  return 0;
}

async function stop(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { time: ['-t', '--time'] }, { all: ['--all'], cancel: ['-c', '--cancel'], force: ['--force'] });
  const { names, all } = namesOrAll(args);
  const targets = await selectInstances('stop', names, all, false);
  if (args.switches.has('cancel')) return 0;
  await Promise.all(targets.map((i) => docker(['stop', '-t', String(STOP_TIMEOUT_S), i.container])));
  return 0;
}

async function purgeInstance(instance: Instance) {
  await docker(['rm', '-f', '-v', instance.container]);
  await docker(['volume', 'rm', '-f', volumeName(instance.name)]);
}

async function markDeleted(instance: Instance) {
  if (instance.state === 'Deleted') return;
  await docker(['stop', '-t', String(STOP_TIMEOUT_S), instance.container]);
  await docker(['rename', instance.container, `${containerName(instance.name)}${DELETED_SUFFIX}`]);
}

async function deleteCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {}, { all: ['--all'], purge: ['-p', '--purge'] });
  const { names, all } = namesOrAll(args);
  const targets = await selectInstances('delete', names, all, true);
  await Promise.all(targets.map(args.switches.has('purge') ? purgeInstance : markDeleted));
  return 0;
}

async function purge(argv: string[]): Promise<number> {
  parseArgs(argv);
  const deleted = (await findInstances()).filter((i) => i.state === 'Deleted');
  await Promise.all(deleted.map(purgeInstance));
  return 0;
}

async function recover(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {}, { all: ['--all'] });
  const { names, all } = namesOrAll(args);
  const targets = await selectInstances('recover', names, all, true);
  for (const instance of targets.filter((i) => i.state === 'Deleted'))
    await docker(['rename', instance.container, containerName(instance.name)]);
  return 0;
}

async function exec(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { workdir: ['-d', '--working-directory'] }, { noMap: ['-n', '--no-map-working-directory'] });
  const [name, ...inline] = args.positional;
  const command = [...inline, ...args.afterDashDash];
  if (name === undefined || command.length === 0) throw usageError('Wrong number of arguments');
  const [instance] = await selectInstances('exec', [name], false, false);
  if (instance!.state !== 'Running') {
    // Real exec goes over SSH: a stopped instance is started, a booting one waited for.
    await bootInstance(instance!);
    await waitForSsh('exec', name, DEFAULT_PHASE_TIMEOUT_S);
  }
  const tty = process.stdin.isTTY && process.stdout.isTTY ? ['-t'] : [];
  const env = ['USER=ubuntu', 'LOGNAME=ubuntu', 'SHELL=/bin/bash'].flatMap((e) => ['-e', e]);
  const workdir = args.values.get('workdir') ?? '/home/ubuntu';
  const result = await $({ stdio: 'inherit', nothrow: true, quiet: true })`docker exec -i ${tty} -u ubuntu -w ${workdir} ${env} ${instance!.container} ${command}`;
  return result.exitCode ?? 255;
}

// ---------------------------------------------------------------------------------------------------
// version / get / dispatch

async function version(argv: string[]): Promise<number> {
  const format = parseFormat(parseArgs(argv, { format: ['--format'] }));
  const versions: Record<string, string> = { multipass: VERSION };
  if (process.env.MULTIPASS_DOUBLE_DAEMON_DOWN !== '1') versions.multipassd = VERSION;
  if (format === 'json') printJson(versions);
  else if (format === 'yaml') out(YAML.stringify(versions));
  else for (const [key, value] of Object.entries(versions)) out(`${key.padEnd(12)}${value}\n`);
  return 0;
}

async function get(argv: string[]): Promise<number> {
  const { positional } = parseArgs(argv, {}, { raw: ['--raw'], keys: ['--keys'] });
  if (positional[0] !== 'local.driver') throw failed('get', `Unrecognized settings key: '${positional[0] ?? ''}'`);
  out('qemu\n');
  return 0;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  version, launch, info, list, ls: list, start, stop, delete: deleteCommand, purge, recover, exec, get,
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '-h' || cmd === '--help') {
    out(`Usage: multipass <command> [options]   (test double of multipass ${VERSION})\n`);
    out(`Commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return cmd === undefined ? 1 : 0;
  }
  const handler = COMMANDS[cmd];
  if (!handler) throw usageError(`Error: unknown command '${cmd}'`);
  if (cmd !== 'version' && process.env.MULTIPASS_DOUBLE_DAEMON_DOWN === '1')
    throw failed(cmd, 'cannot connect to the multipass socket');
  try {
    return await handler(rest);
  } catch (error) {
    if (error instanceof MultipassError) throw error;
    throw failed(cmd, (error as Error).message);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof MultipassError) {
      process.stderr.write(`${error.text}\n`);
      process.exitCode = error.exitCode;
    } else {
      process.stderr.write(`multipass double: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
