import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { agentPath, hostTarget } from '../../src/remote/host-target.js';
import { RemoteHost, hostKeyAlgorithms } from '../../src/remote/ssh.js';
import { generateEd25519 } from '../../src/vm/keys.js';
import { expectLabvmRejection, withTempDir } from './helpers.js';

/** The raw blob of a freshly generated public key, as known_hosts would hold it. */
function blob(type: 'ed25519' | 'ecdsa' | 'rsa'): Buffer {
  const pair =
    type === 'ecdsa'
      ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 })
      : type === 'rsa'
        ? ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 })
        : ssh2.utils.generateKeyPairSync('ed25519');
  return Buffer.from(pair.public.split(' ')[1]!, 'base64');
}

describe('hostKeyAlgorithms', () => {
  it('asks for the type of each trusted key, so an ECDSA-only known_hosts entry can match', () => {
    assert.deepEqual(hostKeyAlgorithms([blob('ecdsa')]), ['ecdsa-sha2-nistp256']);
    assert.deepEqual(hostKeyAlgorithms([blob('ed25519')]), ['ssh-ed25519']);
  });

  it('asks for SHA-2 signatures first for an RSA key, and lists each type once', () => {
    const rsa = blob('rsa');
    assert.deepEqual(hostKeyAlgorithms([rsa, rsa, blob('ecdsa')]), [
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ecdsa-sha2-nistp256',
    ]);
  });
});

describe('agentPath', () => {
  it('uses SSH_AUTH_SOCK, else the Windows OpenSSH agent pipe, else none', () => {
    assert.equal(agentPath({ SSH_AUTH_SOCK: '/tmp/agent.sock' }, 'linux'), '/tmp/agent.sock');
    assert.equal(agentPath({}, 'win32'), '\\\\.\\pipe\\openssh-ssh-agent');
    assert.equal(agentPath({}, 'darwin'), undefined);
  });
});

describe('an unreachable --host', () => {
  it("is reported with a next step about that host, not about labvm's VM", async () => {
    await withTempDir(async (home) => {
      const port = await closedPort();
      await mkdir(join(home, '.ssh'));
      await writeFile(join(home, '.ssh', 'known_hosts'), `[127.0.0.1]:${port} ${generateEd25519('host').publicKey}\n`);
      await writeFile(join(home, 'id'), generateEd25519('me').privateKey, { mode: 0o600 });
      const savedHome = process.env.HOME;
      process.env.HOME = home;
      try {
        const target = await hostTarget(`me@127.0.0.1:${port}`, join(home, 'id'), {});
        const error = await expectLabvmRejection(
          RemoteHost.connect(target, 5_000),
          'vm',
          /could not connect over SSH to 127\.0\.0\.1/,
        );
        assert.doesNotMatch(error.hint ?? '', /labvm status/);
        assert.match(error.hint ?? '', new RegExp(`127\\.0\\.0\\.1 is up, that sshd listens on port ${port}`));
        assert.match(
          String((error.cause as NodeJS.ErrnoException).code),
          /ECONNREFUSED/,
          'the socket error is kept as the cause',
        );
      } finally {
        process.env.HOME = savedHome;
      }
    });
  });
});

/** A local port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
