import { usageError } from './errors.js';

// Multipass's own rule (utils.cpp valid_hostname): checked here so a bad name fails before anything runs.
const INSTANCE_NAME = /^([a-zA-Z]|[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
// Multipass memory_size.cpp: K/M/G (binary), optional iB/B, or B for bytes. Multipass reads a bare number as bytes;
// labvm asks for a unit instead, since `--memory 4096` almost always means 4096M, not 4 KiB.
const SIZE = /^(\d+)(\.\d+)?([KMG](i?B)?|B)$/i;
const BARE_NUMBER = /^\d+(\.\d+)?$/;
const UNIT_BYTES: Record<string, number> = { B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

export function validateInstanceName(name: string): string {
  if (!INSTANCE_NAME.test(name)) {
    throw usageError(
      `Invalid instance name "${name}".`,
      'Use letters, digits and hyphens, starting with a letter and not ending with a hyphen (for example: labvm).',
    );
  }
  return name;
}

/** Parses a Multipass size ("4G", "1.5GiB", "2048M") into bytes. */
export function parseSize(value: string, what: string, minimumBytes: number): number {
  const match = SIZE.exec(value.trim());
  if (BARE_NUMBER.test(value.trim())) {
    throw usageError(`The ${what} size "${value}" has no unit.`, `Add a unit, e.g. 4G or ${value.trim()}M.`);
  }
  if (!match || (match[2] && match[3]?.toUpperCase() === 'B')) {
    throw usageError(`Invalid ${what} size "${value}".`, `Use a number with a unit K, M or G, for example 4G or 2048M.`);
  }
  const unit = match[3]!.charAt(0).toUpperCase();
  const bytes = Math.floor(Number(`${match[1]}${match[2] ?? ''}`) * UNIT_BYTES[unit]!);
  if (bytes < minimumBytes) {
    throw usageError(`The ${what} size ${value} is below the minimum of ${formatBytes(minimumBytes)}.`);
  }
  return bytes;
}

/** A whole number as typed ("007" is 7); anything else, including "1e3", "1.5" and "", is refused. */
export function parsePositiveInteger(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))) {
    throw usageError(`Invalid ${what} "${text}": it must be a whole number greater than 0.`);
  }
  return Number(text);
}

export function formatBytes(bytes: number): string {
  for (const unit of ['G', 'M', 'K'] as const) {
    const size = UNIT_BYTES[unit]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
