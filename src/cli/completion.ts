/**
 * Shell completion scripts, generated from the CLI's own command table (cac's commands and options), so a new
 * command or option is completed without a second list to keep in step.
 */

export interface CompletionOption {
  /** Spellings, e.g. ["--name"] or ["-h", "--help"]. */
  flags: string[];
  description: string;
  takesValue: boolean;
}

export interface CompletionCommand {
  name: string;
  description: string;
  options: CompletionOption[];
  /** Fixed values of the first argument (e.g. the shells of `completion`). */
  values?: string[];
}

export const completionShells = ['bash', 'zsh', 'fish', 'powershell'] as const;
export type CompletionShell = (typeof completionShells)[number];

/** The shape of a cac command or option that the table is read from. */
interface CacOption {
  rawName: string;
  description: string;
}
interface CacCommand {
  name: string;
  description: string;
  aliasNames: string[];
  options: CacOption[];
}

/** Reads the table from cac's commands (aliases become commands of their own) and its global options. */
export function commandTable(
  commands: CacCommand[],
  globalOptions: CacOption[],
  values: Record<string, string[]> = {},
): CompletionCommand[] {
  const options = (list: CacOption[]) => [...list, ...globalOptions].map(toOption);
  return commands
    .filter((command) => command.name !== '')
    .flatMap((command) =>
      [command.name, ...command.aliasNames].map((name) => ({
        name,
        description: command.description,
        options: options(command.options),
        values: values[command.name],
      })),
    );
}

function toOption(option: CacOption): CompletionOption {
  return {
    flags: option.rawName
      .split(',')
      .map((part) => part.trim().split(/\s/)[0]!)
      .filter(Boolean),
    description: option.description,
    takesValue: /[<[]/.test(option.rawName),
  };
}

export function completionScript(shell: CompletionShell, program: string, commands: CompletionCommand[]): string {
  return { bash, zsh, fish, powershell }[shell](program, commands);
}

const flagsOf = (command: CompletionCommand) => command.options.flatMap((option) => option.flags);
const valueFlags = (commands: CompletionCommand[]) => [
  ...new Set(commands.flatMap((c) => c.options.filter((o) => o.takesValue).flatMap((o) => o.flags))),
];
const single = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
const fn = (program: string) => `_${program.replace(/\W/g, '_')}`;

/** Instance names are the folders of LABVM_HOME (labvm's records), read by the shell itself: no labvm run per key. */
function bash(program: string, commands: CompletionCommand[]): string {
  const cases = commands.map(
    (c) => `    ${c.name}) words=${single([...(c.values ?? []), ...flagsOf(c)].join(' '))} ;;`,
  );
  return [
    `# ${program} completion for bash: source this file, or save it as /etc/bash_completion.d/${program}`,
    `${fn(program)}() {`,
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" words',
    `  if [ "$COMP_CWORD" -eq 1 ]; then`,
    `    COMPREPLY=( $(compgen -W ${single(commands.map((c) => c.name).join(' '))} -- "$cur") ); return`,
    '  fi',
    '  case "$prev" in',
    '    --name) COMPREPLY=( $(cd "${LABVM_HOME:-$HOME/.labvm}" 2>/dev/null && compgen -d -- "$cur") ); return ;;',
    '    --config|--report|--identity) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;',
    `    ${valueFlags(commands)
      .filter((f) => !['--name', '--config', '--report', '--identity'].includes(f))
      .join('|')}) return ;;`,
    '  esac',
    '  case "${COMP_WORDS[1]}" in',
    ...cases,
    '    *) words= ;;',
    '  esac',
    '  COMPREPLY=( $(compgen -W "$words" -- "$cur") )',
    '}',
    `complete -F ${fn(program)} ${program}`,
    '',
  ].join('\n');
}

function zsh(program: string, commands: CompletionCommand[]): string {
  const described = (name: string, description: string) => single(`${name.replace(/:/g, '\\:')}:${description}`);
  const cases = commands.map((c) => {
    const items = [
      ...(c.values ?? []).map((v) => described(v, `${v} completion script`)),
      ...c.options.flatMap((o) => o.flags.map((f) => described(f, o.description))),
    ];
    return `    ${c.name}) items=(${items.join(' ')}) ;;`;
  });
  return [
    `#compdef ${program}`,
    `# ${program} completion for zsh: save as _${program} in a folder of $fpath, or source it after compinit`,
    `${fn(program)}() {`,
    '  local -a items',
    '  if (( CURRENT == 2 )); then',
    `    items=(${commands.map((c) => described(c.name, c.description)).join(' ')})`,
    "    _describe 'command' items; return",
    '  fi',
    '  if [[ ${words[CURRENT-1]} == --name ]]; then _files -W "${LABVM_HOME:-$HOME/.labvm}" -/; return; fi',
    '  case ${words[2]} in',
    ...cases,
    '  esac',
    "  _describe 'option' items",
    '}',
    `compdef ${fn(program)} ${program}`,
    '',
  ].join('\n');
}

function fish(program: string, commands: CompletionCommand[]): string {
  const lines = [
    `# ${program} completion for fish: save as ~/.config/fish/completions/${program}.fish`,
    `complete -c ${program} -f`,
  ];
  for (const c of commands) {
    lines.push(`complete -c ${program} -n __fish_use_subcommand -a ${c.name} -d ${single(c.description)}`);
    const seen = `-n ${single(`__fish_seen_subcommand_from ${c.name}`)}`;
    for (const value of c.values ?? []) lines.push(`complete -c ${program} ${seen} -a ${value}`);
    for (const o of c.options) {
      const spellings = o.flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)).join(' ');
      lines.push(`complete -c ${program} ${seen} ${spellings}${o.takesValue ? ' -r' : ''} -d ${single(o.description)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function powershell(program: string, commands: CompletionCommand[]): string {
  const psQuote = (text: string) => `'${text.replace(/'/g, "''")}'`;
  const table = commands.map(
    (c) => `  ${psQuote(c.name)} = @(${[...(c.values ?? []), ...flagsOf(c)].map(psQuote).join(', ')})`,
  );
  return [
    `# ${program} completion for PowerShell: add this to your $PROFILE`,
    `Register-ArgumentCompleter -Native -CommandName ${program} -ScriptBlock {`,
    '  param($wordToComplete, $commandAst, $cursorPosition)',
    '  $commands = @{',
    ...table,
    '  }',
    '  $words = @($commandAst.CommandElements | ForEach-Object { $_.ToString() })',
    '  $typing = if ($wordToComplete) { 1 } else { 0 }',
    '  $candidates = if ($words.Count - $typing -le 1) { $commands.Keys } else { $commands[$words[1]] }',
    '  $candidates | Where-Object { $_ -like "$wordToComplete*" } | Sort-Object | ForEach-Object {',
    "    [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)",
    '  }',
    '}',
    '',
  ].join('\n');
}
