import { InstanceState, recordedInstanceNames, type InstanceRecord } from '../core/state.js';
import { PROVISIONED_MARKER } from '../vm/vm-paths.js';
import { connectToInstance } from '../vm/instance.js';
import { Multipass, type InstanceInfo } from '../vm/multipass.js';

export interface ListEntry {
  name: string;
  /** Multipass's state, or "missing" when labvm has a record but Multipass no instance. */
  state: string;
  ipv4: string | null;
  release: string | null;
  /** As launched (labvm's record); null when the record is damaged. */
  image: string | null;
  cpus: number | null;
  memory: string | null;
  disk: string | null;
  createdAt: string | null;
  /** Reached over SSH with the pinned key and provisioned; null when not running (nothing to check). */
  ready: boolean | null;
  stateDir: string;
  /** For a record whose instance is gone (or damaged): the command that removes what is left. */
  cleanup: string | null;
}

/** Every VM labvm created (its records), with Multipass's view of each: one `multipass list` for all. */
export async function list(multipass = new Multipass()): Promise<ListEntry[]> {
  const names = await recordedInstanceNames();
  if (names.length === 0) return [];
  const instances = new Map((await multipass.list()).map((info) => [info.name, info]));
  return Promise.all(names.map((name) => entry(new InstanceState(name), instances.get(name))));
}

async function entry(state: InstanceState, info: InstanceInfo | undefined): Promise<ListEntry> {
  const record = await state.readRecord().catch(() => undefined);
  const gone = !info || info.state === 'Deleted';
  return {
    name: state.name,
    state: info?.state ?? 'missing',
    ipv4: info?.ipv4 ?? null,
    release: info?.release || null,
    image: record?.image ?? null,
    cpus: record?.cpus ?? null,
    memory: record?.memory ?? null,
    disk: record?.disk ?? null,
    createdAt: record?.createdAt ?? null,
    ready: record && info?.state === 'Running' && info.ipv4 ? await isReady(state, record, info.ipv4) : null,
    stateDir: state.dir,
    cleanup: gone || !record ? `labvm down --name ${state.name}` : null,
  };
}

/** A short look: the pinned key answers and labvm's provisioning marker is there. */
async function isReady(state: InstanceState, record: InstanceRecord, address: string): Promise<boolean> {
  try {
    const remote = await connectToInstance(state, record, address, 5_000);
    try {
      return (await remote.run(`test -e ${PROVISIONED_MARKER}`, { timeoutMs: 5_000 })).exitCode === 0;
    } finally {
      remote.close();
    }
  } catch {
    return false;
  }
}
