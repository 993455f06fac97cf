import { constants } from 'node:os';
import type { ClientChannel } from 'ssh2';
import { LabvmError } from '../core/errors.js';
import type { RemoteHost } from './ssh.js';

/** The local end of an attached session: usually process.stdin/stdout/stderr. */
export interface LocalTerminal {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream & {
    isTTY?: boolean;
    rows?: number;
    columns?: number;
    on(event: 'resize', listener: () => void): unknown;
  };
  stderr: NodeJS.WritableStream;
  /** $TERM to announce to the remote pty (Windows Terminal and conhost understand xterm-256color). */
  term?: string;
}

/**
 * Runs a shell (command undefined) or a command over the connection with the local terminal attached, and
 * resolves the remote exit status. A pty is used for the shell, and for a command only when asked: without
 * one, the remote stdout and stderr stay apart. The local terminal is put in raw mode while a pty is used
 * (keys such as Ctrl-C then reach the remote side) and always restored.
 */
export async function attachSession(
  remote: RemoteHost,
  command: string | undefined,
  local: LocalTerminal,
): Promise<number> {
  const pty =
    command === undefined
      ? { rows: local.stdout.rows || 24, cols: local.stdout.columns || 80, term: local.term ?? 'xterm-256color' }
      : undefined;
  const channel = await remote.openSession(command, pty);
  const raw = !!pty && !!local.stdin.isTTY && typeof local.stdin.setRawMode === 'function';
  const followSize = () => channel.setWindow(local.stdout.rows || 24, local.stdout.columns || 80, 0, 0);
  if (raw) local.stdin.setRawMode!(true);
  if (pty) local.stdout.on('resize', followSize);
  try {
    return await pipeUntilClosed(channel, local, remote);
  } finally {
    if (pty) local.stdout.removeListener('resize', followSize);
    local.stdin.unpipe(channel);
    if (raw) local.stdin.setRawMode!(false);
    local.stdin.pause(); // a terminal's stdin would otherwise keep the process alive
  }
}

function pipeUntilClosed(channel: ClientChannel, local: LocalTerminal, remote: RemoteHost): Promise<number> {
  return new Promise((resolve, reject) => {
    // The exit status comes with 'close' (ssh2 keeps it): an 'exit' event can fire before a listener is attached,
    // when the whole reply arrives in the packet that opened the channel.
    channel.on('close', (code?: number | null, signal?: string) => {
      if (code !== undefined) return resolve(exitStatus(code, signal));
      reject(
        new LabvmError(
          `${remote.target.label}: the session ended without an exit status: ${remote.lostReason ?? 'the channel was closed'}.`,
          'vm',
          'Check that the VM is still running (`labvm status`), then try again.',
        ),
      );
    });
    channel.pipe(local.stdout, { end: false });
    channel.stderr.pipe(local.stderr, { end: false });
    local.stdin.pipe(channel); // the local end of input becomes the remote command's end of input
  });
}

/** Like a local shell: a command killed by a signal ends with 128 + the signal's number. */
export function exitStatus(code: number | null | undefined, signal: string | undefined): number {
  if (typeof code === 'number') return code;
  const name = signal?.startsWith('SIG') ? signal : `SIG${signal}`;
  const number = signal ? constants.signals[name as keyof typeof constants.signals] : undefined;
  return number ? 128 + number : 255;
}
