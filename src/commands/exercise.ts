import { open, rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LabvmError, errorMessage, usageError } from '../core/errors.js';
import { fileSystemError, writeFileAtomic } from '../core/fs.js';
import { abortOnInterrupt, bounded, interrupted } from '../core/interrupt.js';
import type { Progress } from '../core/progress.js';
import { validateImageReference } from '../core/validate.js';
import { labvmVersion } from '../core/version.js';
import type { Method } from '../lab/evidence.js';
import { SshExerciseHost } from '../lab/host.js';
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
  name: string;
  host?: string;
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
  validateImageReference(options.baseImage, '--base-image');
  if (options.host === undefined) {
    if (options.identity !== undefined) throw usageError('--identity goes with --host.', 'Drop --identity (labvm uses its own key for its VM), or add --host user@address.');
    validateInstanceName(options.name);
  }
  const target = options.host === undefined ? undefined : await hostTarget(options.host, options.identity);
  const markdownFile = options.report === undefined ? undefined : await checkReportFile(options.report, !!options.force);
  const run = () => runExercise(options, method, target, progress);
  const { report, kept } = target ? await run() : await withInstanceLock(options.name, 'exercise', run);
  return { report, kept, saveReport: markdownFile ? () => saveMarkdown(markdownFile, report) : undefined };
}

/** Option values as text, whatever the parser made of them (a value like 0 or 1e3 can arrive as a number). */
function asText(options: ExerciseCommandOptions): ExerciseCommandOptions {
  const text = (value: string | number | undefined) => (value === undefined ? undefined : String(value));
  return {
    ...options, name: String(options.name), method: String(options.method), baseImage: String(options.baseImage),
    host: text(options.host), identity: text(options.identity), report: text(options.report),
  };
}

async function runExercise(options: ExerciseCommandOptions, method: Method, target: SshTarget | undefined, progress: Progress): Promise<{ report: ExerciseReport; kept?: ExerciseResult['kept'] }> {
  const { signal, dispose } = abortOnInterrupt();
  try {
    const remote = await progress.phase('connecting over SSH', () =>
      bounded(target ? RemoteHost.connect(target) : connectToReadyInstance(options.name, 'exercise'), { signal, discard: (late) => late.close() }).catch((error: unknown) => {
        // A Ctrl-C on a terminal reaches multipass too, which then fails: the interrupt is what happened.
        throw signal.aborted ? interrupted('nothing was started yet') : error;
      }));
    try {
      const startedAt = new Date();
      const evidence = await gatherEvidence(new SshExerciseHost(remote), {
        target: options.host ? remote.target.label : options.name, method, baseImage: options.baseImage,
        controls: !!options.controls, keep: !!options.keep, signal,
        rerun: target ? `labvm exercise --host ${options.host}` : `labvm exercise${options.name === 'labvm' ? '' : ` --name ${options.name}`}`,
        reconnect: async () => {
          const fresh = await RemoteHost.connect(remote.target, 10_000);
          return { host: new SshExerciseHost(fresh), close: () => fresh.close() };
        },
      }, progress);
      const report = buildReport(evidence, {
        startedAt: startedAt.toISOString(), durationSeconds: (Date.now() - startedAt.getTime()) / 1000, labvmVersion: labvmVersion(),
      });
      return { report, kept: options.keep ? { container: CONTAINER_NAME, login: loginCommand(options, remote) } : undefined };
    } finally {
      remote.close();
    }
  } finally {
    dispose();
  }
}

function parseMethod(method: string): Method {
  if (method === 'native' || method === 'container') return method;
  throw usageError(`Unknown --method "${method}".`, 'Use --method native (the host\'s nsenter) or --method container (a helper container).');
}

const reportFix = (option: string): string => `Pass ${option} a file in a folder that exists and that you can write to.`;

/** Opened for writing before anything runs, so a folder, /proc or a read-only place does not cost a whole run. */
export async function checkReportFile(file: string, force: boolean, option = '--report'): Promise<string> {
  if (!file.toLowerCase().endsWith('.md')) throw usageError(`${option} needs a .md file name, got "${file}".`, reportFix(option));
  const path = resolve(file);
  const existed = await stat(path).then((found) => {
    if (found.isDirectory()) throw usageError(`${option} ${path} is a folder.`, reportFix(option));
    return true;
  }, () => false);
  if (existed && !force) throw usageError(`The report file ${path} already exists.`, `Add --force to overwrite it, or pass ${option} another file name.`);
  try {
    await (await open(path, 'a')).close(); // 'a' creates it if needed and keeps what is there
  } catch (error) {
    throw usageError(`Cannot write the report to ${path}: ${errorMessage(error)}.`, reportFix(option));
  }
  if (!existed) await rm(path, { force: true });
  return path;
}

/** Writes the Markdown report atomically; a failure is a file-system error (exit 3) naming the path and `otherFix`. */
export async function saveMarkdown(path: string, report: ExerciseReport, otherFix = 'The report is shown above.'): Promise<string> {
  try {
    await writeFileAtomic(path, renderMarkdown(report));
    return path;
  } catch (error) {
    const failure = fileSystemError(error, 'write the report to', path, otherFix);
    throw failure instanceof LabvmError ? failure : new LabvmError(`Cannot write the report to ${path}: ${errorMessage(error)}.`, 'prerequisite', otherFix);
  }
}

/** How to log in where a --keep container stays: labvm's ssh_config for its VM, plain ssh for --host. */
function loginCommand(options: ExerciseCommandOptions, remote: RemoteHost): string {
  if (!options.host) return `ssh -F "${new InstanceState(options.name).path('sshConfig')}" ${hostAlias(options.name)}`;
  const { username, host, port } = remote.target;
  return `ssh ${port === 22 ? '' : `-p ${port} `}${username}@${host}`;
}
