// Command-line parsing (QCommandLineParser-like: -x V, --long V, --long=V, `--` ends the options).

import { usageError } from './common.js';

export interface Args {
  positional: string[];
  values: Map<string, string>;
  switches: Set<string>;
  afterDashDash: string[];
}

/** `valueOptions`/`switchOptions` map a canonical key to its spellings. -v/-h are accepted everywhere. */
export function parseArgs(
  argv: string[],
  valueOptions: Record<string, string[]> = {},
  switchOptions: Record<string, string[]> = {},
): Args {
  const lookup = new Map<string, { key: string; takesValue: boolean }>();
  for (const [key, flags] of Object.entries(valueOptions))
    for (const f of flags) lookup.set(f, { key, takesValue: true });
  const globals = { verbose: ['-v', '-vv', '-vvv', '-vvvv', '--verbose'], help: ['-h', '--help'] };
  for (const [key, flags] of Object.entries({ ...globals, ...switchOptions }))
    for (const f of flags) lookup.set(f, { key, takesValue: false });

  const args: Args = { positional: [], values: new Map(), switches: new Set(), afterDashDash: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.afterDashDash = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      args.positional.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const option = lookup.get(flag);
    if (!option) throw usageError(`Unknown option '${flag.replace(/^-+/, '')}'.`);
    if (!option.takesValue) {
      args.switches.add(option.key);
    } else if (eq > 0) {
      args.values.set(option.key, arg.slice(eq + 1));
    } else if (i + 1 < argv.length) {
      args.values.set(option.key, argv[++i]!);
    } else {
      throw usageError(`Missing value after '${flag}'.`);
    }
  }
  return args;
}

/** Names given, or --all; neither: `Name argument or --all is required` (exit 1). */
export function namesOrAll(args: Args): { names: string[]; all: boolean } {
  const all = args.switches.has('all');
  if (all && args.positional.length > 0) throw usageError('Cannot specify name when --all option set');
  if (!all && args.positional.length === 0) throw usageError('Name argument or --all is required');
  return { names: args.positional, all };
}

export function parseTimeout(args: Args): number | undefined {
  const raw = args.values.get('timeout');
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw usageError('error: --timeout value has to be a positive integer');
  return Number(raw);
}

export function parseFormat(args: Args): 'table' | 'json' | 'yaml' | 'csv' {
  const format = args.values.get('format') ?? 'table';
  if (format !== 'table' && format !== 'json' && format !== 'yaml' && format !== 'csv')
    throw usageError(`Invalid format type given.`);
  return format;
}
