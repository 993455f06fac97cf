import { open, rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LabvmError, errorMessage, usageError } from '../core/errors.js';
import { fileSystemError, writeFileAtomic } from '../core/fs.js';
import { abortOnInterrupt, bounded, interrupted } from '../core/interrupt.js';
import type { Progress } from '../core/progress.js';
import { validateImageReference } from '../core/validate.js';
import { labvmVersion } from '../core/paths.js';
import type { Method } from '../lab/evidence.js';
import { EngineExerciseHost } from '../lab/engine-host.js';
import { SshExerciseHost } from '../lab/host.js';
import { connectToEngine } from '../remote/docker-engine.js';
import { DEFAULT_NAME } from '../core/defaults.js';
import { labvmCommand } from '../core/hints.js';
import { CONTAINER_NAME, gatherEvidence } from '../lab/run.js';
import { InstanceState } from '../core/state.js';
import { hostAlias } from '../vm/instance.js';
import { hostTarget } from '../remote/host-target.js';
import { RemoteHost, type SshTarget } from '../remote/ssh.js';
import { buildReport, type ExerciseReport } from '../report/model.js';
import { renderMarkdown } from '../report/markdown.js';
import { connectToReadyInstance } from '../vm/situation.js';
import { withInstanceLock } from '../core/lock.js';
import { validateInstanceName } from '../core/validate.js';

export interface ExerciseCommandOptions {
  /** Absent unless given: the labvm VM named DEFAULT_NAME. */
  name?: string;
  host?: string;
  /** The laptop's own Docker engine instead of a VM or SSH host; context picks a docker CLI context. */
  docker?: boolean;
  context?: string;
  identity?: string;
  method: string;
  baseImage: string;
  report?: string;
  /** Overwrite an existing --report file. */
  force?: boolean;
  controls?: boolean;
  keep?: boolean;
}

export interface ExerciseResult {
  report: ExerciseReport;
  /** Writes the Markdown report when --report was given (called after the report is shown, so a failing write loses nothing). */
  saveReport?: () => Promise<string>;
  /** With --keep: the container left in place, and the ssh command that logs in where it is. */
  kept?: { container: string; login: string };
}

/** Connects, runs the experiment, interprets the evidence; the CLI prints the result. */
export async function exercise(given: ExerciseCommandOptions, progress: Progress): Promise<ExerciseResult> {
  const options = asText(given);
  // Everything that can be checked is checked before anything runs.
  const method = parseMethod(options.method);
  checkTargetOptions(options);
  validateImageReference(options.baseImage, '--base-image');
  if (!options.docker && options.host === undefined) validateInstanceName(instanceName(options));
  const target = options.host === undefined ? undefined : await hostTarget(options.host, options.identity);
  const markdownFile =
    options.report === undefined ? undefined : await checkReportFile(options.report, !!options.force);
  const run = () => runExercise(options, method, target, progress);
  // The lock guards a labvm VM; an SSH host or a Docker engine is not labvm's to lock.
  const { report, kept } =
    options.docker || target ? await run() : await withInstanceLock(instanceName(options), 'exercise', run);
  return { report, kept, saveReport: markdownFile ? () => saveMarkdown(markdownFile, report) : undefined };
}

/** Option values as text, whatever the parser made of them (a value like 0 or 1e3 can arrive as a number). */
function asText(options: ExerciseCommandOptions): ExerciseCommandOptions {
  const text = (value: string | number | undefined) => (value === undefined ? undefined : String(value));
  return {
    ...options,
    name: text(options.name),
    method: String(options.method),
    baseImage: String(options.baseImage),
    host: text(options.host),
    identity: text(options.identity),
    report: text(options.report),
    context: text(options.context),
  };
}

async function runExercise(
  options: ExerciseCommandOptions,
  method: Method,
  target: SshTarget | undefined,
  progress: Progress,
): Promise<{ report: ExerciseReport; kept?: ExerciseResult['kept'] }> {
  const { signal, dispose } = abortOnInterrupt();
  try {
    const host = options.docker
      ? await progress.phase(
          'connecting to the Docker engine',
          () => connectEngine(options.context),
          (h) => `${h.endpoint.url} (${h.endpoint.source})`,
        )
      : await progress.phase('connecting over SSH', () =>
          bounded(connect(options, target), { signal, discard: (late) => void late.close() }).catch(
            (error: unknown) => {
              // A Ctrl-C on a terminal reaches multipass too, which then fails: the interrupt is what happened.
              throw signal.aborted ? interrupted('nothing was started yet') : error;
            },
          ),
        );
    try {
      const startedAt = new Date();
      const evidence = await gatherEvidence(
        host,
        {
          target: host instanceof SshExerciseHost && !options.host ? instanceName(options) : host.target,
          method,
          baseImage: options.baseImage,
          controls: !!options.controls,
          keep: !!options.keep,
          signal,
          rerun: rerunCommand(options),
          reconnect:
            host instanceof SshExerciseHost
              ? async () => {
                  const fresh = await RemoteHost.connect(host.remote.target, 10_000);
                  return { host: new SshExerciseHost(fresh, target ? 'ssh-host' : 'vm'), close: () => fresh.close() };
                }
              : undefined,
        },
        progress,
      );
      const report = buildReport(evidence, {
        startedAt: startedAt.toISOString(),
        durationSeconds: (Date.now() - startedAt.getTime()) / 1000,
        labvmVersion: labvmVersion(),
      });
      return {
        report,
        kept: options.keep ? { container: CONTAINER_NAME, login: loginCommand(options, host) } : undefined,
      };
    } finally {
      await host
        .close()
        .catch((error: unknown) => progress.note(`Could not remove the helper container: ${errorMessage(error)}`));
    }
  } finally {
    dispose();
  }
}

function parseMethod(method: string): Method {
  if (method === 'native' || method === 'container') return method;
  throw usageError(
    `Unknown --method "${method}".`,
    "Use --method native (the host's nsenter) or --method container (a helper container).",
  );
}

const reportFix = (option: string): string =>
  `Pass ${option} a file in a folder that exists and that you can write to.`;

/** Opened for writing before anything runs, so a folder, /proc or a read-only place does not cost a whole run. */
export async function checkReportFile(file: string, force: boolean, option = '--report'): Promise<string> {
  if (!file.toLowerCase().endsWith('.md'))
    throw usageError(`${option} needs a .md file name, got "${file}".`, reportFix(option));
  const path = resolve(file);
  const existed = await stat(path).then(
    (found) => {
      if (found.isDirectory()) throw usageError(`${option} ${path} is a folder.`, reportFix(option));
      return true;
    },
    () => false,
  );
  if (existed && !force)
    throw usageError(
      `The report file ${path} already exists.`,
      `Add --force to overwrite it, or pass ${option} another file name.`,
    );
  try {
    await (await open(path, 'a')).close(); // 'a' creates it if needed and keeps what is there
  } catch (error) {
    throw usageError(`Cannot write the report to ${path}: ${errorMessage(error)}.`, reportFix(option));
  }
  if (!existed) await rm(path, { force: true });
  return path;
}

/** Writes the Markdown report atomically; a failure is a file-system error (exit 3) naming the path and `otherFix`. */
export async function saveMarkdown(
  path: string,
  report: ExerciseReport,
  otherFix = 'The report is shown above.',
): Promise<string> {
  try {
    await writeFileAtomic(path, renderMarkdown(report));
    return path;
  } catch (error) {
    const failure = fileSystemError(error, 'write the report to', path, otherFix);
    throw failure instanceof LabvmError
      ? failure
      : new LabvmError(`Cannot write the report to ${path}: ${errorMessage(error)}.`, 'prerequisite', otherFix);
  }
}

const instanceName = (options: ExerciseCommandOptions) => options.name ?? DEFAULT_NAME;

/** One target per run: the labvm VM (default), an SSH host, or the local Docker engine. */
function checkTargetOptions(options: ExerciseCommandOptions): void {
  if (options.docker && (options.name !== undefined || options.host !== undefined)) {
    throw usageError(
      '--docker runs on the local Docker engine, so it does not go with --name or --host.',
      'Use `labvm exercise --docker` for your Docker engine, `--name` for a labvm VM, or `--host user@addr` for a Linux host over SSH.',
    );
  }
  if (options.context !== undefined && !options.docker)
    throw usageError('--context goes with --docker.', 'Run `labvm exercise --docker --context NAME`.');
  if (options.identity !== undefined && options.host === undefined) {
    throw usageError(
      '--identity goes with --host.',
      'Drop --identity (labvm uses its own key for its VM), or add --host user@address.',
    );
  }
}

/** The command that runs the exercise again on the same target (it removes what an earlier run left). */
function rerunCommand(options: ExerciseCommandOptions): string {
  if (options.docker)
    return `labvm exercise --docker${options.context === undefined ? '' : ` --context ${options.context}`}`;
  if (options.host !== undefined) return `labvm exercise --host ${options.host}`;
  return labvmCommand('exercise', instanceName(options));
}

async function connect(options: ExerciseCommandOptions, target: SshTarget | undefined): Promise<SshExerciseHost> {
  if (target) return new SshExerciseHost(await RemoteHost.connect(target), 'ssh-host');
  return new SshExerciseHost(await connectToReadyInstance(instanceName(options), 'exercise'), 'vm');
}

async function connectEngine(context?: string): Promise<EngineExerciseHost> {
  const { docker, endpoint } = await connectToEngine(context);
  return new EngineExerciseHost(docker, endpoint);
}

/** How to get where a --keep container stays: labvm's ssh_config for its VM, plain ssh for --host, the engine itself for --docker. */
function loginCommand(options: ExerciseCommandOptions, host: SshExerciseHost | EngineExerciseHost): string {
  if (!(host instanceof SshExerciseHost)) return `(none needed: the container is on ${host.target})`;
  if (!options.host)
    return `ssh -F "${new InstanceState(instanceName(options)).path('sshConfig')}" ${hostAlias(instanceName(options))}`;
  const { username, host: address, port } = host.remote.target;
  return `ssh ${port === 22 ? '' : `-p ${port} `}${username}@${address}`;
}
