// info and list, in the formats labvm reads (json) and the ones people read (table, yaml, csv).

import YAML from 'yaml';
import { parseArgs, parseFormat } from './args.js';
import { LABEL } from './common.js';
import { docker, findInstance, findInstances, selectInstances, type Instance, type State } from './instances.js';
import { formatBinary, out, printJson } from './output.js';

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

export async function infoJson(instance: Instance): Promise<InfoJson> {
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

export function infoTable(name: string, info: InfoJson): string {
  const row = (label: string, value: string) => `${`${label}:`.padEnd(16)}${value}\n`;
  const running = info.state === 'Running';
  const usage = (used?: string | number, total?: string | number) =>
    used === undefined || total === undefined
      ? '--'
      : `${formatBinary(Number(used))} out of ${formatBinary(Number(total))}`;
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

export async function info(argv: string[]): Promise<number> {
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

export async function list(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { format: ['--format'] }, { snapshots: ['--snapshots'] });
  const format = parseFormat(args);
  const rows = (await findInstances()).map((i) => ({
    ipv4: i.ipv4,
    name: i.name,
    release: `Ubuntu ${i.labels[`${LABEL}.image-release`] ?? ''}`.trim(),
    state: i.state,
  }));
  if (format === 'json') return (printJson({ list: rows }), 0);
  if (format === 'yaml') return (out(YAML.stringify(Object.fromEntries(rows.map((r) => [r.name, [r]])))), 0);
  if (format === 'csv') {
    out('Name,State,IPv4,IPv6,Release,AllIPv4\n');
    for (const r of rows) out(`${r.name},${r.state},${r.ipv4[0] ?? ''},,${r.release},"${r.ipv4.join(',')}"\n`);
    return 0;
  }
  if (rows.length === 0) return (out('No instances found.\n'), 0);
  const width = Math.max(24, ...rows.map((r) => r.name.length + 2));
  out(`${'Name'.padEnd(width)}${'State'.padEnd(18)}${'IPv4'.padEnd(17)}Image\n`);
  for (const r of rows)
    out(`${r.name.padEnd(width)}${r.state.padEnd(18)}${(r.ipv4[0] ?? '--').padEnd(17)}${r.release}\n`);
  return 0;
}
