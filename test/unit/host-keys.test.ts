import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  fingerprint,
  keysFromKnownHosts,
  knownHostsLine,
  knownHostsName,
  publicKeyBlob,
  readKnownHosts,
} from '../../src/remote/host-keys.js';
import { generateEd25519 } from '../../src/vm/keys.js';
import { hasCommand, withTempDir } from './helpers.js';

const sshKeygen = hasCommand('ssh-keygen', ['-?']);
const noSshKeygen = !sshKeygen && 'ssh-keygen is not installed';

/** A key made by ssh-keygen once, with the fingerprint `ssh-keygen -lf` printed for it. */
const FIXED_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM9jiVfqcg4+2M9b80Lv/prrv4PbiL4BgDPk9Fdm2qF2 fixed@labvm';
const FIXED_FINGERPRINT = 'SHA256:ffHdfV63xMm7kdtv/EEWjQAXDVRpLdkbLtR0UETh8UM';

const keyA = generateEd25519('a').publicKey;
const keyB = generateEd25519('b').publicKey;
const keyC = generateEd25519('c').publicKey;
const keyCA = generateEd25519('ca').publicKey;
const base64Of = (publicKey: string) => publicKey.split(' ')[1]!;
const blobOf = (publicKey: string) => Buffer.from(base64Of(publicKey), 'base64');
const entry = (names: string, publicKey: string) => `${names} ssh-ed25519 ${base64Of(publicKey)}`;

/** Which of the keys (by letter) known_hosts content accepts and revokes for host:port. */
function lookUp(content: string, host: string, port = 22): { accepted: string[]; revoked: string[] } {
  const letters: Array<[string, Buffer]> = [
    ['A', blobOf(keyA)],
    ['B', blobOf(keyB)],
    ['C', blobOf(keyC)],
    ['CA', blobOf(keyCA)],
  ];
  const letter = (blob: Buffer) =>
    letters.find(([, known]) => known.equals(blob))?.[0] ?? `unknown(${blob.toString('base64')})`;
  const { accepted, revoked } = keysFromKnownHosts(content, host, port);
  return { accepted: accepted.map(letter), revoked: revoked.map(letter) };
}

/** A hashed known_hosts name, as OpenSSH writes it: |1|base64(salt)|base64(HMAC-SHA1(salt, name)). */
function hashedName(name: string, salt = randomBytes(20)): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('knownHostsName', () => {
  it('is the bare host on port 22 and [host]:port otherwise', () => {
    assert.equal(knownHostsName('10.0.0.5', 22), '10.0.0.5');
    assert.equal(knownHostsName('10.0.0.5', 2222), '[10.0.0.5]:2222');
    assert.equal(knownHostsName('fe80::1', 2200), '[fe80::1]:2200');
  });
});

describe('keysFromKnownHosts', () => {
  const PLAIN = [
    '# labvm test known_hosts',
    '',
    entry('labvm-foo', keyA),
    `  ${entry('other,10.0.0.5,vm.lab.example', keyB)}  # trailing comment`,
    entry('[10.0.0.5]:2222', keyC),
  ].join('\n');

  it('finds a plain name', () => {
    assert.deepEqual(lookUp(PLAIN, 'labvm-foo'), { accepted: ['A'], revoked: [] });
  });

  it('finds each name of a comma list, case-insensitively', () => {
    for (const host of ['other', '10.0.0.5', 'vm.lab.example', 'VM.Lab.Example']) {
      assert.deepEqual(lookUp(PLAIN, host), { accepted: ['B'], revoked: [] }, host);
    }
  });

  it('looks a non-22 port up as [host]:port, and only that way', () => {
    assert.deepEqual(lookUp(PLAIN, '10.0.0.5', 2222), { accepted: ['C'], revoked: [] });
    assert.deepEqual(lookUp(PLAIN, 'labvm-foo', 2222), { accepted: [], revoked: [] });
    assert.deepEqual(lookUp(PLAIN, '10.0.0.5', 22), { accepted: ['B'], revoked: [] });
  });

  it('finds nothing for an unknown host, or one that only resembles a name', () => {
    for (const host of ['10.0.0.50', '10.0.0', 'labvm', 'labvm-foo.lab.example', '10x0x0x5']) {
      assert.deepEqual(lookUp(PLAIN, host), { accepted: [], revoked: [] }, host);
    }
  });

  it('collects every line that names the host', () => {
    const content = [entry('labvm-foo', keyA), entry('labvm-foo,other', keyB)].join('\n');
    assert.deepEqual(lookUp(content, 'labvm-foo'), { accepted: ['A', 'B'], revoked: [] });
  });

  it('reads CRLF line ends', () => {
    assert.deepEqual(lookUp(`${entry('labvm-foo', keyA)}\r\n${entry('other', keyB)}\r\n`, 'other'), {
      accepted: ['B'],
      revoked: [],
    });
  });

  it('matches hashed names (|1|salt|hash) for port 22 and [host]:port', () => {
    const content = [entry(hashedName('10.0.0.5'), keyA), entry(hashedName('[10.0.0.5]:2222'), keyB)].join('\n');
    assert.deepEqual(lookUp(content, '10.0.0.5'), { accepted: ['A'], revoked: [] });
    assert.deepEqual(lookUp(content, '10.0.0.5', 2222), { accepted: ['B'], revoked: [] });
    assert.deepEqual(lookUp(content, '10.0.0.6'), { accepted: [], revoked: [] });
  });

  it('ignores a damaged hashed name', () => {
    assert.deepEqual(lookUp(entry('|1|', keyA), '10.0.0.5'), { accepted: [], revoked: [] });
    assert.deepEqual(lookUp(entry('|1|c2FsdA==', keyA), '10.0.0.5'), { accepted: [], revoked: [] });
  });

  it('matches names hashed by `ssh-keygen -H`', { skip: noSshKeygen }, () =>
    withTempDir(async (dir) => {
      const file = join(dir, 'known_hosts');
      await writeFile(file, `${[entry('labvm-foo,10.0.0.5', keyA), entry('[10.0.0.5]:2222', keyB)].join('\n')}\n`);
      execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
      const hashed = await readKnownHosts(file);
      assert.doesNotMatch(hashed, /labvm-foo|10\.0\.0\.5/, 'ssh-keygen hashed every name');
      assert.equal(hashed.match(/^\|1\|/gm)?.length, 3);
      assert.deepEqual(lookUp(hashed, 'labvm-foo'), { accepted: ['A'], revoked: [] });
      assert.deepEqual(lookUp(hashed, '10.0.0.5'), { accepted: ['A'], revoked: [] });
      assert.deepEqual(lookUp(hashed, '10.0.0.5', 2222), { accepted: ['B'], revoked: [] });
      assert.deepEqual(lookUp(hashed, 'other'), { accepted: [], revoked: [] });
    }),
  );

  it('understands * and ? wildcards', () => {
    const content = [entry('*.lab.example', keyA), entry('10.0.0.?', keyB)].join('\n');
    assert.deepEqual(lookUp(content, 'vm1.lab.example'), { accepted: ['A'], revoked: [] });
    assert.deepEqual(lookUp(content, 'a.b.lab.example'), { accepted: ['A'], revoked: [] });
    assert.deepEqual(lookUp(content, 'lab.example'), { accepted: [], revoked: [] });
    assert.deepEqual(lookUp(content, 'vm1.lab.example.evil'), { accepted: [], revoked: [] });
    assert.deepEqual(lookUp(content, '10.0.0.7'), { accepted: ['B'], revoked: [] });
    assert.deepEqual(lookUp(content, '10.0.0.17'), { accepted: [], revoked: [] });
  });

  it('lets a ! pattern exclude a host the line would otherwise match', () => {
    const content = entry('*.lab.example,!bad.lab.example', keyA);
    assert.deepEqual(lookUp(content, 'good.lab.example'), { accepted: ['A'], revoked: [] });
    assert.deepEqual(lookUp(content, 'bad.lab.example'), { accepted: [], revoked: [] });
    // Negation alone matches nothing, and its order in the list does not matter.
    assert.deepEqual(lookUp(entry('!bad.lab.example', keyA), 'good.lab.example'), { accepted: [], revoked: [] });
    assert.deepEqual(lookUp(entry('!bad.lab.example,*.lab.example', keyA), 'bad.lab.example'), {
      accepted: [],
      revoked: [],
    });
  });

  it('lists @revoked keys apart from the accepted ones', () => {
    const content = [entry('labvm-foo', keyA), entry('labvm-foo', keyB), `@revoked ${entry('*', keyB)}`].join('\n');
    assert.deepEqual(lookUp(content, 'labvm-foo'), { accepted: ['A', 'B'], revoked: ['B'] });
    assert.deepEqual(lookUp(content, 'anything'), { accepted: [], revoked: ['B'] });
  });

  it('ignores @cert-authority lines (labvm does not check host certificates)', () => {
    const content = [`@cert-authority ${entry('*.lab.example', keyCA)}`, entry('vm1.lab.example', keyA)].join('\n');
    assert.deepEqual(lookUp(content, 'vm1.lab.example'), { accepted: ['A'], revoked: [] });
    assert.deepEqual(lookUp(content, 'vm2.lab.example'), { accepted: [], revoked: [] });
  });

  it('skips comments, blank lines and lines without a key', () => {
    const content = [
      `# ${entry('labvm-foo', keyA)}`,
      '   # indented comment',
      '\t',
      'labvm-foo',
      'labvm-foo ssh-ed25519',
      '@revoked labvm-foo ssh-ed25519',
      entry('labvm-foo', keyB),
    ].join('\n');
    assert.deepEqual(lookUp(content, 'labvm-foo'), { accepted: ['B'], revoked: [] });
  });

  it('reads an empty file, and a missing one as empty', () =>
    withTempDir(async (dir) => {
      assert.deepEqual(lookUp('', 'labvm-foo'), { accepted: [], revoked: [] });
      assert.equal(await readKnownHosts(join(dir, 'absent')), '');
    }));
});

describe('publicKeyBlob', () => {
  it('gives the wire-format key, which starts with its type', () => {
    const blob = publicKeyBlob(`${FIXED_KEY}\n`);
    assert.equal(blob.readUInt32BE(0), 11);
    assert.equal(blob.subarray(4, 15).toString(), 'ssh-ed25519');
    assert.equal(blob.length, 4 + 11 + 4 + 32);
    assert.ok(blob.equals(blobOf(FIXED_KEY)));
  });

  it('accepts ecdsa and security-key types', () => {
    assert.doesNotThrow(() => publicKeyBlob(`ecdsa-sha2-nistp256 ${wireKey('ecdsa-sha2-nistp256', 65)}`));
    assert.doesNotThrow(() =>
      publicKeyBlob(`sk-ssh-ed25519@openssh.com ${wireKey('sk-ssh-ed25519@openssh.com', 32)} user@host`),
    );
  });

  for (const garbage of [
    '',
    '   ',
    'hello',
    base64Of(FIXED_KEY),
    'ssh-ed25519',
    `rsa ${base64Of(FIXED_KEY)}`,
    '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----',
    'labvm-foo ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM9jiVfqcg4',
  ]) {
    it(`rejects ${JSON.stringify(garbage.slice(0, 40))}`, () => {
      assert.throws(() => publicKeyBlob(garbage), /not an OpenSSH public key/);
    });
  }

  it('rejects a blob that is not base64', () => {
    assert.throws(() => publicKeyBlob('ssh-ed25519 %%%not-base64%%%'), /not an OpenSSH public key/);
  });

  it("rejects a blob whose own type differs from the line's", () => {
    assert.throws(() => publicKeyBlob(`ssh-rsa ${base64Of(FIXED_KEY)}`), /not an OpenSSH public key/);
    assert.throws(
      () => publicKeyBlob(`ssh-ed25519 ${Buffer.from('just some bytes').toString('base64')}`),
      /not an OpenSSH public key/,
    );
  });
});

/** A syntactically valid wire-format key blob of that type (random key bytes). */
function wireKey(type: string, keyBytes: number): string {
  const field = (data: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, data.length]), data]);
  return Buffer.concat([field(Buffer.from(type)), field(randomBytes(keyBytes))]).toString('base64');
}

describe('fingerprint', () => {
  it('is the SHA256 fingerprint ssh-keygen printed for a fixed key', () => {
    assert.equal(fingerprint(publicKeyBlob(FIXED_KEY)), FIXED_FINGERPRINT);
  });

  it('has no base64 padding', () => {
    assert.match(fingerprint(publicKeyBlob(keyA)), /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('equals `ssh-keygen -lf` for keys labvm and ssh-keygen generate', { skip: noSshKeygen }, () =>
    withTempDir(async (dir) => {
      const files: string[] = [];
      const ours = join(dir, 'labvm.pub');
      await writeFile(ours, `${keyA}\n`);
      files.push(ours);
      for (const type of ['ecdsa', 'rsa', 'ed25519']) {
        const key = join(dir, `id_${type}`);
        execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `test@${type}`, '-f', key], { stdio: 'ignore' });
        files.push(`${key}.pub`);
      }
      for (const file of files) {
        const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' }).split(
          ' ',
        )[1];
        assert.equal(fingerprint(publicKeyBlob(await readFile(file, 'utf8'))), printed, file);
      }
    }),
  );
});

describe('knownHostsLine', () => {
  it("files the key under the alias, without the key's comment", () => {
    assert.equal(
      knownHostsLine('labvm-foo', `${FIXED_KEY}\n`),
      `labvm-foo ${FIXED_KEY.split(' ').slice(0, 2).join(' ')}`,
    );
  });

  it('writes a line that keysFromKnownHosts reads back', () => {
    const line = knownHostsLine('labvm-foo', keyA);
    const { accepted } = keysFromKnownHosts(`${line}\n`, 'labvm-foo');
    assert.equal(accepted.length, 1);
    assert.ok(accepted[0]!.equals(publicKeyBlob(keyA)));
  });

  it('is read the same way by ssh-keygen -F', { skip: noSshKeygen }, () =>
    withTempDir(async (dir) => {
      const file = join(dir, 'known_hosts');
      await writeFile(file, `${knownHostsLine('labvm-foo', FIXED_KEY)}\n`);
      const found = execFileSync('ssh-keygen', ['-F', 'labvm-foo', '-f', file], { encoding: 'utf8' });
      assert.match(
        found,
        /^labvm-foo ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM9jiVfqcg4\+2M9b80Lv\/prrv4PbiL4BgDPk9Fdm2qF2$/m,
      );
    }),
  );

  it('refuses to write something that is not a public key', () => {
    for (const garbage of ['', 'not a key', 'ssh-ed25519']) {
      assert.throws(() => knownHostsLine('labvm-foo', garbage), /not an OpenSSH public key/, JSON.stringify(garbage));
    }
  });
});
