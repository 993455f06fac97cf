import type Docker from 'dockerode';
import { LabvmError, dockerErrorMessage } from '../core/errors.js';
import { bounded } from '../core/interrupt.js';
import type { DockerEndpoint } from '../remote/docker-endpoint.js';
import type { CommandResult } from '../remote/ssh.js';
import type { Duplex } from 'node:stream';
import { parseHttpResponse } from '../remote/http-response.js';
import type { ShellStreams } from '../remote/shell-session.js';
import { RootShellHost, demuxExec, dockerExec, type HttpAnswer, type TargetDescription } from './host.js';
import { EXERCISE_LABEL, removeContainer } from './sleepers.js';

/** The one container per run through which every host-side step on a Docker engine goes. */
export const ENGINE_HELPER = 'labvm-engine-helper';

/** How long the helper's root shell may take to attach before each root command takes a `docker exec` of its own. */
const SHELL_ATTACH_TIMEOUT_MS = 5_000;

/** What the helper's work needs beyond Docker's defaults when --privileged cannot be applied (see startHelper). */
export const HELPER_CAPABILITIES = ['SYS_ADMIN', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYSLOG'] as const;

/** What the engine's SecurityOptions say about how its containers map to the engine host. */
export function engineIsolation(securityOptions: string[]): 'rootless' | 'userns' | 'rootful' {
  const names = securityOptions.map((option) => /(?:^|,)name=([^,]+)/.exec(option)?.[1]);
  return names.includes('rootless') ? 'rootless' : names.includes('userns') ? 'userns' : 'rootful';
}

/**
 * A local Docker engine (Docker Desktop, Colima, OrbStack, Rancher Desktop, Linux): no SSH. Root work runs in one
 * privileged helper container that shares the engine host's PID and network namespaces, which is where
 * `docker inspect`'s State.Pid lives, even when the engine runs in a VM of its own.
 */
export class EngineExerciseHost extends RootShellHost {
  readonly target: string;
  private helperRunning = false;
  private usernsHost = false;
  /** False when the engine could not apply --privileged and the helper runs with the part of it its work needs. */
  private fullyPrivileged = true;
  /** The connection of the helper's root shell (a hijacked `docker exec`). */
  private shellStream?: Duplex;
  private closed = false;
  /** The image the helper runs (the exercise image), once prepare() started it. */
  private image?: string;

  constructor(
    readonly docker: Docker,
    readonly endpoint: DockerEndpoint,
  ) {
    super();
    this.target = `the Docker engine at ${endpoint.url}`;
  }

  get builder(): Docker {
    return this.docker;
  }

  describe(): TargetDescription {
    return {
      kind: 'docker-engine',
      endpoint: this.endpoint.url,
      endpointSource: this.endpoint.source,
      nativeMethod:
        "nsenter run from a privileged helper container in the engine host's PID namespace " +
        (this.fullyPrivileged
          ? '(--privileged --pid=host)'
          : `(--pid=host with ${HELPER_CAPABILITIES.map((cap) => `CAP_${cap}`).join(', ')} and no seccomp or LSM confinement: this engine cannot apply --privileged)`),
      rootCommand: `docker exec ${ENGINE_HELPER}`,
      hostCommand: `docker exec ${ENGINE_HELPER}`,
      setupCommand: `docker run -d --name ${ENGINE_HELPER} ${this.helperFlags().join(' ')} --pid=host --net=host ${this.image ?? '<exercise image>'} sleep infinity`,
    };
  }

  /** A rootless engine's "host" is a user namespace of one user: the exercise cannot show the real host's view there. */
  async checkPrerequisites(): Promise<void> {
    const info = (await this.docker.info()) as { SecurityOptions?: string[] };
    const isolation = engineIsolation(info.SecurityOptions ?? []);
    if (isolation === 'rootless') {
      throw new LabvmError(
        `${this.target} runs rootless (SecurityOptions: name=rootless). There, the containers and even a ` +
          "--privileged --pid=host helper live in a user namespace owned by your user: the helper sees that namespace's processes, " +
          "not the engine host's, and its root is not the host's root. So the exercise cannot show the sleep's PID on the host " +
          'nor what the host kernel does to it there.',
        'prerequisite',
        'Use a rootful engine (Docker Desktop, Colima and OrbStack are), or the Ubuntu VM: `labvm up`, then `labvm exercise`.',
      );
    }
    // With userns-remap, --privileged and --pid=host are refused unless the helper leaves the remapping (--userns=host).
    this.usernsHost = isolation === 'userns';
  }

  /** Starts the helper from the exercise image (a crashed run's helper is replaced) and checks that it has nsenter. */
  async prepare(image: string): Promise<void> {
    await removeContainer(this, ENGINE_HELPER);
    this.image = image;
    await this.startHelper(image);
    this.helperRunning = true;
    await this.keepRootShell(`docker exec -i ${ENGINE_HELPER} sh`, () => this.openHelperShell());
    const nsenter = await this.runAsRoot(['sh', '-c', 'command -v nsenter']);
    if (nsenter.exitCode !== 0) {
      throw new LabvmError(
        'The exercise image has no nsenter, which the helper container runs on this target.',
        'exercise',
        "Use a base image that has util-linux's nsenter (the official nginx image, Debian-based, has it): --base-image nginx:latest.",
      );
    }
  }

  /**
   * `--privileged --pid=host --net=host`, as the classic first way of doing the exercise. Where the engine's own
   * capability bounding set is smaller than "all" (some sandboxes and CI machines lack CAP_SYS_RESOURCE), runc
   * cannot apply --privileged ("unable to apply caps"). Then the helper gets the part of --privileged its work
   * needs, all of which such engines have: CAP_SYS_ADMIN (setns, mounting securityfs), CAP_SYS_PTRACE (/proc of
   * any process), CAP_SYSLOG (the kernel log's denials where dmesg is restricted), no seccomp filter, no AppArmor
   * profile, no SELinux label, unmasked /proc and /sys. Naming these
   * needs no probe of the bounding set (a container start of its own), and real engines still run the classic
   * helper, since the fallback is taken only after the real --privileged failed.
   */
  private async startHelper(image: string): Promise<void> {
    const base = {
      name: ENGINE_HELPER,
      Image: image,
      Cmd: ['sleep', 'infinity'],
      Labels: { [EXERCISE_LABEL]: 'engine-helper' },
    };
    const hostConfig = { PidMode: 'host', NetworkMode: 'host', ...(this.usernsHost ? { UsernsMode: 'host' } : {}) };
    try {
      await (await this.docker.createContainer({ ...base, HostConfig: { ...hostConfig, Privileged: true } })).start();
      return;
    } catch (error) {
      if (!/unable to apply caps/i.test(dockerErrorMessage(error))) throw error;
      await removeContainer(this, ENGINE_HELPER);
    }
    this.fullyPrivileged = false;
    await (
      await this.docker.createContainer({
        ...base,
        HostConfig: {
          ...hostConfig,
          CapAdd: [...HELPER_CAPABILITIES],
          SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined', 'label=disable'],
          // The API's form of the CLI's --security-opt systempaths=unconfined.
          MaskedPaths: [],
          ReadonlyPaths: [],
        },
      })
    ).start();
  }

  /** One `sh` kept open in the helper: each root command is then a write and a read, not a `docker exec` of its own. */
  private async openHelperShell(): Promise<ShellStreams> {
    const exec = await this.docker.getContainer(ENGINE_HELPER).exec({
      Cmd: ['sh'],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    // An attach that comes after the wait gave up, or after close(), would keep labvm alive: it is destroyed then.
    const stream = await bounded(exec.start({ hijack: true, stdin: true }), {
      timeoutMs: SHELL_ATTACH_TIMEOUT_MS,
      onTimeout: () => new Error(`the engine did not attach within ${SHELL_ATTACH_TIMEOUT_MS / 1000} s`),
      discard: (late) => late.destroy(),
    });
    if (this.closed || typeof stream.write !== 'function') {
      stream.destroy();
      throw new Error(this.closed ? 'the helper was closed' : 'the engine did not upgrade the connection');
    }
    this.shellStream = stream;
    return { stdin: stream, ...demuxExec(this.docker, stream) };
  }

  /** The helper's privileges as docker CLI flags (for the commands a person would type). */
  private helperFlags(): string[] {
    if (this.fullyPrivileged) return ['--privileged', ...(this.usernsHost ? ['--userns=host'] : [])];
    return [
      ...(this.usernsHost ? ['--userns=host'] : []),
      ...HELPER_CAPABILITIES.map((cap) => `--cap-add ${cap}`),
      ...['seccomp=unconfined', 'apparmor=unconfined', 'label=disable', 'systempaths=unconfined'].map(
        (option) => `--security-opt ${option}`,
      ),
    ];
  }

  protected async runOneAsRoot(argv: string[]): Promise<CommandResult> {
    if (!this.helperRunning) throw new LabvmError('The helper container was used before it was started.', 'internal');
    return dockerExec(this.docker, ENGINE_HELPER, argv);
  }

  /** securityfs is not mounted in containers: the privileged helper mounts it in its own mount namespace to read the list. */
  protected override lsmScript(): string {
    return 'cat /sys/kernel/security/lsm 2>/dev/null || { mount -t securityfs securityfs /sys/kernel/security && cat /sys/kernel/security/lsm; }';
  }

  /** From the helper, on the engine host's loopback (--net=host): this works whether the engine runs in a VM or not. */
  async httpGet(port: number): Promise<HttpAnswer> {
    const request = `GET / HTTP/1.0\\r\\nHost: localhost:${port}\\r\\nConnection: close\\r\\n\\r\\n`;
    const script =
      'if command -v bash >/dev/null; then ' +
      `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && printf "${request}" >&3 && timeout 5 cat <&3'; ` +
      `else wget -S -q -O /dev/null -T 5 http://127.0.0.1:${port}/ 2>&1; fi`;
    const result = await this.runAsRoot(['sh', '-c', script]);
    if (result.exitCode !== 0) throw new Error((result.stderr || result.stdout).trim() || `exit ${result.exitCode}`);
    return parseHttpResponse(result.stdout);
  }

  /** Removes the helper, and with it whatever it started (its processes are in its cgroup). */
  async close(): Promise<void> {
    this.closed = true;
    this.rootSession?.close();
    // The engine does not always end a hijacked exec connection once its shell ends: it would keep labvm alive.
    this.shellStream?.destroy();
    this.helperRunning = false;
    await removeContainer(this, ENGINE_HELPER);
  }
}
