#!/usr/bin/env node
import { cac, type Command } from 'cac';
import { ExitCode, LabvmError } from './core/errors.js';
import { progressFor } from './core/progress.js';
import { styler } from './core/ansi.js';
import { labvmVersion } from './core/version.js';
import { deliverInterrupt } from './core/interrupt.js';
import { exerciseOptions, markValues, nameOption, upOptions, flag, type RawOptions } from './cli/options.js';
import { downText, errorText, interruptedText, keptText, statusText, upSummary } from './cli/print.js';
import { textWidth } from './core/text.js';
import { formatHelp, suggestion, unknownOptionOf } from './cli/help.js';

/** The CLI only parses and prints; each command's work is in commands/ (loaded on demand, to start fast). */

const useColor = (stream: NodeJS.WriteStream) => !process.env.NO_COLOR && !!stream.isTTY;
const outStyle = styler(useColor(process.stdout));
const errStyle = styler(useColor(process.stderr));
const progress = progressFor(process.stderr, errStyle);
const print = (text: string) => process.stdout.write(`${text}\n`);

const cli = cac('labvm');

cli
  .command('up', 'Create (or resume) the Ubuntu VM with Docker, and wait until it is ready')
  .option('--name <name>', 'Instance name', { default: 'labvm' })
  .option('--cpus <n>', 'Virtual CPUs', { default: '2' })
  .option('--memory <size>', 'Memory with a unit: K, M or G', { default: '4G' })
  .option('--disk <size>', 'Disk size with a unit: K, M or G', { default: '20G' })
  .option('--image <image>', 'Ubuntu release to launch', { default: '24.04' })
  .option('--timeout <seconds>', 'How long to wait for the VM to be ready (first runs download an image and install Docker)', { default: '1200' })
  .option('--print-cloud-init', 'Print the cloud-init user-data (private keys redacted) and exit')
  .example('labvm up')
  .example('labvm up --name lab2 --memory 2G --timeout 1800')
  .action(async (given: RawOptions) => {
    const { up, previewUserData } = await import('./commands/up.js');
    if (flag(given, 'printCloudInit')) return print(previewUserData());
    print(upSummary(await up(upOptions(given), progress), outStyle));
  });

cli
  .command('status', 'Show the VM\'s state, address, cloud-init status and Docker version, and what to run next')
  .option('--name <name>', 'Instance name', { default: 'labvm' })
  .option('--json', 'Print one JSON object')
  .action(async (given: RawOptions) => {
    const { status } = await import('./commands/status.js');
    const report = await status(nameOption(given));
    print(flag(given, 'json') ? JSON.stringify(report, null, 2) : statusText(report, outStyle));
  });

cli
  .command('down', 'Delete the VM (purged) and everything labvm created for it')
  .option('--name <name>', 'Instance name', { default: 'labvm' })
  .action(async (given: RawOptions) => {
    const { down } = await import('./commands/down.js');
    print(downText(await down(nameOption(given), progress)));
  });

cli
  .command('exercise', 'Run the nsenter namespaces exercise on the VM and answer its three questions from what it observes')
  .option('--name <name>', 'Instance name', { default: 'labvm' })
  .option('--host <user@addr[:port]>', 'Run on another Linux host with Docker and sudo instead (host key checked against ~/.ssh/known_hosts)')
  .option('--identity <key>', 'Private key file for --host')
  .option('--method <method>', 'How to start the sleep: native (the VM\'s nsenter) or container (a helper container running nsenter)', { default: 'native' })
  .option('--base-image <ref>', 'Base image for the exercise image', { default: 'nginx:latest' })
  .option('--report <file.md>', 'Also write the report as Markdown to this file (an existing file needs --force)')
  .option('--force', 'Overwrite the --report file if it exists')
  .option('--json', 'Print the report as one JSON object')
  .option('--controls', 'Also run the controls: nsenter -F, and a container with apparmor=unconfined')
  .option('--keep', 'Leave the exercise container (stopped by question 2) in place afterwards, for exploring by hand')
  .example('labvm exercise --report namespaces.md')
  .action(async (given: RawOptions) => {
    const options = exerciseOptions(given);
    const [{ exercise }, { renderTerminal }, { toJson }] = await Promise.all([
      import('./commands/exercise.js'), import('./report/terminal.js'), import('./report/json.js')]);
    const { report, markdownFile, kept } = await exercise(options, progress);
    print(flag(given, 'json') ? JSON.stringify(toJson(report), null, 2)
      : renderTerminal(report, { color: useColor(process.stdout), width: textWidth(process.stdout) }).trimEnd());
    if (kept) process.stderr.write(`${keptText(kept)}\n`);
    if (markdownFile) process.stderr.write(`Markdown report written to ${markdownFile}\n`);
  });

cli
  .command('help [command]', 'Show the commands, or one command\'s options')
  .action((command: string | undefined) => showHelp(command));

cli
  .command('version', 'Print labvm\'s version')
  .action(() => cli.outputVersion());

cli.help((sections) => formatHelp(sections, cli.matchedCommand, process.stdout.columns));
cli.version(labvmVersion());

function showHelp(name: string | undefined): void {
  if (name === undefined) {
    cli.matchedCommand = undefined;
    return cli.globalCommand.outputHelp();
  }
  const command = commandNamed(name);
  if (!command) throw unknownCommand(name);
  cli.matchedCommand = command;
  command.outputHelp();
}

const commandNamed = (name: string): Command | undefined => cli.commands.find((command) => command.name === name);

function unknownCommand(name: string): LabvmError {
  const guess = suggestion(name, cli.commands.map((command) => command.name));
  return new LabvmError(`Unknown command "${name}".${guess ? ` Did you mean \`labvm ${guess}\`?` : ''}`, 'usage',
    'Run `labvm help` to see the commands.');
}

/** Names of the options that take a value, whose text must reach labvm as typed (see markValues). */
function valueOptions(): Set<string> {
  return new Set([cli.globalCommand, ...cli.commands].flatMap((command) => command.options)
    .filter((option) => !option.isBoolean).flatMap((option) => option.names));
}

async function main(argv: string[]): Promise<number> {
  const parsed = cli.parse(markValues(argv, valueOptions()), { run: false });
  if (!cli.matchedCommand) {
    if (parsed.options.help || parsed.options.version) return ExitCode.ok;
    const unknown = parsed.args[0];
    throw unknown ? unknownCommand(String(unknown)) : new LabvmError('No command given.', 'usage', 'Run `labvm help` to see the commands.');
  }
  await cli.runMatchedCommand();
  return ExitCode.ok;
}

/** cac's own errors (unknown option, missing value) become usage errors naming the command and a likely fix. */
function usageErrorOf(error: Error): LabvmError {
  const command = cli.matchedCommand;
  const options = command ? [...command.options, ...cli.globalCommand.options].map((option) => option.rawName.split(/[ ,]/)[0]!) : [];
  const unknown = unknownOptionOf(error.message);
  const guess = unknown && suggestion(unknown, options.filter((name) => name.startsWith('--')));
  const message = unknown ? `Unknown option \`${unknown}\`` : error.message;
  const help = command ? `labvm help ${command.name}` : 'labvm help';
  return new LabvmError(`${message}.${guess ? ` Did you mean \`${guess}\`?` : ''}`, 'usage', `Run \`${help}\` for the options.`);
}

function exitCodeOf(error: unknown): number {
  if (error instanceof LabvmError) return error.exitCode;
  return ExitCode.internal;
}

process.on('SIGINT', () => {
  if (deliverInterrupt()) {
    progress.abandon('interrupted');
    process.stderr.write(`${errStyle.red('labvm: interrupted;')} cleaning up (Ctrl-C again to quit at once)…\n`);
    return;
  }
  progress.abandon('interrupted');
  const command = cli.matchedCommand;
  process.stderr.write(`${interruptedText(command?.name, command ? nameGiven() : undefined, errStyle)}\n`);
  process.exit(ExitCode.interrupted);
});

/** The --name of the running command, for hints; undefined when it cannot be read (the hint then goes without). */
function nameGiven(): string | undefined {
  try {
    return nameOption(cli.options);
  } catch {
    return undefined;
  }
}

main(process.argv).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    const wrapped = error instanceof Error && error.name === 'CACError' ? usageErrorOf(error) : error;
    process.stderr.write(`${errorText(wrapped, errStyle)}\n`);
    process.exitCode = exitCodeOf(wrapped);
  },
);
