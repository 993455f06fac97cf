import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { generateEd25519 } from '../../src/vm/keys.js';

describe('generateEd25519', () => {
  it('always gives a pair that parses and matches (ssh2 alone gets about 1 in 256 wrong)', () => {
    // 2,000 pairs: with ssh2's own rate of malformed pairs, a missing check fails here with near certainty.
    for (let i = 0; i < 2000; i++) {
      const pair = generateEd25519('labvm@test');
      const privateKey = ssh2.utils.parseKey(pair.privateKey);
      const publicKey = ssh2.utils.parseKey(pair.publicKey);
      assert.ok(!(privateKey instanceof Error) && !(publicKey instanceof Error), `pair ${i} parses`);
      assert.ok(privateKey.getPublicSSH().equals(publicKey.getPublicSSH()), `pair ${i} matches`);
      assert.equal(publicKey.getPublicSSH().readUInt32BE(15), 32, 'a 32-byte ed25519 public key');
    }
  });

  it('writes the comment and the OpenSSH formats', () => {
    const pair = generateEd25519('labvm@demo');
    assert.match(pair.publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=* labvm@demo$/);
    assert.match(
      pair.privateKey,
      /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+\n-----END OPENSSH PRIVATE KEY-----\n?$/,
    );
  });
});
