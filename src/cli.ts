#!/usr/bin/env node
import { cac, type Command } from 'cac';
import { ExitCode, LabvmError } from './core/errors.js';
import { labvmVersion } from './core/paths.js';
import { DEFAULT_NAME, builtInDefaults, settingKeys } from './core/defaults.js';
import type { Settings } from './core/settings.js';
import {
  exerciseOptions,
  flag,
  markValues,
  nameOption,
  optionalText,
  optionalTexts,
  text,
  upOptions,
  withNetworkOptions,
  type RawOptions,
} from './cli/options.js';
import { formatHelp, suggestion } from './cli/help.js';
import { textWidth } from './core/text.js';

/**
 * The CLI only parses and prints; each command's work is in commands/, and what runs around a command (progress,
 * signals, debug log, failures) in cli/runtime.ts. Both load on demand, so `labvm --help` starts fast.
 */

type Runtime = typeof import('./cli/runtime.js');
const loadRuntime = (): Promise<Runtime> => import('./cli/runtime.js');
/** Set before a command's action runs. */
let io!: Runtime;
const print = (text: string) => process.stdout.write(`${text}\n`);

const cli = cac('labvm');
cli.option('--config <file>', 'Teacher defaults file (JSON; default: $LABVM_HOME/config.json)');
cli.option(
  '--verbose',
  'Show the debug log as it is written (multipass calls, SSH steps, remote commands, Docker API calls) and the causes of an error',
);

const kebab = (key: string) => `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;

/** The settings flags can give (as typed), resolved against the environment, the config file and the built-in values. */
async function settingsFor(given: RawOptions): Promise<Settings> {
  const flags = Object.fromEntries(
    settingKeys.map((key) => [
      key,
      key === 'caCertificates'
        ? optionalTexts(given, 'caCertificate', '--ca-certificate')
        : optionalText(given, key, kebab(key)),
    ]),
  );
  const { resolveSettings, keepProxySecrets } = await import('./core/settings.js');
  const settings = await resolveSettings(flags, optionalText(given, 'config', '--config'));
  keepProxySecrets(settings);
  return settings;
}

withNetworkOptions(
  cli
    .command('up', 'Create (or resume) the Ubuntu VM with Docker, and wait until it is ready')
    .option('--name <name>', 'Instance name', { default: DEFAULT_NAME })
    .option('--cpus <n>', `Virtual CPUs (default: ${builtInDefaults.cpus})`)
    .option('--memory <size>', `Memory with a unit: K, M or G (default: ${builtInDefaults.memory})`)
    .option('--disk <size>', `Disk size with a unit: K, M or G (default: ${builtInDefaults.disk})`)
    .option('--image <image>', `Ubuntu release to launch (default: ${builtInDefaults.image})`)
    .option(
      '--timeout <seconds>',
      `How long to wait for the VM to be ready; first runs download an image and install Docker (default: ${builtInDefaults.timeout})`,
    ),
)
  .option('--print-cloud-init', 'Print the cloud-init user-data (private keys and proxy credentials redacted) and exit')
  .example('labvm up')
  .example('labvm up --name lab2 --memory 2G --timeout 1800')
  .example('labvm up --https-proxy http://proxy.school.example:3128 --ca-certificate school-ca.pem')
  .action(async (given: RawOptions) => {
    const { up, previewUserData } = await import('./commands/up.js');
    const options = upOptions(given, await settingsFor(given));
    if (flag(given, 'printCloudInit')) return print(previewUserData(options));
    print(io.texts.upSummary(await up(options, io.progress), io.outStyle));
  });

cli
  .command('status', "Show the VM's state, address, cloud-init status and Docker version, and what to run next")
  .option('--name <name>', 'Instance name', { default: DEFAULT_NAME })
  .option('--json', 'Print one JSON object')
  .action(async (given: RawOptions) => {
    const { status } = await import('./commands/status.js');
    const report = await status(nameOption(given));
    print(flag(given, 'json') ? JSON.stringify(report, null, 2) : io.texts.statusText(report, io.outStyle));
  });

cli
  .command('down', 'Delete the VM (purged) and everything labvm created for it')
  .option('--name <name>', 'Instance name', { default: DEFAULT_NAME })
  .action(async (given: RawOptions) => {
    const { down } = await import('./commands/down.js');
    print(io.texts.downText(await down(nameOption(given), io.progress)));
  });

cli
  .command(
    'exercise',
    'Run the nsenter namespaces exercise on the VM and answer its three questions from what it observes',
  )
  .option('--name <name>', `Instance name (default: ${DEFAULT_NAME})`)
  .option(
    '--host <user@addr[:port]>',
    'Run on another Linux host with Docker and sudo instead (host key checked against ~/.ssh/known_hosts)',
  )
  .option('--identity <key>', 'Private key file for --host')
  .option(
    '--docker',
    "Run on this computer's Docker engine (Docker Desktop, Colima, OrbStack, Linux) through a privileged helper container: no VM, no SSH",
  )
  .option(
    '--context <name>',
    'With --docker: the docker CLI context to use (default: DOCKER_HOST, DOCKER_CONTEXT, or the current context)',
  )
  .option(
    '--method <method>',
    "How to start the sleep: native (the VM's nsenter) or container (a helper container running nsenter)",
    { default: 'native' },
  )
  .option('--base-image <ref>', `Base image for the exercise image (default: ${builtInDefaults.baseImage})`)
  .option('--report <file.md>', 'Also write the report as Markdown to this file (an existing file needs --force)')
  .option('--force', 'Overwrite the --report file if it exists')
  .option('--json', 'Print the report as one JSON object')
  .option('--controls', 'Also run the controls: nsenter -F, and a container with apparmor=unconfined')
  .option('--keep', 'Leave the exercise container (stopped by question 2) in place afterwards, for exploring by hand')
  .example('labvm exercise --report namespaces.md')
  .example('labvm exercise --docker --controls')
  .action(async (given: RawOptions) => {
    const options = exerciseOptions(given, await settingsFor(given));
    const [{ exercise }, { renderTerminal }, { toJson }] = await Promise.all([
      import('./commands/exercise.js'),
      import('./report/terminal.js'),
      import('./report/json.js'),
    ]);
    const { report, saveReport, kept } = await exercise(options, io.progress);
    // Shown first: a report file that cannot be written then loses nothing.
    print(
      flag(given, 'json')
        ? JSON.stringify(toJson(report), null, 2)
        : renderTerminal(report, { color: io.useColor(process.stdout), width: textWidth(process.stdout) }).trimEnd(),
    );
    if (kept) process.stderr.write(`${io.texts.keptText(kept)}\n`);
    if (saveReport) process.stderr.write(`Markdown report written to ${await saveReport()}\n`);
  });

/** The exit status of a command that sets its own: shell and exec pass the remote one through, doctor fails with 3. */
let commandExit: number = ExitCode.ok;
const localTerminal = () => ({
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  term: process.env.TERM,
});

cli
  .command('shell', 'Open an interactive shell on the VM (SSH with the pinned host key; nothing is added to ~/.ssh)')
  .option('--name <name>', 'Instance name', { default: DEFAULT_NAME })
  .example('labvm shell')
  .action(async (given: RawOptions) => {
    const { shell } = await import('./commands/shell.js');
    commandExit = await shell(nameOption(given), localTerminal());
  });

cli
  .command('exec', 'Run one command on the VM; its exit code, stdin, stdout and stderr are passed through')
  .usage('exec [--name <name>] -- <command> [args...]')
  .option('--name <name>', 'Instance name', { default: DEFAULT_NAME })
  .example('labvm exec -- docker ps')
  .example('labvm exec --name lab2 -- sh -c "uname -r; id"')
  .action(async (given: RawOptions) => {
    const { exec } = await import('./commands/shell.js');
    const command = Array.isArray(given['--']) ? given['--'].map(String) : [];
    commandExit = await exec(nameOption(given), command, localTerminal());
  });

cli
  .command('list', 'List the VMs labvm created: state, address, release, size, and whether each is ready')
  .alias('ls')
  .option('--json', 'Print one JSON array')
  .action(async (given: RawOptions) => {
    const { list } = await import('./commands/list.js');
    const entries = await list();
    print(flag(given, 'json') ? JSON.stringify(entries, null, 2) : io.texts.listText(entries, io.outStyle));
  });

cli
  .command('stop', 'Stop (park) the VM without deleting it; `labvm start` or `labvm up` resumes it')
  .option('--name <name>', 'Instance name', { default: DEFAULT_NAME })
  .option('--all', 'Stop every VM labvm created')
  .action(async (given: RawOptions) => {
    const { stop } = await import('./commands/power.js');
    print(io.texts.powerText(await stop({ name: nameOption(given), all: flag(given, 'all') }, io.progress)));
  });

cli
  .command('start', 'Start a stopped VM and wait until it answers over SSH')
  .option('--name <name>', 'Instance name', { default: DEFAULT_NAME })
  .option('--timeout <seconds>', 'How long to wait for the VM to answer', { default: '300' })
  .action(async (given: RawOptions) => {
    const [{ start }, { parseTimeoutSeconds }] = await Promise.all([
      import('./commands/power.js'),
      import('./core/validate.js'),
    ]);
    print(
      io.texts.powerText([
        await start(nameOption(given), parseTimeoutSeconds(text(given, 'timeout', '--timeout')), io.progress),
      ]),
    );
  });

withNetworkOptions(
  cli
    .command(
      'doctor',
      "Check this computer before a lesson: Multipass, its driver, memory, disk, Node.js and labvm's VMs",
    )
    .option('--json', 'Print one JSON object')
    .option('--cpus <n>', 'Check as for `labvm up --cpus`')
    .option('--memory <size>', 'Check as for `labvm up --memory`')
    .option('--disk <size>', 'Check as for `labvm up --disk`')
    .option('--image <image>', 'Show as for `labvm up --image`')
    .option('--timeout <seconds>', 'Show as for `labvm up --timeout`')
    .option('--base-image <ref>', 'Show as for `labvm exercise --base-image`'),
  'labvm up',
).action(async (given: RawOptions) => {
  const { doctor } = await import('./commands/doctor.js');
  const report = await doctor(await settingsFor(given));
  print(flag(given, 'json') ? JSON.stringify(report, null, 2) : io.texts.doctorText(report, io.outStyle));
  if (!report.ok) commandExit = ExitCode.prerequisite;
});

cli
  .command(
    'report <file.json>',
    'Re-explain a saved `labvm exercise --json` report: answers recomputed from its evidence by this labvm',
  )
  .option('--markdown <file.md>', 'Also write the report as Markdown to this file (an existing file needs --force)')
  .option('--force', 'Overwrite the --markdown file if it exists')
  .option('--json', 'Print the re-explained report as one JSON object')
  .example('labvm report namespaces.json --markdown namespaces.md')
  .action(async (file: string, given: RawOptions) => {
    const [{ report }, { renderTerminal }, { toJson }] = await Promise.all([
      import('./commands/report.js'),
      import('./report/terminal.js'),
      import('./report/json.js'),
    ]);
    const result = await report(file, {
      markdown: optionalText(given, 'markdown', '--markdown'),
      force: flag(given, 'force'),
    });
    const { differences } = result;
    print(
      flag(given, 'json')
        ? JSON.stringify(
            { ...toJson(result.report), recomputed: { fromLabvmVersion: result.writtenBy, differences } },
            null,
            2,
          )
        : renderTerminal(result.report, {
            color: io.useColor(process.stdout),
            width: textWidth(process.stdout),
          }).trimEnd(),
    );
    process.stderr.write(io.texts.reexplainedText(result.file, result.writtenBy, differences, io.errStyle));
    if (result.markdownFile) process.stderr.write(`Markdown report written to ${result.markdownFile}\n`);
  });

cli
  .command('completion <shell>', 'Print a completion script for bash, zsh, fish or powershell')
  .example('labvm completion bash > ~/.local/share/bash-completion/completions/labvm')
  .example('labvm completion powershell >> $PROFILE')
  .action(async (shell: string) => {
    const { commandTable, completionScript, completionShells } = await import('./cli/completion.js');
    const known = completionShells.find((name) => name === shell);
    if (!known)
      throw new LabvmError(
        `No completion for the shell "${shell}".`,
        'usage',
        `Use one of: ${completionShells.join(', ')}.`,
      );
    print(
      completionScript(
        known,
        'labvm',
        commandTable(cli.commands, cli.globalCommand.options, { completion: [...completionShells] }),
      ).trimEnd(),
    );
  });

cli
  .command('help [command]', "Show the commands, or one command's options")
  .action((command: string | undefined) => showHelp(command));

cli.command('version', "Print labvm's version").action(() => cli.outputVersion());

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

const commandNamed = (name: string): Command | undefined =>
  cli.commands.find((command) => command.name === name || command.aliasNames.includes(name));

function unknownCommand(name: string): LabvmError {
  const guess = suggestion(
    name,
    cli.commands.map((command) => command.name),
  );
  return new LabvmError(
    `Unknown command "${name}".${guess ? ` Did you mean \`labvm ${guess}\`?` : ''}`,
    'usage',
    'Run `labvm help` to see the commands.',
  );
}

/** Names of the options that take a value, whose text must reach labvm as typed (see markValues). */
function valueOptions(): Set<string> {
  return new Set(
    [cli.globalCommand, ...cli.commands]
      .flatMap((command) => command.options)
      .filter((option) => !option.isBoolean)
      .flatMap((option) => option.names),
  );
}

/** Commands that only print what the CLI already holds: nothing runs around them. */
const PRINT_ONLY = new Set(['help', 'version']);

/**
 * `labvm --help` or `labvm --version` alone is answered before parsing, which tries the arguments against every
 * command in turn: the same output, sooner (it is what people run most, and to check an install).
 */
function answeredAtOnce(args: string[]): boolean {
  if (args.length !== 1) return false;
  if (args[0] === '--help' || args[0] === '-h') cli.globalCommand.outputHelp();
  else if (args[0] === '--version' || args[0] === '-v') cli.outputVersion();
  else return false;
  return true;
}

async function main(argv: string[]): Promise<number> {
  if (answeredAtOnce(argv.slice(2))) return ExitCode.ok;
  const parsed = cli.parse(markValues(argv, valueOptions()), { run: false });
  if (!cli.matchedCommand) {
    if (parsed.options.help || parsed.options.version) return ExitCode.ok;
    const unknown = parsed.args[0];
    throw unknown
      ? unknownCommand(String(unknown))
      : new LabvmError('No command given.', 'usage', 'Run `labvm help` to see the commands.');
  }
  if (PRINT_ONLY.has(cli.matchedCommand.name)) {
    await cli.runMatchedCommand();
    return ExitCode.ok;
  }
  io = await loadRuntime();
  const settled = io.startCommand(cli);
  try {
    await cli.runMatchedCommand();
  } finally {
    settled();
  }
  await io.saveLog(cli);
  return commandExit;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  async (error: unknown) => {
    process.exitCode = await (await loadRuntime()).showFailure(cli, error);
  },
);
