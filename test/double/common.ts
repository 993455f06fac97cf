// What every part of the Multipass test double shares: the contract's constants and how a failure is reported.

export const VERSION = '1.16.3';
export const LABEL = 'multipass-double';
export const INSTANCE_LABEL = `${LABEL}.instance`;
export const CONTAINER_PREFIX = 'multipass-double-';
export const DELETED_SUFFIX = '.deleted';
export const DEFAULT_IMAGE = 'labvm-test/vm-standin:latest';
export const DEFAULT_PHASE_TIMEOUT_S = 300;
export const STOP_TIMEOUT_S = 20;
export const NAME_RULE = /^([a-zA-Z]|[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
export const SIZE_RULE = /^(\d+)(\.\d+)?([KMG](i?B)?|B)?$/i;
export const MIN_MEMORY = 128 * 2 ** 20;
export const MIN_DISK = 512 * 2 ** 20;
export const BOOT_FINISHED = '/var/lib/cloud/instance/boot-finished';

/** A failure to report: `text` goes to stderr as is, the process exits with `exitCode`. */
export class MultipassError extends Error {
  constructor(
    readonly text: string,
    readonly exitCode: number,
  ) {
    super(text);
  }
}

/** Command-line error (exit 1), printed without the "<cmd> failed:" prefix. */
export const usageError = (text: string) => new MultipassError(text, 1);

/** Daemon-side failure (exit 2): `<cmd> failed: <message>`. */
export const failed = (cmd: string, message: string) => new MultipassError(`${cmd} failed: ${message}`, 2);

export const errorsOccurred = (cmd: string, lines: string[]) =>
  failed(cmd, `The following errors occurred:\n${lines.join('\n')}`);
