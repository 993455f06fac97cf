import ssh2 from 'ssh2'; // CommonJS: `utils` is not a named export under ESM

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/**
 * An OpenSSH ed25519 key pair, generated in-process (no ssh-keygen on the user's machine needed).
 * ssh2 1.17 writes a malformed pair when the public key starts with a zero byte (about 1 in 256: it drops the
 * byte, so the key is 31 bytes long); such a pair is thrown away and generated again.
 */
export function generateEd25519(comment: string): KeyPair {
  for (let attempt = 0; attempt < 16; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    if (isWellFormed(pair.private, pair.public)) return { privateKey: pair.private, publicKey: pair.public };
  }
  throw new Error('could not generate a well-formed ed25519 key pair');
}

function isWellFormed(privateKey: string, publicKey: string): boolean {
  const parsedPrivate = ssh2.utils.parseKey(privateKey);
  const parsedPublic = ssh2.utils.parseKey(publicKey);
  if (parsedPrivate instanceof Error || parsedPublic instanceof Error) return false;
  return parsedPrivate.getPublicSSH().equals(parsedPublic.getPublicSSH());
}
