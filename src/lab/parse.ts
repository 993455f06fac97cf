/** Pure parsers for what the host prints; kept apart so they are unit-tested without a host. */

/** The NSpid line of /proc/<pid>/status: one PID per nested PID namespace, outermost first. */
export function parseNSpid(status: string): number[] {
  const line = /^NSpid:\s*(.*)$/m.exec(status)?.[1] ?? '';
  return line.trim().split(/\s+/).filter(Boolean).map(Number);
}

export interface PsRow {
  user: string;
  pid: number;
  command: string;
  line: string;
}

/** `ps aux` rows, read by the header's columns (USER PID ... COMMAND; the command may contain spaces). */
export function parsePsAux(listing: string): PsRow[] {
  const [header = '', ...lines] = listing.split(/\r?\n/);
  const columns = header.trim().split(/\s+/);
  const pidAt = columns.indexOf('PID');
  const commandAt = columns.findIndex((column) => column === 'COMMAND' || column === 'CMD' || column === 'ARGS');
  if (pidAt < 0 || commandAt < 0) return [];
  return lines
    .filter((line) => line.trim())
    .flatMap((line) => {
      const fields = line.trim().split(/\s+/);
      const pid = Number(fields[pidAt]);
      if (fields.length <= commandAt || !Number.isInteger(pid)) return [];
      return [{ user: fields[columns.indexOf('USER')] ?? '', pid, command: fields.slice(commandAt).join(' '), line }];
    });
}

/** An LSM label from /proc/<pid>/attr/current; null when no module provides one (read fails or is empty). */
export function parseLabel(text: string | undefined): string | null {
  const label = text?.replace(/\0/g, '').trim();
  return label ? label : null;
}

/** The LSM list from /sys/kernel/security/lsm ("lockdown,capability,apparmor"). */
export function parseLsmList(text: string): string[] {
  return text
    .trim()
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
}

/** Whether a /proc/<pid>/cgroup listing places the process in the container's cgroup (its ID appears in a path). */
export function inContainerCgroup(cgroup: string, containerId: string): boolean {
  return cgroup.split(/\r?\n/).some((line) => line.includes(containerId));
}

/** The stamp of the last line of `dmesg` output ([ 123.456789] -> 123.456789); 0 for an empty log. */
export function lastKernelLogStamp(dmesg: string): number | null {
  const lines = dmesg.trimEnd().split(/\r?\n/).filter(Boolean);
  if (!lines.length) return 0;
  const stamp = /^\[\s*(\d+\.\d+)\]/.exec(lines[lines.length - 1]!);
  return stamp ? Number(stamp[1]) : null;
}

/** AppArmor and SELinux denials (`apparmor="DENIED"`, `avc: denied`) in `dmesg` output, stamped after `mark`. */
export function parseDenials(dmesg: string, mark: number): string[] {
  return dmesg.split(/\r?\n/).flatMap((line) => {
    const stamp = /^\[\s*(\d+\.\d+)\]\s*(.*)$/.exec(line);
    if (!stamp || Number(stamp[1]) <= mark) return [];
    const text = stamp[2]!.trim();
    return /apparmor="DENIED"|avc:\s+denied/.test(text) ? [text] : [];
  });
}
