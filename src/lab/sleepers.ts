import { LabvmError, errorMessage } from '../core/errors.js';
import { NotYet, retry } from '../core/wait.js';
import type { Method } from './evidence.js';
import type { ExerciseHost } from './host.js';

export const SLEEP_ARGV = ['sleep', '600'];
/** Every container the exercise creates carries this label, so a crashed run's leftovers can be found. */
export const EXERCISE_LABEL = 'org.labvm.exercise';
const NAMESPACE_FLAGS = ['--mount', '--uts', '--ipc', '--net', '--pid'];

export interface StartedSleep {
  hostPid: number;
  /** The nsenter process that waits for the sleep (the same as hostPid with --no-fork). */
  launcherPid: number;
  helperContainer?: string;
}

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

  constructor(private readonly host: ExerciseHost, private readonly image: string) {}

  async start(request: SleepRequest): Promise<StartedSleep> {
    const nsenter = ['nsenter', '--target', String(request.targetPid), ...NAMESPACE_FLAGS, ...(request.noFork ? ['--no-fork'] : []), '--', ...SLEEP_ARGV];
    // Tracked before anything starts, so that a failure part-way still leaves cleanup() everything to end.
    const started: StartedSleep = { hostPid: 0, launcherPid: 0 };
    this.started.push(started);
    started.launcherPid = request.method === 'native'
      ? await this.host.startDetached(nsenter) // the host's own nsenter, detached so it outlives the call that started it
      : await this.startInHelper(nsenter, started);
    started.hostPid = request.noFork ? started.launcherPid : await this.waitForChild(started.launcherPid);
    return started;
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
      HostConfig: { PidMode: 'host', CapAdd: ['SYS_ADMIN'] },
    });
    await container.start();
    const state = (await container.inspect()).State;
    if (!state.Running) {
      const logs = await container.logs({ stdout: true, stderr: true });
      throw new LabvmError('The nsenter helper container exited at once.', 'exercise', undefined, logs.toString('utf8').trim());
    }
    return state.Pid;
  }

  private async waitForChild(launcherPid: number): Promise<number> {
    return retry(async () => {
      for (const child of await this.host.childrenOf(launcherPid)) {
        if (await this.host.isRunning(child, SLEEP_ARGV)) return child;
      }
      throw new NotYet(`no child of PID ${launcherPid} runs \`${SLEEP_ARGV.join(' ')}\` yet`);
    }, {
      timeoutMs: 5_000,
      intervalMs: 100,
      retryIf: (error) => error instanceof NotYet,
      timeoutError: (last) => new LabvmError(`nsenter (PID ${launcherPid}) did not start \`sleep 600\` within 5 seconds.`, 'exercise',
        'Run the exercise again; if it keeps failing, check `sudo nsenter --version` on the host.', undefined, { cause: last }),
    });
  }

  /**
   * Ends every process and helper container this run started. Returns what could not be cleaned. The checks run
   * together, so that the host gets them as one command.
   */
  async cleanup(): Promise<string[]> {
    const started = this.started.splice(0).reverse();
    const outcomes = await Promise.allSettled(started.map(async (sleep) => {
      await Promise.all([this.killIfOurs(sleep.hostPid, SLEEP_ARGV), this.killIfOurs(sleep.launcherPid, ['nsenter'])]);
      if (sleep.helperContainer) await removeContainer(this.host, sleep.helperContainer);
    }));
    return outcomes.flatMap((outcome, index) =>
      (outcome.status === 'rejected' ? [`sleep ${started[index]!.hostPid}: ${errorMessage(outcome.reason)}`] : []));
  }

  /** Kills the PID only while it still runs `argv` (never a reused PID), and checks that it is gone. */
  private async killIfOurs(pid: number, argv: string[]): Promise<void> {
    if (!pid) return;
    const cmdline = (await this.host.readProc(pid, 'cmdline'))?.split('\0').filter(Boolean) ?? [];
    if (!cmdline.length || !argv.every((word, index) => cmdline[index] === word)) return;
    await this.host.kill(pid);
    if (!(await this.host.waitUntilGone(pid, cmdline, 2_000))) throw new Error(`PID ${pid} (${cmdline.join(' ')}) survived SIGKILL`);
  }
}

/** Force-removes a container; one that does not exist is fine. */
export async function removeContainer(host: ExerciseHost, name: string): Promise<void> {
  try {
    await host.docker.getContainer(name).remove({ force: true, v: true });
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
}
