import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** Host key trust: which raw (wire-format) public keys a host may present. */

/** The base64 blob of an OpenSSH public key line ("ssh-ed25519 AAAA... comment") as bytes. */
export function publicKeyBlob(line: string): Buffer {
  const [type, blob] = line.trim().split(/\s+/);
  const bytes = type && blob && /^(ssh-|ecdsa-|sk-)/.test(type) ? Buffer.from(blob, 'base64') : undefined;
  // Buffer.from skips what is not base64, so check the round trip and that the blob names its own type.
  if (!bytes || bytes.toString('base64').replace(/=+$/, '') !== blob!.replace(/=+$/, '') || blobType(bytes) !== type) {
    throw new Error(`not an OpenSSH public key: ${line.slice(0, 40)}`);
  }
  return bytes;
}

/** The key type a wire-format blob starts with (uint32 length, then the name). */
function blobType(blob: Buffer): string | undefined {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  return length >= 0 && blob.length >= 4 + length ? blob.subarray(4, 4 + length).toString('latin1') : undefined;
}

/** The OpenSSH fingerprint, as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** How known_hosts names a host: the bare name on port 22, "[name]:port" otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** A known_hosts line for a pinned key, filed under an alias rather than an IP that may change. */
export function knownHostsLine(alias: string, publicKeyLine: string): string {
  publicKeyBlob(publicKeyLine); // throws rather than write "alias undefined undefined"
  const [type, blob] = publicKeyLine.trim().split(/\s+/);
  return `${alias} ${type} ${blob}`;
}

/**
 * The keys known_hosts content accepts for a host, and the ones it revokes.
 * Understands comma-separated names, hashed names (|1|salt|hash), "!" negation, "*"/"?" wildcards and @revoked.
 */
export function keysFromKnownHosts(
  content: string,
  host: string,
  port = 22,
): { accepted: Buffer[]; revoked: Buffer[] } {
  const name = knownHostsName(host, port);
  const accepted: Buffer[] = [];
  const revoked: Buffer[] = [];
  for (const raw of content.split(/\r?\n/)) {
    const fields = raw.trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) continue;
    const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
    const [patterns, , blob] = fields;
    if (!patterns || !blob || marker === '@cert-authority') continue;
    if (!namesMatch(patterns, name)) continue;
    (marker === '@revoked' ? revoked : accepted).push(Buffer.from(blob, 'base64'));
  }
  return { accepted, revoked };
}

export async function readKnownHosts(file: string): Promise<string> {
  return readFile(file, 'utf8').catch(() => '');
}

function namesMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) return hashedNameMatches(patterns, name);
  let matched = false;
  for (const pattern of patterns.split(',')) {
    const negated = pattern.startsWith('!');
    if (wildcard(negated ? pattern.slice(1) : pattern).test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function hashedNameMatches(entry: string, name: string): boolean {
  const [, , salt, hash] = entry.split('|');
  if (!salt || !hash) return false;
  const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return digest === hash;
}

function wildcard(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}
