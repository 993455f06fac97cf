/**
 * What the exercise observes on the host. Everything here is raw observation; answers.ts interprets it.
 * Optional fields were added after schemaVersion 1 first shipped: a saved report without them is still valid, and a
 * missing field means "not observed", never "absent on the host".
 */

export type Method = 'native' | 'container';

export interface EnvironmentEvidence {
  /** Where the exercise ran: the labvm instance name or user@host. */
  target: string;
  kernel: string;
  dockerVersion: string;
  /** Active Linux security modules (/sys/kernel/security/lsm), e.g. ["capability","apparmor"]. */
  lsms: string[];
  /** Whether /sys/kernel/security/lsm could be read at all (an empty `lsms` then means "not observed"). */
  lsmListRead?: boolean;
  /** SELinux mode from /sys/fs/selinux/enforce: true = enforcing, false = permissive, null = no SELinux there. */
  selinuxEnforcing?: boolean | null;
  /** Whether AppArmor is enabled in the kernel (/sys/module/apparmor/parameters/enabled = Y). */
  apparmorEnabled: boolean;
  /** Docker's `docker info` SecurityOptions, e.g. ["name=apparmor","name=seccomp,profile=builtin"]. */
  dockerSecurityOptions: string[];
  method: Method;
  /** The image the exercise image was built FROM (`--base-image`). */
  baseImage?: string;
  /** Whether labvm removed the exercise container at the end (false with --keep). */
  containerRemoved?: boolean;
  /** What the target is and how it was reached (absent in evidence recorded before labvm knew more than one kind). */
  targetDetails?: TargetEvidence;
}

/** The kind of target, its endpoint, and the engine's own description of its host (`docker info`). */
export interface TargetEvidence {
  kind: 'vm' | 'ssh-host' | 'docker-engine';
  /** ssh://user@host:port or the Docker engine's URL; never a secret. */
  endpoint: string;
  /** DOCKER_HOST, a named context, or the default socket: how labvm chose a Docker engine. */
  endpointSource?: string;
  /** `docker info` OperatingSystem and KernelVersion, e.g. "Docker Desktop" and "6.10.14-linuxkit". */
  operatingSystem: string;
  kernelVersion: string;
  /** What `--method native` means on this target, in words. */
  nativeMethod: string;
  /** Prefixes of the host-side commands done by hand ("sudo", or `docker exec` into the helper), and the helper's start. */
  rootCommand?: string;
  hostCommand?: string;
  setupCommand?: string;
}

export interface ContainerEvidence {
  name: string;
  id: string;
  image: string;
  /** The container's init (nginx master) as the host sees it: `docker inspect` State.Pid. */
  hostPid: number;
  /** Docker's AppArmor profile for the container ("docker-default", "unconfined" or ""). */
  appArmorProfile: string;
  /**
   * The container's init's /proc/<pid>/attr/current: the major LSM's label (AppArmor's profile, or SELinux's context on
   * SELinux hosts); null when no LSM provides one.
   */
  initLabel: string | null;
  /** The same for a `docker exec` process: what `kill` will run under. */
  execLabel: string | null;
  /** AppArmor's own label, from /proc/<pid>/attr/apparmor/current (kernel >= 5.1); null when that file is absent or empty. */
  initAppArmorLabel?: string | null;
  execAppArmorLabel?: string | null;
  /** The init's name, /proc/<pid>/comm: nginx, or docker-init / tini when an init wraps it. */
  initComm?: string;
  /** The init's /proc/<pid>/uid_map: "0 0 4294967295" when the container has no user namespace of its own. */
  uidMap?: string;
  /** nginx answered on the published port. */
  http: { port: number; status: number; server?: string };
}

export interface SleepEvidence {
  /** PID of `sleep 600` in the host's PID namespace. */
  hostPid: number;
  /** PID of the same process as `docker exec <c> ps` shows it, or null when `ps` does not list it. */
  containerPid: number | null;
  /** The NSpid line of /proc/<host pid>/status: outermost namespace first. */
  nspid: number[];
  /** The PID namespace of the sleep and of the container's init (readlink /proc/<pid>/ns/pid). */
  pidNamespace: string;
  containerPidNamespace: string;
  /** /proc/<host pid>/cgroup, and whether it names the container's cgroup. */
  cgroup: string;
  inContainerCgroup: boolean;
  /** Whether `docker top` (the container's cgroup) lists the sleep. */
  listedByDockerTop: boolean;
  /** /proc/<host pid>/attr/current and /proc/<host pid>/attr/apparmor/current, as for the container. */
  label: string | null;
  appArmorLabel?: string | null;
  /** The full `docker exec <c> ps aux` listing, and the line of it that is the sleep. */
  psAux: string;
  psLine: string | null;
}

export interface KillEvidence {
  /** PID the kill was sent to, as the container sees it. */
  targetPid: number;
  command: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Whether the process still existed on the host shortly after the kill. */
  processGone: boolean;
  /** The kernel's audit lines about signals logged during this kill (read from `sudo dmesg`, bounded to the kill). */
  audit?: AuditEvidence;
}

export interface AuditEvidence {
  /** Whether the kernel log could be read; when false, `lines` is empty and `error` says why. */
  read: boolean;
  /** AppArmor `apparmor="DENIED" operation="signal"` and SELinux `avc: denied { signal }` lines, as logged. */
  lines: string[];
  error?: string;
}

export interface StopEvidence {
  /** The sleep's host PID when `docker stop` was run. */
  hostPid: number;
  /** The same sleep's NSpid before the stop: was it inside the container's PID namespace? */
  nspid: number[];
  inContainerCgroup: boolean;
  stopSeconds: number;
  /** Whether the host PID still existed (and was still our sleep) after the stop. */
  processSurvived: boolean;
  /** How the container's init ended: `docker inspect` State after the stop. */
  containerExitCode: number;
}

export type ControlName = 'no-fork' | 'apparmor-unconfined';

/** A variation that should flip one answer (nsenter -F; a container with apparmor=unconfined). */
export interface ControlEvidence {
  name: ControlName;
  description: string;
  sleep: SleepEvidence;
  kill?: KillEvidence;
  stop?: StopEvidence;
  container: ContainerEvidence;
}

export interface Evidence {
  environment: EnvironmentEvidence;
  container: ContainerEvidence;
  sleep: SleepEvidence;
  kill: KillEvidence;
  /** Evidence for question 2 is taken from a fresh sleep when the kill removed the first one. */
  stop: StopEvidence;
  controls: ControlEvidence[];
}
