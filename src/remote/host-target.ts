import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { usageError, LabvmError } from '../core/errors.js';
import { currentPlatform } from '../core/platform.js';
import { keysFromKnownHosts, readKnownHosts } from './host-keys.js';
import type { SshTarget } from './ssh.js';

/** `--host user@addr[:port]`: any Linux host, trusted only through the user's own known_hosts, as `ssh` does. */

/** user@addr[:port], with IPv6 addresses in brackets: user@[fe80::1]:2222. */
export function parseHostSpec(spec: string): { username: string; host: string; port: number } {
  // Like ssh, the last @ separates the user (which may itself contain @) from the address.
  // A user name of word characters (and . - @ for domain accounts); a DNS name, an IPv4 address, or an IPv6 one in brackets.
  const match = /^([\w.@-]+)@(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d+))?$/.exec(spec);
  const form = 'Give it as user@address[:port], for example ubuntu@192.168.64.5 or me@[fe80::1]:2222.';
  if (!match) throw usageError(`--host "${spec}" is not of the form user@address[:port].`, form);
  const port = match[3] ? Number(match[3]) : 22;
  if (port < 1 || port > 65535) throw usageError(`--host "${spec}" has an invalid port.`, form);
  return { username: match[1]!, host: match[2]!.replace(/^\[|\]$/g, ''), port };
}

export async function hostTarget(
  spec: string,
  identity: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SshTarget> {
  const { username, host, port } = parseHostSpec(spec);
  const credentialsFound = await credentials(identity, env); // a bad --identity is a usage error, found before the host's trust
  const knownHostsFile = join(homedir(), '.ssh', 'known_hosts');
  const { accepted, revoked } = keysFromKnownHosts(await readKnownHosts(knownHostsFile), host, port);
  const trusted = accepted.filter((key) => !revoked.some((bad) => bad.equals(key)));
  const connectFirst = `Connect once with \`ssh ${port === 22 ? '' : `-p ${port} `}${username}@${host}\`, check the fingerprint it shows, and accept it; then run labvm again.`;
  if (!trusted.length)
    throw new LabvmError(`${host} has no trusted host key in ${knownHostsFile}.`, 'trust', connectFirst);
  return {
    host,
    port,
    username,
    trustedHostKeys: trusted,
    ...credentialsFound,
    trustSource: `the key recorded for it in ${knownHostsFile}`,
    label: `${username}@${host}`,
    trustHint: `If the host was reinstalled, verify its new fingerprint, update ${knownHostsFile} (ssh-keygen -R ${host}), and try again.`,
    reachHint: `Check that ${host} is up, that sshd listens on port ${port}, and that it is reachable from this computer (VPNs and firewalls can block it).`,
  };
}

/** The private key when it is usable as it is; an ssh-agent for a passphrase-protected one (or when there is no key). */
async function credentials(
  identity: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<{ privateKey?: string; agent?: string }> {
  const agent = agentPath(env);
  if (identity === '')
    throw usageError(
      '--identity is empty.',
      'Pass the private key file that logs you in to that host, or leave --identity out.',
    );
  const keyFile = identity ?? (await defaultIdentity());
  if (!keyFile) {
    if (agent) return { agent };
    throw usageError(
      'No --identity given, no ~/.ssh/id_ed25519, id_ecdsa or id_rsa, and no ssh-agent.',
      'Pass the private key for that host with --identity.',
    );
  }
  const privateKey = await readFile(keyFile, 'utf8').catch(() => {
    throw usageError(
      `Cannot read the private key ${keyFile}.`,
      'Pass the key that logs you in to that host with --identity.',
    );
  });
  const parsed = ssh2.utils.parseKey(privateKey);
  if (!(parsed instanceof Error)) return { privateKey };
  if (/encrypted|passphrase/i.test(parsed.message) && agent) return { agent };
  throw usageError(
    `The key ${keyFile} cannot be used: ${parsed.message}.`,
    'labvm does not ask for passphrases: add the key to your ssh-agent (`ssh-add`), or pass an unencrypted key with --identity.',
  );
}

/** OpenSSH's agent: SSH_AUTH_SOCK, or the Windows service's named pipe. */
export function agentPath(env: NodeJS.ProcessEnv, platform = currentPlatform()): string | undefined {
  if (env.SSH_AUTH_SOCK) return env.SSH_AUTH_SOCK;
  return platform === 'win32' ? '\\\\.\\pipe\\openssh-ssh-agent' : undefined;
}

async function defaultIdentity(): Promise<string | undefined> {
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const file = join(homedir(), '.ssh', name);
    if (
      await readFile(file).then(
        () => true,
        () => false,
      )
    )
      return file;
  }
  return undefined;
}
