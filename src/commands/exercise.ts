import { access, constants, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { errorMessage, usageError } from '../core/errors.js';
import { abortOnInterrupt } from '../core/interrupt.js';
import type { Progress } from '../core/progress.js';
import { labvmVersion } from '../core/version.js';
import type { Method } from '../lab/evidence.js';
import { SshExerciseHost } from '../lab/host.js';
import { gatherEvidence } from '../lab/run.js';
import { hostTarget } from '../remote/host-target.js';
import { RemoteHost } from '../remote/ssh.js';
import { buildReport, type ExerciseReport } from '../report/model.js';
import { renderMarkdown } from '../report/markdown.js';
import { connectToRunningInstance } from '../vm/instance.js';

export interface ExerciseCommandOptions {
  name: string;
  host?: string;
  identity?: string;
  method: string;
  baseImage: string;
  report?: string;
  controls?: boolean;
  keep?: boolean;
}

export interface ExerciseResult {
  report: ExerciseReport;
  /** Where the Markdown report was written, when --report was given. */
  markdownFile?: string;
}

/** Connects, runs the experiment, interprets the evidence; the CLI prints the result. */
export async function exercise(options: ExerciseCommandOptions, progress: Progress): Promise<ExerciseResult> {
  const method = parseMethod(options.method);
  const markdownFile = options.report === undefined ? undefined : await checkReportFile(options.report);
  const { signal, dispose } = abortOnInterrupt();
  try {
    const remote = await progress.phase('connecting over SSH', () => connect(options));
    try {
      const startedAt = new Date();
      const evidence = await gatherEvidence(new SshExerciseHost(remote), {
        target: remote.target.label, method, baseImage: options.baseImage,
        controls: !!options.controls, keep: !!options.keep, signal,
      }, progress);
      const report = buildReport(evidence, {
        startedAt: startedAt.toISOString(), durationSeconds: (Date.now() - startedAt.getTime()) / 1000, labvmVersion: labvmVersion(),
      });
      if (markdownFile) await writeFile(markdownFile, renderMarkdown(report), 'utf8');
      return { report, markdownFile };
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

/** Checked before anything runs, so a typo in the path does not cost a whole run. */
export async function checkReportFile(file: string, option = '--report'): Promise<string> {
  if (!file.toLowerCase().endsWith('.md')) throw usageError(`${option} needs a .md file name, got "${file}".`);
  const path = resolve(file);
  await access(dirname(path), constants.W_OK).catch((error: unknown) => {
    throw usageError(`Cannot write the report to ${path}: ${errorMessage(error)}.`, `Pass ${option} a file in a folder that exists and that you can write to.`);
  });
  return path;
}

async function connect(options: ExerciseCommandOptions): Promise<RemoteHost> {
  if (options.host) return RemoteHost.connect(await hostTarget(options.host, options.identity));
  if (options.identity) throw usageError('--identity goes with --host.');
  return connectToRunningInstance(options.name);
}
