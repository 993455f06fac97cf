import { LabvmError, errorMessage } from '../core/errors.js';
import { NotYet, StopRetrying, retry } from '../core/wait.js';
import type { Method } from './evidence.js';
import type { ExerciseHost } from './host.js';

export const SLEEP_ARGV = ['sleep', '600'];
/** Every container the exercise creates carries this label, so a crashed run's leftovers can be found. */
export const EXERCISE_LABEL = 'org.labvm.exercise';
export const NAMESPACE_FLAGS = ['--mount', '--uts', '--ipc', '--net', '--pid'];
/**
 * The helper container runs outside AppArmor's confinement, like the host's own nsenter: under docker-default it
 * could not open an unconfined process's namespaces (that needs a ptrace read, which docker-default allows only
 * towards docker-default), and the sleep would inherit docker-default, which changes question 3's answer.
 */
export const HELPER_SECURITY_OPT = ['apparmor=unconfined'];
export const HELPER_CAPS = ['SYS_ADMIN'];
/** How long nsenter may take to start the sleep: generous, since a VM without hardware virtualisation is slow. */
const SLEEP_START_DEADLINE_MS = 120_000;

export interface StartedSleep {
  hostPid: number;
  /** The nsenter process that waits for the sleep (the same as hostPid with --no-fork). */
  launcherPid: number;
  helperContainer?: string;
  /** The host file that receives the native nsenter's stderr. */
  stderrFile?: string;
  /** nsenter's start, still under way when a step was cut short (Ctrl-C): cleanup waits for it, then ends it. */
  launching?: Promise<number>;
}

/** How long cleanup waits for an nsenter start that a cut-short step left under way. */
const LAUNCH_SETTLE_MS = 30_000;

export interface SleepRequest {
  targetPid: number;
  method: Method;
  /** nsenter -F: exec without forking, so the sleep stays in the host's PID namespace (a control). */
  noFork?: boolean;
}

/**
 * Starts `sleep 600` in a container's namespaces, and remembers everything it started so that cleanup can
 * end it on success, failure and Ctrl-C alike.
 */
export class Sleepers {
  private readonly started: StartedSleep[] = [];
  private helperCount = 0;

  constructor(
    private readonly host: ExerciseHost,
    private readonly image: string,
  ) {}

  async start(request: SleepRequest): Promise<StartedSleep> {
    const nsenter = [
      'nsenter',
      '--target',
      String(request.targetPid),
      ...NAMESPACE_FLAGS,
      ...(request.noFork ? ['--no-fork'] : []),
      '--',
      ...SLEEP_ARGV,
    ];
    // Tracked before anything starts, so that a failure part-way still leaves cleanup() everything to end.
    const started: StartedSleep = { hostPid: 0, launcherPid: 0 };
    this.started.push(started);
    // One promise from the first remote call on, so a cleanup that comes first still waits for what it starts.
    // The kernel log's mark is taken before nsenter runs: for a native start, asked for in the same tick, so that
    // the host gets both as one command, in this order; for the helper, before the container is created.
    let mark: number | null = null;
    started.launching = (async () => {
      if (request.method !== 'native') {
        mark = await this.host.kernelLogMark();
        return this.startInHelper(nsenter, started);
      }
      const [logMark, launcherPid] = await Promise.all([this.host.kernelLogMark(), this.startNative(nsenter, started)]);
      mark = logMark;
      return launcherPid;
    })();
    started.launcherPid = await started.launching;
    started.hostPid ||= await this.waitForSleep(started, !!request.noFork, mark);
    return started;
  }

  /**
   * The host's own nsenter, detached so that it outlives the call that started it; its stderr kept for a failure.
   * The same round trip waits briefly for the sleep itself (nsenter's child, or nsenter itself with --no-fork).
   * Like the stderr file, the sleep's PID goes into `started` as soon as it is known, so that a cleanup which comes
   * while this start is still settling (Ctrl-C) ends it too; start() then has nothing left to wait for.
   */
  private async startNative(nsenter: string[], started: StartedSleep): Promise<number> {
    const detached = await this.host.startDetached(nsenter, SLEEP_ARGV);
    started.stderrFile = detached.stderrFile;
    if (detached.programPid) started.hostPid = detached.programPid;
    return detached.pid;
  }

  /**
   * A helper container sharing the host's PID namespace (--pid=host, to see the target PID) runs nsenter.
   * It needs CAP_SYS_ADMIN, which setns(2) requires for these namespaces (and which Docker's seccomp profile
   * ties setns to); CAP_SYS_CHROOT, needed to join a mount namespace, is a Docker default. Nothing else.
   */
  private async startInHelper(nsenter: string[], started: StartedSleep): Promise<number> {
    const name = `labvm-nsenter-helper-${++this.helperCount}`;
    started.helperContainer = name;
    await removeContainer(this.host, name);
    const container = await this.host.docker.createContainer({
      name,
      Image: this.image,
      Cmd: nsenter,
      Labels: { [EXERCISE_LABEL]: 'nsenter-helper' },
      HostConfig: { PidMode: 'host', CapAdd: HELPER_CAPS, SecurityOpt: HELPER_SECURITY_OPT },
    });
    await container.start();
    return (await container.inspect()).State.Pid;
  }

  /**
   * The sleep's host PID: nsenter's child, or nsenter itself with --no-fork. If nsenter ends first, its own error
   * and any denial the kernel logged meanwhile are the message, not a timeout.
   */
  private async waitForSleep(started: StartedSleep, noFork: boolean, mark: number | null): Promise<number> {
    return retry(
      async () => {
        if (noFork && (await this.host.isRunning(started.launcherPid, SLEEP_ARGV))) return started.launcherPid;
        for (const child of noFork ? [] : await this.host.childrenOf(started.launcherPid)) {
          if (await this.host.isRunning(child, SLEEP_ARGV)) return child;
        }
        if (!started.launcherPid || !(await this.host.readProc(started.launcherPid, 'cmdline')))
          throw new StopRetrying(await this.nsenterFailed(started, mark));
        throw new NotYet(`nsenter (PID ${started.launcherPid}) has not started \`${SLEEP_ARGV.join(' ')}\` yet`);
      },
      {
        timeoutMs: SLEEP_START_DEADLINE_MS,
        intervalMs: 100,
        retryIf: (error) => error instanceof NotYet,
        timeoutError: (last) =>
          new LabvmError(
            `nsenter (PID ${started.launcherPid}) still runs but has not started \`sleep 600\` after ${SLEEP_START_DEADLINE_MS / 1000} seconds.`,
            'exercise',
            'Run the exercise again; if it keeps failing, check `sudo nsenter --version` on the host.',
            undefined,
            { cause: last },
          ),
      },
    );
  }

  private async nsenterFailed(started: StartedSleep, mark: number | null): Promise<LabvmError> {
    const stderr = started.helperContainer
      ? (await this.host.docker.getContainer(started.helperContainer).logs({ stdout: true, stderr: true })).toString(
          'utf8',
        )
      : ((started.stderrFile ? await this.host.readFile(started.stderrFile) : undefined) ?? '');
    const audit = await this.host.auditSince(mark);
    const logged = audit.read
      ? audit.lines.length
        ? `The kernel logged: ${audit.lines.join('\n')}`
        : 'The kernel logged no AppArmor or SELinux denial meanwhile.'
      : `The kernel log could not be read (${audit.error ?? 'no reason given'}).`;
    const where = started.helperContainer ? ` in the helper container ${started.helperContainer}` : '';
    return new LabvmError(
      `nsenter${where} exited without starting \`sleep 600\`: ${stderr.trim().split('\n').pop() || 'it printed nothing'}`,
      'exercise',
      "The host refused to let nsenter enter the container's namespaces; the lines below say who refused.",
      `${stderr.trim()}\n${logged}`.trim(),
    );
  }

  /** What this run started and has not yet ended, in words (for a message when cleanup cannot finish). */
  describe(): string[] {
    return this.started
      .map((sleep) =>
        [
          ...(sleep.hostPid ? [`sleep 600 (PID ${sleep.hostPid})`] : []),
          ...(sleep.launcherPid && sleep.launcherPid !== sleep.hostPid && !sleep.helperContainer
            ? [`nsenter (PID ${sleep.launcherPid})`]
            : []),
          ...(sleep.helperContainer ? [sleep.helperContainer] : []),
        ].join(', '),
      )
      .filter(Boolean);
  }

  pids(): number[] {
    return this.started
      .flatMap((sleep) => [sleep.hostPid, sleep.helperContainer ? 0 : sleep.launcherPid])
      .filter((pid, at, all) => pid && all.indexOf(pid) === at);
  }

  /**
   * Ends every process and helper container this run started, through `host` (a new connection when the first
   * was lost). Returns what could not be cleaned; what is not yet ended stays listed for another attempt. The
   * checks run together, so that the host gets them as one command.
   */
  async cleanup(host: ExerciseHost = this.host): Promise<string[]> {
    const started = [...this.started].reverse();
    const outcomes = await Promise.allSettled(
      started.map(async (sleep) => {
        await settleLaunch(host, sleep);
        await Promise.all([
          killIfOurs(host, sleep.hostPid, SLEEP_ARGV),
          killIfOurs(host, sleep.launcherPid, ['nsenter']),
        ]);
        if (sleep.helperContainer) await removeContainer(host, sleep.helperContainer);
        if (sleep.stderrFile) await host.removeFile(sleep.stderrFile);
        this.started.splice(this.started.indexOf(sleep), 1);
      }),
    );
    const failed = outcomes.flatMap((outcome, index) =>
      outcome.status === 'rejected' ? [{ sleep: started[index]!, reason: outcome.reason as unknown }] : [],
    );
    if (host.lost && failed.length) throw failed[0]!.reason;
    return failed.map(({ sleep, reason }) => `sleep ${sleep.hostPid}: ${errorMessage(reason)}`);
  }
}

/**
 * A start cut short by Ctrl-C goes on in the background: wait for it (bounded), so the helper container it creates
 * and the sleep its nsenter forks are known to cleanup instead of appearing after it.
 */
async function settleLaunch(host: ExerciseHost, sleep: StartedSleep): Promise<void> {
  if (!sleep.launching) return;
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<number>((resolve) => (timer = setTimeout(() => resolve(0), LAUNCH_SETTLE_MS)));
  const pid = await Promise.race([sleep.launching.catch(() => 0), bound]);
  clearTimeout(timer);
  sleep.launcherPid ||= pid;
  if (!sleep.hostPid && sleep.launcherPid) {
    for (const child of await host.childrenOf(sleep.launcherPid)) {
      if (await host.isRunning(child, SLEEP_ARGV)) sleep.hostPid = child;
    }
  }
}

/** Kills the PID only while it still runs `argv` (never a reused PID), and checks that it is gone. */
async function killIfOurs(host: ExerciseHost, pid: number, argv: string[]): Promise<void> {
  if (!pid) return;
  const cmdline = (await host.readProc(pid, 'cmdline'))?.split('\0').filter(Boolean) ?? [];
  if (!cmdline.length || !argv.every((word, index) => cmdline[index] === word)) return;
  await host.kill(pid);
  if (!(await host.waitUntilGone(pid, cmdline, 2_000)))
    throw new Error(`PID ${pid} (${cmdline.join(' ')}) survived SIGKILL`);
}

/** Force-removes a container; one that does not exist is fine. */
export async function removeContainer(host: ExerciseHost, name: string): Promise<void> {
  try {
    await host.docker.getContainer(name).remove({ force: true, v: true });
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
}
