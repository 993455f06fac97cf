import { mkdir, readdir, readFile, rm, chmod, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { hasPosixModes, type Platform, currentPlatform } from './platform.js';
import { LabvmError } from './errors.js';
import { fileSystemError, writeFileAtomic } from './fs.js';

/** The way round a state folder that cannot be used, besides repairing it. */
export const OTHER_HOME = 'Or set LABVM_HOME to another folder of yours.';
import { labvmCommand } from './hints.js';
import type { ShownSetting } from './settings.js';

/** Where labvm keeps one instance's keys and record: ~/.labvm/<name>, or $LABVM_HOME/<name>. */
export function labvmHome(env: NodeJS.ProcessEnv = process.env): string {
  // Absolute, so the ssh_config written there works from any folder.
  return resolve(env.LABVM_HOME || join(homedir(), '.labvm'));
}

export interface InstanceRecord {
  name: string;
  createdBy: 'labvm';
  createdAt: string;
  labvmVersion: string;
  image: string;
  cpus: number;
  memory: string;
  disk: string;
  /** The VM's SSH host public key ("ssh-ed25519 AAAA..."), pinned before the first connection. */
  hostPublicKey: string;
  /** The network settings the VM was made with, those not built in (proxy credentials redacted); absent in older records. */
  network?: ShownSetting[];
}

export const stateFiles = {
  clientKey: 'id_ed25519',
  clientPublicKey: 'id_ed25519.pub',
  knownHosts: 'known_hosts',
  record: 'instance.json',
  sshConfig: 'ssh_config',
} as const;

export class InstanceState {
  readonly dir: string;

  constructor(
    readonly name: string,
    home: string = labvmHome(),
    private readonly platform: Platform = currentPlatform(),
  ) {
    this.dir = join(home, name);
  }

  path(file: keyof typeof stateFiles): string {
    return join(this.dir, stateFiles[file]);
  }

  async exists(): Promise<boolean> {
    return stat(this.dir).then(
      () => true,
      () => false,
    );
  }

  async ensureDir(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      if (hasPosixModes(this.platform)) await chmod(this.dir, 0o700);
    } catch (error) {
      throw fileSystemError(error, 'create the folder', this.dir, OTHER_HOME);
    }
  }

  /** Writes via a temporary file and a rename, so a crash never leaves a half-written file behind. */
  async write(file: keyof typeof stateFiles, content: string): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(this.path(file), content, { bits: 0o600, enforce: hasPosixModes(this.platform) }).catch(
      (error: unknown) => {
        throw fileSystemError(error, 'write', this.path(file), OTHER_HOME);
      },
    );
  }

  /** Private again (0700 folder, 0600 files) after someone loosened the modes: OpenSSH refuses a readable key. */
  async restoreModes(): Promise<void> {
    if (!hasPosixModes(this.platform)) return;
    await this.ensureDir();
    for (const file of Object.keys(stateFiles) as Array<keyof typeof stateFiles>) {
      await chmod(this.path(file), 0o600).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw fileSystemError(error, 'change the mode of', this.path(file), OTHER_HOME);
      });
    }
  }

  async read(file: keyof typeof stateFiles): Promise<string | undefined> {
    return readFile(this.path(file), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw fileSystemError(error, 'read', this.path(file), OTHER_HOME);
    });
  }

  async readRecord(): Promise<InstanceRecord | undefined> {
    const text = await this.read('record');
    if (text === undefined) return undefined;
    try {
      const record = JSON.parse(text) as InstanceRecord;
      if (record.createdBy === 'labvm' && typeof record.hostPublicKey === 'string') return record;
    } catch {
      // fall through: a damaged record is reported below
    }
    throw new LabvmError(
      `The labvm record ${this.path('record')} is damaged.`,
      'vm',
      `Run \`${labvmCommand('down', this.name)}\` to remove the instance and its state, then \`${labvmCommand('up', this.name)}\` again.`,
    );
  }

  async writeRecord(record: InstanceRecord): Promise<void> {
    await this.write('record', `${JSON.stringify(record, null, 2)}\n`);
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true }).catch((error: unknown) => {
      throw fileSystemError(error, 'remove', this.dir);
    });
  }
}

/** The names of every instance labvm has a record for under `home` (whatever their VM's state). */
export async function recordedInstanceNames(home: string = labvmHome()): Promise<string[]> {
  const entries = await readdir(home, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const named = await Promise.all(
    entries
      .filter((entry) => entry.isDirectory())
      .map(async (entry) =>
        (await stat(join(home, entry.name, stateFiles.record)).then(
          () => true,
          () => false,
        ))
          ? entry.name
          : undefined,
      ),
  );
  return named.filter((name): name is string => name !== undefined).sort();
}
