import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { stringify } from 'yaml';
import { generateEd25519 } from '../../src/vm/keys.js';
import { NGINX_BASE_IMAGE, type Run } from './labvm.js';

/**
 * A real AppArmor host for the tests: a QEMU VM (TCG) booted from the disk that scripts/test-host/prepare.sh builds
 * (Debian 12's own kernel with AppArmor on, Debian's docker.io loading docker-default). Each boot gets a
 * copy-on-write overlay, its own cloud-init seed (a `cidata` volume, as Multipass makes), a pinned host key and a
 * test key for `ubuntu`; only 127.0.0.1:PORT is forwarded to the VM's sshd.
 */

export const VM_CACHE = '/var/cache/labvm-test/apparmor-vm';
const QEMU = 'qemu-system-x86_64';
// About 1.5 min on an idle machine (TCG); far longer when the CPU is shared, so the bound is generous.
const BOOT_DEADLINE_MS = 25 * 60_000;

/** Why the VM cannot run here, or undefined when it can. Only a missing QEMU is a reason to skip. */
export function apparmorVmUnavailable(): string | undefined {
  if (spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status !== 0) {
    return `${QEMU} cannot run here: run \`bash scripts/test-host/prepare.sh\`, which installs qemu-system-x86`;
  }
  return undefined;
}

export class AppArmorVm {
  private constructor(
    readonly dir: string,
    readonly port: number,
    /** known_hosts line pinning the VM's host key at [127.0.0.1]:PORT. */
    readonly knownHostsLine: string,
    readonly identity: string,
    private readonly knownHostsFile: string,
  ) {}

  get spec(): string {
    return `ubuntu@127.0.0.1:${this.port}`;
  }

  /** Boots a fresh VM; on any failure, shuts it down and removes its files before rethrowing. */
  static async boot(log: (line: string) => void = () => {}): Promise<AppArmorVm> {
    for (const file of ['disk.img', 'vmlinuz', 'initrd.img']) {
      if (!existsSync(join(VM_CACHE, file)))
        throw new Error(`${join(VM_CACHE, file)} is missing: run \`bash scripts/test-host/prepare.sh\``);
    }
    const dir = await mkdtemp('/var/tmp/labvm-apparmor-vm-');
    try {
      const port = await freeLoopbackPort();
      const hostKey = generateEd25519('labvm-apparmor-vm-host');
      const userKey = generateEd25519('labvm-apparmor-vm-test');
      const identity = join(dir, 'id_ed25519');
      await writeFile(identity, userKey.privateKey, { mode: 0o600 });
      const knownHostsLine = `[127.0.0.1]:${port} ${hostKey.publicKey.split(' ').slice(0, 2).join(' ')}`;
      const knownHostsFile = join(dir, 'known_hosts');
      await writeFile(knownHostsFile, `${knownHostsLine}\n`, { mode: 0o600 });
      const vm = new AppArmorVm(dir, port, knownHostsLine, identity, knownHostsFile);
      await vm.writeSeed(hostKey.privateKey, hostKey.publicKey, userKey.publicKey);
      run('qemu-img', [
        'create',
        '-q',
        '-f',
        'qcow2',
        '-b',
        join(VM_CACHE, 'disk.img'),
        '-F',
        'raw',
        join(dir, 'disk.qcow2'),
      ]);
      vm.start();
      const started = Date.now();
      await vm.waitForCloudInit();
      log(`AppArmor VM: ssh up and cloud-init done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      return vm;
    } catch (error) {
      await AppArmorVm.shutdown(dir);
      throw error;
    }
  }

  private async writeSeed(hostPrivate: string, hostPublic: string, userPublic: string): Promise<void> {
    const seed = join(this.dir, 'seed');
    await mkdir(seed);
    const userData = {
      ssh_deletekeys: true,
      ssh_keys: { ed25519_private: hostPrivate, ed25519_public: hostPublic },
      ssh_authorized_keys: [userPublic],
      // Group membership is fixed at login: the tests connect only after cloud-init has finished.
      runcmd: [['usermod', '-aG', 'docker', 'ubuntu']],
    };
    await writeFile(join(seed, 'user-data'), `#cloud-config\n${stringify(userData)}`);
    await writeFile(join(seed, 'meta-data'), 'instance-id: labvm-apparmor-vm\nlocal-hostname: labvm-apparmor\n');
    run('genisoimage', [
      '-quiet',
      '-output',
      join(this.dir, 'seed.iso'),
      '-volid',
      'cidata',
      '-joliet',
      '-rock',
      join(seed, 'user-data'),
      join(seed, 'meta-data'),
    ]);
  }

  private start(): void {
    const child = spawn(
      QEMU,
      [
        '-accel',
        'tcg,thread=multi',
        '-cpu',
        'max',
        '-smp',
        '2',
        '-m',
        '2048',
        '-display',
        'none',
        '-nodefaults',
        '-serial',
        `file:${join(this.dir, 'serial.log')}`,
        '-kernel',
        join(VM_CACHE, 'vmlinuz'),
        '-initrd',
        join(VM_CACHE, 'initrd.img'),
        '-append',
        'root=/dev/vda rw console=ttyS0 apparmor=1 security=apparmor net.ifnames=0',
        '-drive',
        `file=${join(this.dir, 'disk.qcow2')},if=virtio,format=qcow2`,
        '-drive',
        `file=${join(this.dir, 'seed.iso')},if=virtio,media=cdrom,readonly=on`,
        '-netdev',
        `user,id=n0,hostfwd=tcp:127.0.0.1:${this.port}-:22`,
        '-device',
        'virtio-net-pci,netdev=n0',
        '-pidfile',
        join(this.dir, 'qemu.pid'),
        '-daemonize',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('exit', (code) => {
      if (code !== 0) this.startError = `${QEMU} exited ${code}: ${stderr.trim()}`;
    });
  }

  private startError: string | undefined;

  private async waitForCloudInit(): Promise<void> {
    const until = Date.now() + BOOT_DEADLINE_MS;
    let last: Run | undefined;
    while (Date.now() < until) {
      if (this.startError) throw new Error(this.startError);
      // Polled rather than `cloud-init status --wait`: a session opened while cloud-init restarts sshd can hang.
      last = this.ssh('cloud-init status', 60_000);
      if (last.code === 0 && /status: done/.test(last.stdout)) return;
      await delay(5_000);
    }
    const serial = await readFile(join(this.dir, 'serial.log'), 'utf8').catch(() => '');
    throw new Error(
      `the AppArmor VM did not finish cloud-init within ${BOOT_DEADLINE_MS / 60_000} min ` +
        `(last ssh: exit ${last?.code}, ${last?.stderr.trim()} ${last?.stdout.trim()}); serial console tail:\n${serial.slice(-3000)}`,
    );
  }

  /** The ssh client's arguments: the pinned host key only, the test key only, no prompt. */
  private sshArgs(): string[] {
    return [
      '-p',
      String(this.port),
      '-i',
      this.identity,
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${this.knownHostsFile}`,
      '-o',
      'ConnectTimeout=20',
      '-o',
      'LogLevel=ERROR',
      'ubuntu@127.0.0.1',
    ];
  }

  /** A shell command in the VM as `ubuntu` (the test's own view, independent of labvm). */
  ssh(script: string, timeoutMs = 300_000, input?: string): Run {
    const result = spawnSync('ssh', [...this.sshArgs(), script], {
      encoding: 'utf8',
      input,
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: result.status, signal: result.signal, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
  }

  /** A long-running command in the VM whose output is collected until stop(). */
  watch(script: string): { stop: () => Promise<string> } {
    const child: ChildProcess = spawn('ssh', [...this.sshArgs(), script], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    return { stop: async () => (child.kill('SIGTERM'), await closed, out) };
  }

  /** The test's nginx base image, moved into the VM's Docker (no registry is reachable here). */
  loadImage(image = NGINX_BASE_IMAGE): void {
    const load = spawnSync(
      'sh',
      ['-c', `docker save ${image} | ssh ${this.sshArgs().map(shellWord).join(' ')} docker load`],
      { encoding: 'utf8', timeout: 15 * 60_000 },
    );
    if (load.status !== 0) throw new Error(`could not load ${image} into the AppArmor VM: ${load.stderr}`);
  }

  async dispose(): Promise<void> {
    await AppArmorVm.shutdown(this.dir);
  }

  /** Ends QEMU (by its pidfile) and removes every file of this boot. */
  static async shutdown(dir: string): Promise<void> {
    const pid = Number((await readFile(join(dir, 'qemu.pid'), 'utf8').catch(() => '')).trim());
    if (pid > 0 && isQemu(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && isQemu(pid); i++) await delay(100);
      if (isQemu(pid)) process.kill(pid, 'SIGKILL');
    }
    await chmod(dir, 0o700).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

function isQemu(pid: number): boolean {
  const comm = spawnSync('cat', [`/proc/${pid}/comm`], { encoding: 'utf8' });
  return comm.status === 0 && comm.stdout.trim().startsWith('qemu-system');
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr || result.error?.message}`);
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
