import { access, constants, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { errorMessage, usageError } from '../core/errors.js';
import { abortOnInterrupt } from '../core/interrupt.js';
import type { Progress } from '../core/progress.js';
import { labvmVersion } from '../core/version.js';
import type { Method } from '../lab/evidence.js';
import { SshExerciseHost } from '../lab/host.js';
import { CONTAINER_NAME, gatherEvidence } from '../lab/run.js';
import { InstanceState } from '../core/state.js';
import { hostAlias } from '../vm/instance.js';
import { hostTarget } from '../remote/host-target.js';
import { RemoteHost } from '../remote/ssh.js';
import { buildReport, type ExerciseReport } from '../report/model.js';
import { renderMarkdown } from '../report/markdown.js';
import { connectToReadyInstance } from '../vm/situation.js';

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
  /** Where the Markdown report was written, when --report was given. */
  markdownFile?: string;
  /** With --keep: the container left in place, and the ssh command that logs in where it is. */
  kept?: { container: string; login: string };
}

/** Connects, runs the experiment, interprets the evidence; the CLI prints the result. */
export async function exercise(options: ExerciseCommandOptions, progress: Progress): Promise<ExerciseResult> {
  const method = parseMethod(options.method);
  const markdownFile = options.report === undefined ? undefined : await checkReportFile(options.report, !!options.force);
  const { signal, dispose } = abortOnInterrupt();
  try {
    const remote = await progress.phase('connecting over SSH', () => connect(options));
    try {
      const startedAt = new Date();
      const evidence = await gatherEvidence(new SshExerciseHost(remote), {
        target: options.host ? remote.target.label : options.name, method, baseImage: options.baseImage,
        controls: !!options.controls, keep: !!options.keep, signal,
      }, progress);
      const report = buildReport(evidence, {
        startedAt: startedAt.toISOString(), durationSeconds: (Date.now() - startedAt.getTime()) / 1000, labvmVersion: labvmVersion(),
      });
      if (markdownFile) await writeFile(markdownFile, renderMarkdown(report), 'utf8');
      return { report, markdownFile, kept: options.keep ? { container: CONTAINER_NAME, login: loginCommand(options, remote) } : undefined };
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

/** Checked before anything runs, so a typo in the path does not cost a whole run, nor overwrite a file unasked. */
export async function checkReportFile(file: string, force: boolean, option = '--report'): Promise<string> {
  if (!file.toLowerCase().endsWith('.md')) throw usageError(`${option} needs a .md file name, got "${file}".`);
  const path = resolve(file);
  if (!force && (await stat(path).then(() => true, () => false))) {
    throw usageError(`The report file ${path} already exists.`, `Add --force to overwrite it, or pass ${option} another file name.`);
  }
  await access(dirname(path), constants.W_OK).catch((error: unknown) => {
    throw usageError(`Cannot write the report to ${path}: ${errorMessage(error)}.`, `Pass ${option} a file in a folder that exists and that you can write to.`);
  });
  return path;
}

async function connect(options: ExerciseCommandOptions): Promise<RemoteHost> {
  if (options.host) return RemoteHost.connect(await hostTarget(options.host, options.identity));
  if (options.identity) throw usageError('--identity goes with --host.');
  return connectToReadyInstance(options.name, 'exercise');
}

/** How to log in where a --keep container stays: labvm's ssh_config for its VM, plain ssh for --host. */
function loginCommand(options: ExerciseCommandOptions, remote: RemoteHost): string {
  if (!options.host) return `ssh -F "${new InstanceState(options.name).path('sshConfig')}" ${hostAlias(options.name)}`;
  const { username, host, port } = remote.target;
  return `ssh ${port === 22 ? '' : `-p ${port} `}${username}@${host}`;
}
