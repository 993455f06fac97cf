import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { agentPath } from '../../src/remote/host-target.js';
import { hostKeyAlgorithms } from '../../src/remote/ssh.js';

/** The raw blob of a freshly generated public key, as known_hosts would hold it. */
function blob(type: 'ed25519' | 'ecdsa' | 'rsa'): Buffer {
  const pair = type === 'ecdsa' ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 })
    : type === 'rsa' ? ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 }) : ssh2.utils.generateKeyPairSync('ed25519');
  return Buffer.from(pair.public.split(' ')[1]!, 'base64');
}

describe('hostKeyAlgorithms', () => {
  it('asks for the type of each trusted key, so an ECDSA-only known_hosts entry can match', () => {
    assert.deepEqual(hostKeyAlgorithms([blob('ecdsa')]), ['ecdsa-sha2-nistp256']);
    assert.deepEqual(hostKeyAlgorithms([blob('ed25519')]), ['ssh-ed25519']);
  });

  it('asks for SHA-2 signatures first for an RSA key, and lists each type once', () => {
    const rsa = blob('rsa');
    assert.deepEqual(hostKeyAlgorithms([rsa, rsa, blob('ecdsa')]), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ecdsa-sha2-nistp256']);
  });
});

describe('agentPath', () => {
  it('uses SSH_AUTH_SOCK, else the Windows OpenSSH agent pipe, else none', () => {
    assert.equal(agentPath({ SSH_AUTH_SOCK: '/tmp/agent.sock' }, 'linux'), '/tmp/agent.sock');
    assert.equal(agentPath({}, 'win32'), '\\\\.\\pipe\\openssh-ssh-agent');
    assert.equal(agentPath({}, 'darwin'), undefined);
  });
});
