import { join } from 'node:path';
import type { CAC } from 'cac';
import { styler } from '../core/ansi.js';
import { ExitCode, LabvmError } from '../core/errors.js';
import { echoDebugLog, saveDebugLog } from '../core/debug-log.js';
import { fileSystemError } from '../core/fs.js';
import { HANDLED_SIGNALS, deliverInterrupt, receivedSignal, signalExitCode } from '../core/interrupt.js';
import { progressFor } from '../core/progress.js';
import { redactSecrets } from '../core/secrets.js';
import { labvmHome } from '../core/state.js';
import { suggestion, unknownOptionOf } from './help.js';
import { flag, nameOption } from './options.js';
import { errorText, interruptedText } from './print.js';
import { reportIfUnsettled } from './unsettled.js';

/**
 * What runs around a command: its output styles and progress, the signal handlers, the debug log and the way a
 * failure is shown. The CLI loads this only once a command runs (or parsing failed), so `labvm --help` starts fast.
 */

/** The texts commands print (print.ts), for the CLI's actions. */
export * as texts from './print.js';

export const useColor = (stream: NodeJS.WriteStream) => !process.env.NO_COLOR && !!stream.isTTY;
export const outStyle = styler(useColor(process.stdout));
export const errStyle = styler(useColor(process.stderr));
export const progress = progressFor(process.stderr, errStyle);

/** The --name of the running command, for hints; undefined when it has none or it cannot be read. */
function nameGiven(cli: CAC): string | undefined {
  try {
    return nameOption(cli.options);
  } catch {
    return undefined;
  }
}

/**
 * Before the command runs: Ctrl-C, SIGTERM and SIGHUP clean up (a second one quits at once), --verbose echoes the
 * debug log, and a command left unsettled when Node runs out of work fails instead of exiting 0.
 * Returns what to call once the command has settled.
 */
export function startCommand(cli: CAC): () => void {
  for (const signal of HANDLED_SIGNALS) {
    process.on(signal, () => {
      progress.abandon('interrupted');
      if (deliverInterrupt(signal)) {
        process.stderr.write(
          `${errStyle.red(`labvm: interrupted (${signal});`)} cleaning up (${signal === 'SIGINT' ? 'Ctrl-C again' : 'the same signal again'} to quit at once)…\n`,
        );
        return;
      }
      process.stderr.write(`${interruptedText(cli.matchedCommand?.name, nameGiven(cli), errStyle)}\n`);
      process.exit(signalExitCode(signal));
    });
  }
  if (flag(cli.options, 'verbose')) echoDebugLog((line) => process.stderr.write(`${errStyle.dim(line)}\n`));
  return reportIfUnsettled(() => {
    process.stderr.write(
      `${errorText(new Error('labvm stopped with the command unfinished: an operation never completed.'), errStyle)}\n`,
    );
    const signal = receivedSignal();
    process.exitCode = signal ? signalExitCode(signal) : ExitCode.internal;
  });
}

/** Saved in the instance's state folder (or LABVM_HOME for commands about no one VM), when that folder exists. */
export function saveLog(cli: CAC): Promise<string | undefined> {
  const name = cli.matchedCommand && !flag(cli.options, 'all') ? nameGiven(cli) : undefined;
  const folder = name ? join(labvmHome(), name) : labvmHome();
  return saveDebugLog(folder, cli.matchedCommandName ?? 'labvm').catch(() => undefined);
}

/** Shows a failure (its causes with --verbose or LABVM_DEBUG=1) and the debug log's path; returns the exit code. */
export async function showFailure(cli: CAC, error: unknown): Promise<number> {
  const causes = process.env.LABVM_DEBUG === '1' || flag(cli.options, 'verbose');
  const shown = userError(cli, error);
  process.stderr.write(`${redactSecrets(errorText(shown, errStyle, { causes }))}\n`);
  const log = await saveLog(cli);
  if (log) process.stderr.write(`  debug log: ${log}\n`);
  return exitCodeOf(shown);
}

function exitCodeOf(error: unknown): number {
  const signal = receivedSignal();
  if (signal) return signalExitCode(signal); // whatever the command failed with once it was told to stop
  if (error instanceof LabvmError) return error.exitCode;
  return ExitCode.internal;
}

/** What the user sees for a failure: a usage error for cac's, a file-system error with its path, else as it is. */
function userError(cli: CAC, error: unknown): unknown {
  if (error instanceof Error && error.name === 'CACError') return usageErrorOf(cli, error);
  const signal = receivedSignal();
  if (signal && !(error instanceof LabvmError && error.kind === 'interrupted')) {
    // e.g. a multipass child that got the same Ctrl-C from the terminal and failed because of it
    return new LabvmError(
      `Interrupted (${signal}).`,
      'interrupted',
      undefined,
      error instanceof Error ? error.message : String(error),
      { cause: error },
    );
  }
  return fileSystemError(error, 'use', (error as NodeJS.ErrnoException | undefined)?.path ?? 'a file');
}

/** cac's own errors (unknown option, missing value) become usage errors naming the command and a likely fix. */
function usageErrorOf(cli: CAC, error: Error): LabvmError {
  const command = cli.matchedCommand;
  const options = command
    ? [...command.options, ...cli.globalCommand.options].map((option) => option.rawName.split(/[ ,]/)[0]!)
    : [];
  const unknown = unknownOptionOf(error.message);
  const guess =
    unknown &&
    suggestion(
      unknown,
      options.filter((name) => name.startsWith('--')),
    );
  const message = unknown ? `Unknown option \`${unknown}\`` : error.message;
  const help = command ? `labvm help ${command.name}` : 'labvm help';
  return new LabvmError(
    `${message}.${guess ? ` Did you mean \`${guess}\`?` : ''}`,
    'usage',
    `Run \`${help}\` for the options.`,
    undefined,
    { cause: error },
  );
}
