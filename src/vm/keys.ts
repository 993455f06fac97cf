import ssh2 from 'ssh2'; // CommonJS: `utils` is not a named export under ESM

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/** An OpenSSH ed25519 key pair, generated in-process (no ssh-keygen on the user's machine needed). */
export function generateEd25519(comment: string): KeyPair {
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment });
  return { privateKey: pair.private, publicKey: pair.public };
}
