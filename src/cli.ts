#!/usr/bin/env node
import { cac } from 'cac';
import { ExitCode, LabvmError } from './core/errors.js';
import { streamProgress } from './core/progress.js';
import { styler } from './core/ansi.js';
import { labvmVersion } from './core/version.js';
import { echoDebugLog, saveDebugLog } from './core/debug-log.js';
import { labvmHome } from './core/state.js';
import { join } from 'node:path';
import { builtInDefaults, resolveSettings, settingKeys } from './core/settings.js';
import { deliverInterrupt } from './core/interrupt.js';
import { lastValues } from './cli/options.js';
import { doctorText, downText, errorText, listText, powerText, statusText, upSummary } from './cli/print.js';

/** The CLI only parses and prints; each command's work is in commands/ (loaded on demand, to start fast). */

const useColor = (stream: NodeJS.WriteStream) => !process.env.NO_COLOR && !!stream.isTTY;
const outStyle = styler(useColor(process.stdout));
const errStyle = styler(useColor(process.stderr));
const progress = streamProgress((line) => process.stderr.write(`${line}\n`), errStyle);
const print = (text: string) => process.stdout.write(`${text}\n`);

const cli = cac('labvm');
cli.option('--config <file>', 'Teacher defaults file (JSON; default: $LABVM_HOME/config.json)');
cli.option('--verbose', 'Show the debug log as it is written (multipass calls, SSH steps, remote commands, Docker API calls) and the causes of an error');

/** The settings flags can give, resolved against the environment, the config file and the built-in values. */
function settingsFor(options: Record<string, unknown>) {
  const flags = Object.fromEntries(settingKeys.map((key) => [key, options[key]]));
  return resolveSettings(flags, options.config === undefined ? undefined : String(options.config));
}

cli
  .command('up', 'Create (or resume) the Ubuntu VM with Docker, and wait until it is ready')
  .option('--name <name>', 'Instance name', { default: 'labvm' })
  .option('--cpus <n>', `Virtual CPUs (default: ${builtInDefaults.cpus})`)
  .option('--memory <size>', `Memory, e.g. 4G (default: ${builtInDefaults.memory})`)
  .option('--disk <size>', `Disk size, e.g. 20G (default: ${builtInDefaults.disk})`)
  .option('--image <image>', `Ubuntu release to launch (default: ${builtInDefaults.image})`)
  .option('--timeout <seconds>', `How long to wait for the VM to be ready; first runs download an image and install Docker (default: ${builtInDefaults.timeout})`)
  .option('--print-cloud-init', 'Print the cloud-init user-data (private keys redacted) and exit')
  .example('labvm up')
  .example('labvm up --name lab2 --memory 2G --timeout 1800')
  .action(async (given) => {
    const options = lastValues(given);
    const { up, previewUserData } = await import('./commands/up.js');
    if (options.printCloudInit) return print(previewUserData());
    const settings = await settingsFor(options);
    print(upSummary(await up({ name: String(options.name), cpus: settings.cpus.value, memory: settings.memory.value,
      disk: settings.disk.value, image: settings.image.value, timeout: settings.timeout.value }, progress), outStyle));
  });

cli
  .command('status', 'Show the VM\'s state, address, cloud-init status and Docker version')
  .option('--name <name>', 'Instance name', { default: 'labvm' })
  .option('--json', 'Print one JSON object')
  .action(async (given) => {
    const options = lastValues(given);
    const { status } = await import('./commands/status.js');
    const report = await status(String(options.name));
    print(options.json ? JSON.stringify(report, null, 2) : statusText(report, outStyle));
  });

cli
  .command('down', 'Delete the VM (purged) and everything labvm created for it')
  .option('--name <name>', 'Instance name', { default: 'labvm' })
  .action(async (given) => {
    const options = lastValues(given);
    const { down } = await import('./commands/down.js');
    print(downText(await down(String(options.name), progress)));
  });

cli
  .command('exercise', 'Run the nsenter namespaces exercise on the VM and answer its three questions from what it observes')
  .option('--name <name>', 'Instance name (default: labvm)')
  .option('--host <user@addr[:port]>', 'Run on another Linux host with Docker and sudo instead (host key checked against ~/.ssh/known_hosts)')
  .option('--identity <key>', 'Private key file for --host')
  .option('--docker', 'Run on this computer\'s Docker engine (Docker Desktop, Colima, OrbStack, Linux) through a privileged helper container: no VM, no SSH')
  .option('--context <name>', 'With --docker: the docker CLI context to use (default: DOCKER_HOST, DOCKER_CONTEXT, or the current context)')
  .option('--method <method>', 'How to start the sleep: native (the VM\'s nsenter) or container (a helper container running nsenter)', { default: 'native' })
  .option('--base-image <ref>', `Base image for the exercise image (default: ${builtInDefaults.baseImage})`)
  .option('--report <file.md>', 'Also write the report as Markdown to this file')
  .option('--json', 'Print the report as one JSON object')
  .option('--controls', 'Also run the controls: nsenter -F, and a container with apparmor=unconfined')
  .option('--keep', 'Leave the exercise container (stopped by question 2) in place afterwards, for exploring by hand')
  .example('labvm exercise --report namespaces.md')
  .example('labvm exercise --docker --controls')
  .action(async (given) => {
    const options = lastValues(given);
    const [{ exercise }, { renderTerminal }, { toJson }] = await Promise.all([
      import('./commands/exercise.js'), import('./report/terminal.js'), import('./report/json.js')]);
    const { report, markdownFile } = await exercise({ ...options, baseImage: (await settingsFor(options)).baseImage.value }, progress);
    print(options.json ? JSON.stringify(toJson(report), null, 2) : renderTerminal(report, { color: useColor(process.stdout) }).trimEnd());
    if (markdownFile) process.stderr.write(`Markdown report written to ${markdownFile}\n`);
  });

/** The exit status of a command that sets its own: shell and exec pass the remote one through, doctor fails with 3. */
let commandExit: number = ExitCode.ok;
const localTerminal = () => ({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, term: process.env.TERM });

cli
  .command('shell', 'Open an interactive shell on the VM (SSH with the pinned host key; nothing is added to ~/.ssh)')
  .option('--name <name>', 'Instance name', { default: 'labvm' })
  .example('labvm shell')
  .action(async (given) => {
    const options = lastValues(given);
    const { shell } = await import('./commands/shell.js');
    commandExit = await shell(String(options.name), localTerminal());
  });

cli
  .command('exec', 'Run one command on the VM; its exit code, stdin, stdout and stderr are passed through')
  .usage('exec [--name <name>] -- <command> [args...]')
  .option('--name <name>', 'Instance name', { default: 'labvm' })
  .example('labvm exec -- docker ps')
  .example('labvm exec --name lab2 -- sh -c "uname -r; id"')
  .action(async (given) => {
    const options = lastValues(given);
    const { exec } = await import('./commands/shell.js');
    commandExit = await exec(String(options.name), (options['--'] as string[] | undefined) ?? [], localTerminal());
  });

cli
  .command('list', 'List the VMs labvm created: state, address, release, size, and whether each is ready')
  .alias('ls')
  .option('--json', 'Print one JSON array')
  .action(async (given) => {
    const options = lastValues(given);
    const { list } = await import('./commands/list.js');
    const entries = await list();
    print(options.json ? JSON.stringify(entries, null, 2) : listText(entries, outStyle));
  });

cli
  .command('stop', 'Stop (park) the VM without deleting it; `labvm start` or `labvm up` resumes it')
  .option('--name <name>', 'Instance name', { default: 'labvm' })
  .option('--all', 'Stop every VM labvm created')
  .action(async (given) => {
    const options = lastValues(given);
    const { stop } = await import('./commands/power.js');
    print(powerText(await stop({ name: String(options.name), all: !!options.all }, progress)));
  });

cli
  .command('start', 'Start a stopped VM and wait until it answers over SSH')
  .option('--name <name>', 'Instance name', { default: 'labvm' })
  .option('--timeout <seconds>', 'How long to wait for the VM to answer', { default: 300 })
  .action(async (given) => {
    const options = lastValues(given);
    const [{ start }, { parsePositiveInteger }] = await Promise.all([import('./commands/power.js'), import('./core/validate.js')]);
    print(powerText([await start(String(options.name), parsePositiveInteger(options.timeout, 'timeout'), progress)]));
  });

cli
  .command('doctor', 'Check this computer before a lesson: Multipass, its driver, memory, disk, Node.js and labvm\'s VMs')
  .option('--json', 'Print one JSON object')
  .option('--cpus <n>', 'Check as for `labvm up --cpus`')
  .option('--memory <size>', 'Check as for `labvm up --memory`')
  .option('--disk <size>', 'Check as for `labvm up --disk`')
  .option('--image <image>', 'Show as for `labvm up --image`')
  .option('--timeout <seconds>', 'Show as for `labvm up --timeout`')
  .option('--base-image <ref>', 'Show as for `labvm exercise --base-image`')
  .action(async (given) => {
    const options = lastValues(given);
    const { doctor } = await import('./commands/doctor.js');
    const report = await doctor(await settingsFor(options));
    print(options.json ? JSON.stringify(report, null, 2) : doctorText(report, outStyle));
    if (!report.ok) commandExit = ExitCode.prerequisite;
  });

cli.help();
cli.version(labvmVersion());

async function main(argv: string[]): Promise<number> {
  const parsed = cli.parse(argv, { run: false });
  if (!cli.matchedCommand) {
    if (parsed.options.help || parsed.options.version) return ExitCode.ok;
    const unknown = parsed.args[0];
    process.stderr.write(`${errorText(new LabvmError(unknown ? `Unknown command "${unknown}".` : 'No command given.', 'usage',
      'Run `labvm --help` to see the commands.'), errStyle)}\n`);
    return ExitCode.usage;
  }
  if (parsed.options.verbose) echoDebugLog((line) => process.stderr.write(`${errStyle.dim(line)}\n`));
  await cli.runMatchedCommand();
  return commandExit;
}

/** Saved in the instance's state folder (or LABVM_HOME for commands about no one VM), when that folder exists. */
function saveLog(): Promise<string | undefined> {
  const options = cli.matchedCommand ? lastValues(cli.options) : {};
  const folder = typeof options.name === 'string' && !options.all ? join(labvmHome(), options.name) : labvmHome();
  return saveDebugLog(folder, cli.matchedCommandName ?? 'labvm').catch(() => undefined);
}

function exitCodeOf(error: unknown): number {
  if (error instanceof LabvmError) return error.exitCode;
  if (error instanceof Error && error.name === 'CACError') return ExitCode.usage;
  return ExitCode.internal;
}

process.on('SIGINT', () => {
  if (deliverInterrupt()) {
    process.stderr.write(`\n${errStyle.red('labvm: interrupted;')} cleaning up (Ctrl-C again to quit at once)…\n`);
    return;
  }
  process.stderr.write(`\n${errStyle.red('labvm: interrupted.')} Run the same command again to resume, or \`labvm down\` to remove the VM.\n`);
  process.exit(ExitCode.interrupted);
});

main(process.argv).then(
  async (code) => {
    await saveLog();
    process.exitCode = code;
  },
  async (error: unknown) => {
    const wrapped = error instanceof Error && error.name === 'CACError'
      ? new LabvmError(error.message, 'usage', 'Run `labvm <command> --help` for the options.', undefined, { cause: error })
      : error;
    const causes = process.env.LABVM_DEBUG === '1' || !!cli.options.verbose;
    process.stderr.write(`${errorText(wrapped, errStyle, { causes })}\n`);
    const log = await saveLog();
    if (log) process.stderr.write(`  debug log: ${log}\n`);
    process.exitCode = exitCodeOf(error);
  },
);
