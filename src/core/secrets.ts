import { REDACTED } from './network.js';

/**
 * Secrets this run knows (a proxy's credentials), kept out of what labvm writes: the debug log and error messages
 * pass through redactSecrets. A safety net under the redaction each message does itself, for text that comes from
 * elsewhere (a log read from the VM, a program's error).
 */
const secrets = new Set<string>();

export function keepSecret(...values: string[]): void {
  for (const value of values) if (value) secrets.add(value);
}

export function redactSecrets(text: string): string {
  let result = text;
  // Longest first, so that a password inside a user:password pair does not leave the user's half behind.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) result = result.split(secret).join(REDACTED);
  return result;
}
