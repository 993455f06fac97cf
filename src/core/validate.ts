import { usageError } from './errors.js';

// Multipass's own rule (utils.cpp valid_hostname): checked here so a bad name fails before anything runs.
const INSTANCE_NAME = /^([a-zA-Z]|[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
// Multipass memory_size.cpp: K/M/G (binary), optional iB/B, or B for bytes. Multipass reads a bare number as bytes;
// labvm asks for a unit instead, since `--memory 4096` almost always means 4096M, not 4 KiB.
const SIZE = /^(\d+)(\.\d+)?([KMG](i?B)?|B)$/i;
const BARE_NUMBER = /^\d+(\.\d+)?$/;
const UNIT_BYTES: Record<string, number> = { B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** A hostname label: the VM takes its name as its hostname. */
export const MAX_NAME_LENGTH = 63;

export function validateInstanceName(name: string): string {
  if (name.length > MAX_NAME_LENGTH) {
    throw usageError(
      `The instance name is ${name.length} characters long; at most ${MAX_NAME_LENGTH} are allowed (it becomes the VM's hostname).`,
      'Choose a shorter name with --name.',
    );
  }
  if (!INSTANCE_NAME.test(name)) {
    throw usageError(
      `Invalid instance name "${name}".`,
      'Use letters, digits and hyphens, starting with a letter and not ending with a hyphen (for example: labvm).',
    );
  }
  return name;
}

/** Parses a Multipass size ("4G", "1.5GiB", "2048M") into bytes. */
export function parseSize(
  value: string,
  what: string,
  minimumBytes: number,
  maximumBytes = Number.MAX_SAFE_INTEGER,
): number {
  const match = SIZE.exec(value.trim());
  if (BARE_NUMBER.test(value.trim())) {
    throw usageError(`The ${what} size "${value}" has no unit.`, `Add a unit, e.g. 4G or ${value.trim()}M.`);
  }
  if (!match || (match[2] && match[3]?.toUpperCase() === 'B')) {
    throw usageError(
      `Invalid ${what} size "${value}".`,
      `Use a number with a unit K, M or G, for example 4G or 2048M.`,
    );
  }
  const unit = match[3]!.charAt(0).toUpperCase();
  const bytes = Math.floor(Number(`${match[1]}${match[2] ?? ''}`) * UNIT_BYTES[unit]!);
  if (bytes < minimumBytes) {
    throw usageError(
      `The ${what} size ${value} is below the minimum of ${formatBytes(minimumBytes)}.`,
      `Give at least ${formatBytes(minimumBytes)}.`,
    );
  }
  if (!(bytes <= maximumBytes))
    throw usageError(
      `The ${what} size ${value} is above the maximum of ${formatBytes(maximumBytes)}.`,
      `Give at most ${formatBytes(maximumBytes)}.`,
    );
  return bytes;
}

/** A whole number as typed ("007" is 7); anything else, including "1e3", "1.5" and "", is refused. */
export function parsePositiveInteger(text: string, what: string, maximum = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))) {
    throw usageError(
      `Invalid ${what} "${text}": it must be a whole number greater than 0.`,
      `Give a whole number from 1 to ${maximum}.`,
    );
  }
  if (Number(text) > maximum)
    throw usageError(
      `The ${what} ${text} is above the maximum of ${maximum}.`,
      `Give a whole number from 1 to ${maximum}.`,
    );
  return Number(text);
}

// Multipass 1.16's minimums; the Docker install needs more than that to be comfortable, but the user decides.
export const MIN_MEMORY_BYTES = 512 * 1024 ** 2;
export const MIN_DISK_BYTES = 4 * 1024 ** 3;
// Upper bounds that no laptop reaches, so a typo (or an overflow) is refused before anything runs.
export const MAX_MEMORY_BYTES = 1024 * 1024 ** 3;
export const MAX_DISK_BYTES = 65536 * 1024 ** 3;
export const MAX_CPUS = 256;

/** A day: far beyond any wait, and well inside Node's timer range (2^31-1 ms, above which a timer fires at once). */
export const MAX_TIMEOUT_SECONDS = 86_400;

export function parseTimeoutSeconds(value: string): number {
  return parsePositiveInteger(value, 'timeout in seconds', MAX_TIMEOUT_SECONDS);
}

/*
 * Docker's image reference grammar (distribution/reference regexp.go): [domain[:port]/]path[:tag][@digest],
 * path components lower-case, at most 255 characters for the name. Checked before connecting, so a typo,
 * a space or a `$(...)` is a usage error, not a failed build on the VM.
 */
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(${NAME})(?::${TAG})?(?:@${DIGEST})?$`);

export function validateImageReference(reference: string, option: string): string {
  const match = REFERENCE.exec(reference);
  if (!match || match[1]!.length > 255) {
    throw usageError(
      `${option} "${reference}" is not a valid image reference.`,
      "Use Docker's form [registry/]name[:tag][@digest], for example nginx:latest or registry.example.com/library/nginx:1.27 (lower-case name, no spaces).",
    );
  }
  return reference;
}

export function formatBytes(bytes: number): string {
  for (const unit of ['G', 'M', 'K'] as const) {
    const size = UNIT_BYTES[unit]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
