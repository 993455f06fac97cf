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

/** `ps aux` rows: USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND (the command may contain spaces). */
export function parsePsAux(listing: string): PsRow[] {
  return listing.split(/\r?\n/).slice(1).filter((line) => line.trim()).flatMap((line) => {
    const fields = line.trim().split(/\s+/);
    const pid = Number(fields[1]);
    if (fields.length < 11 || !Number.isInteger(pid)) return [];
    return [{ user: fields[0]!, pid, command: fields.slice(10).join(' '), line }];
  });
}

/** An LSM label from /proc/<pid>/attr/current; null when no module provides one (read fails or is empty). */
export function parseLabel(text: string | undefined): string | null {
  const label = text?.replace(/\0/g, '').trim();
  return label ? label : null;
}

/** The LSM list from /sys/kernel/security/lsm ("lockdown,capability,apparmor"). */
export function parseLsmList(text: string): string[] {
  return text.trim().split(',').map((name) => name.trim()).filter(Boolean);
}

/** Whether a /proc/<pid>/cgroup listing places the process in the container's cgroup (its ID appears in a path). */
export function inContainerCgroup(cgroup: string, containerId: string): boolean {
  return cgroup.split(/\r?\n/).some((line) => line.includes(containerId));
}
