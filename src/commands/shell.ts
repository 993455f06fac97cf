import { usageError } from '../core/errors.js';
import { attachSession, type LocalTerminal } from '../remote/session.js';
import { shellQuote } from '../remote/ssh.js';
import { connectToReadyInstance } from '../vm/situation.js';

/** An interactive login shell on the VM over labvm's pinned SSH trust; resolves the shell's exit status. */
export async function shell(name: string, local: LocalTerminal): Promise<number> {
  return attached(name, undefined, local);
}

/** One command on the VM (arguments quoted for its shell); resolves the command's exit status. */
export async function exec(name: string, argv: string[], local: LocalTerminal): Promise<number> {
  if (argv.length === 0)
    throw usageError('No command given to run.', 'Put the command after `--`, e.g. `labvm exec -- uname -a`.');
  return attached(name, shellQuote(argv), local);
}

async function attached(name: string, command: string | undefined, local: LocalTerminal): Promise<number> {
  const remote = await connectToReadyInstance(name, 'shell', false);
  try {
    return await attachSession(remote, command, local);
  } finally {
    remote.close();
  }
}
