// Multipass test double.
//
// Keeps the command-line contract of multipass 1.16.3 (output shapes, messages, exit codes, as its `cmd/*.cpp`
// sources and documentation define them) for the commands labvm uses, but its instances are Docker
// containers built from the VM stand-in image (test/standin): each one runs the real cloud-init on the
// user-data it was given, a real sshd and a real dockerd, and is reachable on its bridge IP.
//
// Instance = container `multipass-double-<name>` (renamed `multipass-double-<name>.deleted` while
// Deleted) + volume `multipass-double-<name>-docker` at /var/lib/docker. Everything is found again
// through the label `multipass-double.instance=<name>`; the double keeps no state on the host.
//
// Environment knobs:
//   MULTIPASS_DOUBLE_IMAGE             image of new instances (default labvm-test/vm-standin:latest)
//   MULTIPASS_DOUBLE_CLOUD_INIT_DELAY  seconds the instance waits before cloud-init (a slow boot)
//   MULTIPASS_DOUBLE_DAEMON_DOWN=1     behave as if multipassd were unreachable
//   MULTIPASS_DOUBLE_FAILING_RUNCMD    a shell line put first in the user-data's runcmd (to make provisioning fail)
//   MULTIPASS_DOUBLE_UNROUTABLE=1      report each instance at an address the host cannot reach (exec still works)
//   MULTIPASS_DOUBLE_PHASE_TIMEOUT     seconds the daemon waits for each launch phase, in place of the
//                                      300 s default or --timeout (a slow network makes the real one give up)
//
// One module per part: common (constants, errors), instances (Docker), args, output, waiting, launch, info
// (info, list), lifecycle (start, stop, delete, exec); this file has version, get and the dispatch.

import YAML from 'yaml';
import { parseArgs, parseFormat } from './args.js';
import { MultipassError, VERSION, failed, usageError } from './common.js';
import { info, list } from './info.js';
import { launch } from './launch.js';
import { deleteCommand, exec, start, stop } from './lifecycle.js';
import { out, printJson } from './output.js';

async function version(argv: string[]): Promise<number> {
  const format = parseFormat(parseArgs(argv, { format: ['--format'] }));
  const versions: Record<string, string> = { multipass: VERSION };
  if (process.env.MULTIPASS_DOUBLE_DAEMON_DOWN !== '1') versions.multipassd = VERSION;
  if (format === 'json') printJson(versions);
  else if (format === 'yaml') out(YAML.stringify(versions));
  else for (const [key, value] of Object.entries(versions)) out(`${key.padEnd(12)}${value}\n`);
  return 0;
}

async function get(argv: string[]): Promise<number> {
  const { positional } = parseArgs(argv, {}, { raw: ['--raw'], keys: ['--keys'] });
  if (positional[0] !== 'local.driver') throw failed('get', `Unrecognized settings key: '${positional[0] ?? ''}'`);
  out('qemu\n');
  return 0;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  version,
  launch,
  info,
  list,
  ls: list,
  start,
  stop,
  delete: deleteCommand,
  exec,
  get,
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '-h' || cmd === '--help') {
    out(`Usage: multipass <command> [options]   (test double of multipass ${VERSION})\n`);
    out(`Commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return cmd === undefined ? 1 : 0;
  }
  const handler = COMMANDS[cmd];
  if (!handler) throw usageError(`Error: unknown command '${cmd}'`);
  if (cmd !== 'version' && process.env.MULTIPASS_DOUBLE_DAEMON_DOWN === '1')
    throw failed(cmd, 'cannot connect to the multipass socket');
  try {
    return await handler(rest);
  } catch (error) {
    if (error instanceof MultipassError) throw error;
    throw failed(cmd, (error as Error).message);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof MultipassError) {
      process.stderr.write(`${error.text}\n`);
      process.exitCode = error.exitCode;
    } else {
      process.stderr.write(`multipass double: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
