// The double's instances are Docker containers (and a volume each), found again through their label.

import { Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { $, ProcessOutput } from 'zx';
import { CONTAINER_PREFIX, DELETED_SUFFIX, INSTANCE_LABEL, errorsOccurred } from './common.js';

export const sh = $({ quiet: true });

export async function docker(args: string[], input?: string): Promise<string> {
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
export async function dockerExecOk(container: string, command: string[]): Promise<boolean> {
  return (await sh({ nothrow: true })`docker exec ${container} ${command}`).exitCode === 0;
}

export interface ContainerJson {
  Name: string;
  Image: string;
  Config: { Labels: Record<string, string> | null };
  State: { Running: boolean; Status: string };
  NetworkSettings: { IPAddress: string };
  SizeRootFs?: number;
}

export type State = 'Running' | 'Starting' | 'Stopped' | 'Deleted';

export interface Instance {
  name: string;
  container: string;
  state: State;
  ipv4: string[];
  labels: Record<string, string>;
  imageHash: string;
  rootFsBytes: number;
}

export const containerName = (name: string) => `${CONTAINER_PREFIX}${name}`;
export const volumeName = (name: string) => `${CONTAINER_PREFIX}${name}-docker`;

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
  if (process.env.MULTIPASS_DOUBLE_UNROUTABLE !== '1') return ip;
  // Stable per instance, in .200-.249, and never one of this computer's own addresses (a machine may itself sit
  // in TEST-NET-1, where its own address would refuse the connection at once instead of not answering).
  const own = new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address)));
  let host = 200 + ((Number(ip.split('.')[3]) || 0) % 50);
  while (own.has(`192.0.2.${host}`)) host = host === 249 ? 200 : host + 1;
  return `192.0.2.${host}`;
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
export async function findInstances(name?: string, withSize = false): Promise<Instance[]> {
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

export async function findInstance(name: string, withSize = false): Promise<Instance | undefined> {
  return (await findInstances(name, withSize))[0];
}

/**
 * Resolves names to instances like the daemon's instance selection: any missing name (or, when
 * `allowDeleted` is false, any deleted one) fails the whole command with one line per culprit.
 */
export async function selectInstances(cmd: string, names: string[], all: boolean, allowDeleted: boolean) {
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
