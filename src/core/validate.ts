import { usageError } from './errors.js';

// Multipass's own rule (utils.cpp valid_hostname): checked here so a bad name fails before anything runs.
const INSTANCE_NAME = /^([a-zA-Z]|[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
// Multipass memory_size.cpp: bytes or K/M/G (binary), optional iB/B, decimals need a unit.
const SIZE = /^(\d+)(\.\d+)?([KMG](i?B)?|B)?$/i;
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
  if (!match || (match[2] && !match[3])) {
    throw usageError(`Invalid ${what} size "${value}".`, `Use a number with a unit K, M or G, for example 4G or 2048M.`);
  }
  const unit = (match[3] ?? 'B').charAt(0).toUpperCase();
  const bytes = Math.floor(Number(`${match[1]}${match[2] ?? ''}`) * UNIT_BYTES[unit]!);
  if (bytes < minimumBytes) {
    throw usageError(`The ${what} size ${value} is below the minimum of ${formatBytes(minimumBytes)}.`);
  }
  return bytes;
}

export function parsePositiveInteger(value: unknown, what: string): number {
  const text = String(value);
  if (!/^\d+$/.test(text) || Number(text) <= 0) {
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
