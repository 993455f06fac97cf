import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { test } from 'node:test';
import ssh2 from 'ssh2';
import { parse } from 'yaml';
import { FAILED_MARKER, INSTALL_SCRIPT_PATH, NETWORK_CONFIG_PATH, PROVISIONED_MARKER } from '../../src/vm/vm-paths.js';
import {
  REDACTED_HOST_PRIVATE_KEY,
  networkConfig,
  renderUserData,
  templateDir,
  type UserDataInput,
  type VmNetwork,
} from '../../src/vm/cloud-init.js';
import { builtInDefaults } from '../../src/core/defaults.js';
import { generateEd25519 } from '../../src/vm/keys.js';

/** The parts of the rendered cloud-config these tests read. */
interface CloudConfig {
  ssh_authorized_keys: string[];
  users?: unknown;
  ssh_keys: Record<string, string>;
  ssh_deletekeys: boolean;
  ssh_genkeytypes: string[];
  package_update: boolean;
  package_upgrade: boolean;
  groups: string[];
  write_files: Array<{ path: string; permissions: string; content: string }>;
  runcmd: string[][];
  ca_certs?: { trusted: string[] };
}

const PREPARE_HINT = "run `bash scripts/test-host/prepare.sh` to install the test host's tools";

/** The network settings of a VM made with labvm's built-in values. */
const BUILT_IN_NETWORK: VmNetwork = {
  dockerRepository: builtInDefaults.dockerRepository,
  dockerKeyFingerprint: builtInDefaults.dockerKeyFingerprint,
  httpProxy: '',
  httpsProxy: '',
  noProxy: '',
  caCertificates: [],
};

function keys(network: Partial<VmNetwork> = {}): UserDataInput & { clientPrivateKey: string } {
  const client = generateEd25519('labvm test client');
  return {
    clientPublicKey: client.publicKey,
    clientPrivateKey: client.privateKey,
    hostKey: generateEd25519('labvm test host'),
    network: { ...BUILT_IN_NETWORK, ...network },
  };
}

function scriptPath(): string {
  return join(templateDir(), 'install-docker.sh');
}

// The base64 lines between the BEGIN and END lines of an OpenSSH private key.
function privateBody(privateKey: string): string[] {
  return privateKey.split('\n').filter((line) => line !== '' && !line.startsWith('-----'));
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'labvm-cloud-init-test-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeExecutable(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o755 });
  chmodSync(path, 0o755);
}

// Stand-ins for tools the skip path and a refused key must never reach: each logs its call and fails.
function writeForbiddenStubs(dir: string, callLog: string, names: string[]): void {
  for (const name of names) {
    writeExecutable(
      join(dir, name),
      `#!/bin/sh\necho "${name} $*" >>'${callLog}'\necho "STUB ${name} MUST NOT BE CALLED: $*" >&2\nexit 97\n`,
    );
  }
}

function which(tool: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  assert.ok(found.status === 0 && isAbsolute(path), `${tool} is not installed: ${PREPARE_HINT}`);
  return path;
}

test('templateDir finds the project cloud-init folder', () => {
  const dir = templateDir();
  assert.ok(isAbsolute(dir));
  assert.ok(existsSync(join(dir, 'user-data.yaml')));
  assert.ok(existsSync(join(dir, 'install-docker.sh')));
});

test('rendered user-data has the keys, host key pair, docker group and embedded script', () => {
  const input = keys();
  const { text } = renderUserData(input);
  assert.ok(text.startsWith('#cloud-config\n'));
  const data = parse(text) as CloudConfig;

  assert.deepEqual(data.ssh_authorized_keys, [input.clientPublicKey]);
  assert.equal(data.users, undefined, 'keys go through ssh_authorized_keys, not a users: entry');
  assert.equal(data.ssh_keys.ed25519_private, input.hostKey.privateKey.trim() + '\n');
  assert.equal(data.ssh_keys.ed25519_public, input.hostKey.publicKey);
  assert.deepEqual(Object.keys(data.ssh_keys).sort(), ['ed25519_private', 'ed25519_public']);
  assert.equal(data.ssh_deletekeys, true);
  assert.deepEqual(data.ssh_genkeytypes, ['ed25519']);
  assert.equal(data.package_update, false);
  assert.equal(data.package_upgrade, false);
  assert.deepEqual(data.groups, ['docker']);

  const file = data.write_files.find((f) => f.path === INSTALL_SCRIPT_PATH);
  assert.ok(file, `write_files has ${INSTALL_SCRIPT_PATH}`);
  assert.equal(file.permissions, '0755');
  assert.equal(file.content, readFileSync(scriptPath(), 'utf8'), 'the script is embedded verbatim');
  const settings = data.write_files.find((f) => f.path === NETWORK_CONFIG_PATH);
  assert.ok(settings, `write_files has ${NETWORK_CONFIG_PATH}`);
  assert.equal(settings.permissions, '0600', 'root-only: a proxy URL may hold a password');
  assert.equal(settings.content, networkConfig(input.network));
  assert.equal(data.ca_certs, undefined, 'no ca_certs without certificates (cloud-init refuses an empty list)');

  const runcmd = JSON.stringify(data.runcmd);
  const steps = [
    `${INSTALL_SCRIPT_PATH} ${NETWORK_CONFIG_PATH} ${FAILED_MARKER}`,
    'usermod -aG docker ubuntu',
    'systemctl enable --now docker',
    PROVISIONED_MARKER,
  ];
  const positions = steps.map((step) => runcmd.indexOf(step));
  assert.ok(
    positions.every((p) => p >= 0),
    `runcmd has every step: ${runcmd}`,
  );
  assert.deepEqual(
    [...positions].sort((a, b) => a - b),
    positions,
    'install, group, service, then marker',
  );
  assert.match(runcmd, /if \[ -d \/run\/systemd\/system \]; then systemctl enable --now docker; fi/);
});

test('redacted user-data has no private key material but keeps the public parts', () => {
  const input = keys();
  const { text, redacted } = renderUserData(input);
  const body = privateBody(input.hostKey.privateKey);
  assert.ok(body.length > 0);
  for (const line of body) {
    assert.ok(text.includes(line), 'the real user-data does carry the private key');
    assert.ok(!redacted.includes(line), 'a line of the private key leaked into the redacted text');
  }
  assert.ok(!redacted.includes(body.join('')));
  assert.ok(!redacted.includes('PRIVATE KEY-----'));

  const data = parse(redacted) as CloudConfig;
  assert.equal(data.ssh_keys.ed25519_private, REDACTED_HOST_PRIVATE_KEY);
  assert.equal(data.ssh_keys.ed25519_public, input.hostKey.publicKey);
  assert.deepEqual(data.ssh_authorized_keys, [input.clientPublicKey]);
  // Apart from that one value, the two texts are the same.
  assert.equal(
    redacted.replace(REDACTED_HOST_PRIVATE_KEY, 'X'),
    text.replace(/ed25519_private: \|\n(?: {4}.*\n)+/, 'ed25519_private: "X"\n'),
  );
});

test('bad inputs are refused with a clear error', () => {
  const good = keys();
  const rsa = ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 });
  const other = { public: generateEd25519('other').publicKey };
  const encrypted = ssh2.utils.generateKeyPairSync('ed25519', {
    passphrase: 'secret',
    cipher: 'aes256-ctr',
    rounds: 4,
  });
  const cases: Array<[string, UserDataInput, RegExp]> = [
    [
      'empty client key',
      { ...good, clientPublicKey: '' },
      /clientPublicKey must be one OpenSSH ed25519 public key line/,
    ],
    ['rsa client key', { ...good, clientPublicKey: rsa.public }, /clientPublicKey must be one OpenSSH ed25519/],
    ['private key as client key', { ...good, clientPublicKey: good.clientPrivateKey }, /clientPublicKey must be one/],
    [
      'two lines',
      { ...good, clientPublicKey: `${good.clientPublicKey}\n${other.public}` },
      /clientPublicKey must be one/,
    ],
    ['bad base64', { ...good, clientPublicKey: 'ssh-ed25519 AAAAnot-base64!' }, /clientPublicKey must be one/],
    [
      'public key as private',
      { ...good, hostKey: { ...good.hostKey, privateKey: good.hostKey.publicKey } },
      /hostKey.privateKey must be an OpenSSH private key block/,
    ],
    [
      'PEM private key',
      { ...good, hostKey: { ...good.hostKey, privateKey: rsa.private.replace(/OPENSSH /g, 'RSA ') } },
      /hostKey.privateKey must be an OpenSSH private key block/,
    ],
    [
      'rsa host key',
      { ...good, hostKey: { privateKey: rsa.private, publicKey: good.hostKey.publicKey } },
      /hostKey.privateKey must be an ed25519 private key/,
    ],
    [
      'encrypted host key',
      { ...good, hostKey: { privateKey: encrypted.private, publicKey: encrypted.public } },
      /could not be read as an unencrypted key/,
    ],
    [
      'mismatched pair',
      { ...good, hostKey: { privateKey: good.hostKey.privateKey, publicKey: other.public } },
      /does not belong to hostKey.privateKey/,
    ],
    [
      'missing host key',
      { clientPublicKey: good.clientPublicKey } as unknown as UserDataInput,
      /hostKey must be an object/,
    ],
  ];
  const leaked = [...privateBody(good.clientPrivateKey), ...privateBody(good.hostKey.privateKey)];
  for (const [name, input, message] of cases) {
    assert.throws(
      () => renderUserData(input),
      (err: Error) => {
        assert.match(err.message, message, name);
        // Messages never quote what was passed: it may be private key material.
        assert.ok(!leaked.some((line) => err.message.includes(line)), `${name}: the message quotes a key`);
        return true;
      },
      name,
    );
  }
});

test('rendered user-data passes the real `cloud-init schema`', () => {
  const found = spawnSync('cloud-init', ['--version'], { encoding: 'utf8' });
  assert.ok(!found.error, `cloud-init is not installed (${found.error?.message}): ${PREPARE_HINT}`);
  const { text } = renderUserData(keys());
  withTempDir((dir) => {
    const file = join(dir, 'user-data.yaml');
    writeFileSync(file, text, { mode: 0o600 }); // it holds a private key
    const result = spawnSync('cloud-init', ['schema', '--config-file', file], { encoding: 'utf8' });
    assert.equal(result.status, 0, `cloud-init schema rejected the user-data:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /Valid cloud-config/);
  });
});

test('install-docker.sh and the runcmd script are valid sh', () => {
  const checked = spawnSync('sh', ['-n', scriptPath()], { encoding: 'utf8' });
  assert.equal(checked.status, 0, checked.stderr);
  const { runcmd } = parse(renderUserData(keys()).text) as CloudConfig;
  for (const entry of runcmd) {
    const script = entry.at(-1)!;
    const result = spawnSync('sh', ['-n', '-c', script], { encoding: 'utf8' });
    assert.equal(result.status, 0, `${script}\n${result.stderr}`);
  }
});

/** Runs install-docker.sh with the built-in network settings (no proxy: it writes nothing under /etc before apt). */
function runScript(dir: string, env: NodeJS.ProcessEnv, network: Partial<VmNetwork> = {}) {
  const config = join(dir, 'network.env');
  const marker = join(dir, 'state', 'failed');
  writeFileSync(config, networkConfig({ ...BUILT_IN_NETWORK, ...network }));
  const result = spawnSync(which('sh'), [scriptPath(), config, marker], { encoding: 'utf8', env });
  return { ...result, failure: existsSync(marker) ? readFileSync(marker, 'utf8') : undefined };
}

test('install-docker.sh skips the install when docker is already there, without apt-get or curl', () => {
  withTempDir((dir) => {
    const callLog = join(dir, 'calls.log');
    writeExecutable(join(dir, 'docker'), '#!/bin/sh\necho "Docker version 99.0.0, build stub"\n');
    writeForbiddenStubs(dir, callLog, ['apt-get', 'apt', 'curl', 'gpg']);
    const result = runScript(dir, { ...process.env, PATH: `${dir}${delimiter}${process.env.PATH ?? ''}` });
    assert.equal(result.status, 0, `exit ${result.status}\n${result.stdout}\n${result.stderr}`);
    assert.match(
      result.stdout,
      /^labvm: Docker is already installed \(Docker version 99\.0\.0, build stub\); skipping the install$/m,
    );
    assert.ok(
      !existsSync(callLog),
      `the skip path called: ${existsSync(callLog) ? readFileSync(callLog, 'utf8') : ''}`,
    );
    assert.equal(result.stderr, '');
    assert.equal(result.failure, undefined, 'no failure marker');
  });
});

// A throwaway key made for this test with gpg (fingerprint CAD2 51E3 D797 D6CE 0400 BB90 6F49 9406 2F82 A858).
const NOT_DOCKERS_KEY = `-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEawudSxYJKwYBBAHaRw8BAQdA40LExTyrFr91ndaLMNJwhB7A67+3uf9LQpWp
S6qChne0MGxhYnZtIHRlc3Qga2V5IChub3QgRG9ja2VyKSA8dGVzdEBsYWJ2bS5p
bnZhbGlkPoiQBBMWCAA4FiEEytJR49eX1s4EALuQb0mUBi+CqFgFAmsLnUsCGwMF
CwkIBwIGFQoJCAsCBBYCAwECHgECF4AACgkQb0mUBi+CqFjt5QD8C4aqN4T5rTT5
0CYePBKTMlLdLpiNjgUociIXwEl/18sA/1NzNdGsngi38NfB9JK21y5I378giWFo
dXQAwxoVdVYF
=k+UH
-----END PGP PUBLIC KEY BLOCK-----
`;

/**
 * A PATH without docker for the script's download path: the real tools it uses, apt-get stubs that must not run,
 * dpkg answering amd64, and a curl that answers as STUB_* say (body, HTTP code, CONNECT code, exit, message).
 */
function downloadPath(dir: string): { bin: string; callLog: string } {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const tools = ['gpg', 'awk', 'mktemp', 'rm', 'tr', 'sed', 'grep', 'mkdir', 'dirname', 'cat', 'tail', 'sleep'];
  for (const tool of tools) symlinkSync(which(tool), join(bin, tool));
  const callLog = join(dir, 'calls.log');
  writeForbiddenStubs(bin, callLog, ['apt-get', 'apt']);
  writeExecutable(join(bin, 'dpkg'), '#!/bin/sh\necho amd64\n');
  writeExecutable(
    join(bin, 'curl'),
    `#!/bin/sh
echo "curl $*" >>'${callLog}'
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
[ -n "\${STUB_BODY:-}" ] && cat "$STUB_BODY" >"$out"
[ -n "\${STUB_MESSAGE:-}" ] && echo "curl: ($STUB_EXIT) $STUB_MESSAGE" >&2
printf '%s %s' "\${STUB_HTTP:-000}" "\${STUB_CONNECT:-000}"
exit "\${STUB_EXIT:-0}"
`,
  );
  return { bin, callLog };
}

test('install-docker.sh refuses a signing key without the pinned fingerprint, before apt-get', () => {
  withTempDir((dir) => {
    const { bin, callLog } = downloadPath(dir);
    writeFileSync(join(dir, 'key.asc'), NOT_DOCKERS_KEY);
    const result = runScript(dir, { PATH: bin, STUB_BODY: join(dir, 'key.asc'), STUB_HTTP: '200' });
    const calls = existsSync(callLog) ? readFileSync(callLog, 'utf8') : '';
    assert.notEqual(result.status, 0, `a wrong key must fail the install\n${result.stdout}\n${result.stderr}`);
    const line =
      /^labvm: ERROR: https:\/\/download\.docker\.com\/linux\/\w+\/gpg: the key's fingerprint is CAD251E3D797D6CE0400BB906F4994062F82A858, not the expected 9DC858229FC7DD38854AE2D88D81803C0EBFCD88; refusing to trust it; check dockerKeyFingerprint \(and dockerRepository\)$/m;
    assert.match(result.stderr, line);
    assert.equal(result.stderr.match(/labvm: ERROR:/g)?.length, 1, 'exactly one ERROR line');
    assert.match(result.failure ?? '', line, 'the failure marker holds the same line');
    assert.match(calls, /^curl .* https:\/\/download\.docker\.com\/linux\/\w+\/gpg$/m);
    assert.doesNotMatch(calls, /apt/, 'apt must not run after a refused key');
  });
});

test('install-docker.sh names the URL, what failed and the setting to check, at the first attempt', () => {
  const mirror = 'https://mirror.school.example/docker';
  const cases: Array<[string, NodeJS.ProcessEnv, RegExp]> = [
    [
      'a CA missing',
      { STUB_EXIT: '60', STUB_MESSAGE: 'SSL certificate problem: unable to get local issuer certificate' },
      /^labvm: ERROR: https:\/\/mirror\.school\.example\/docker\/linux\/\w+\/gpg: TLS failure \(SSL certificate problem: unable to get local issuer certificate\): .*check caCertificates$/m,
    ],
    [
      'not a Docker repository',
      { STUB_HTTP: '404' },
      /^labvm: ERROR: https:\/\/mirror\.school\.example\/docker\/linux\/\w+\/gpg was not found \(HTTP 404\).*check dockerRepository$/m,
    ],
    [
      'a refusing repository',
      { STUB_EXIT: '7', STUB_MESSAGE: 'Failed to connect to mirror.school.example port 443: Connection refused' },
      /^labvm: ERROR: https:\/\/mirror\.school\.example\/docker\/linux\/\w+\/gpg is unreachable \(Failed to connect .*Connection refused\); check dockerRepository, or set httpsProxy if this network needs a proxy$/m,
    ],
    [
      'a page instead of a key',
      { STUB_HTTP: '200', STUB_BODY: '/etc/hostname' },
      /^labvm: ERROR: https:\/\/mirror\.school\.example\/docker\/linux\/\w+\/gpg is not an OpenPGP key .*check dockerRepository$/m,
    ],
  ];
  for (const [name, stub, line] of cases) {
    withTempDir((dir) => {
      const { bin, callLog } = downloadPath(dir);
      const result = runScript(dir, { PATH: bin, ...stub }, { dockerRepository: mirror });
      assert.equal(result.status, 1, `${name}: ${result.stdout}\n${result.stderr}`);
      assert.match(result.stderr, line, name);
      assert.equal(result.stderr.match(/labvm: ERROR:/g)?.length, 1, `${name}: exactly one ERROR line`);
      assert.equal(result.failure?.trim(), line.exec(result.stderr)?.[0], `${name}: the marker holds the line`);
      assert.equal(readFileSync(callLog, 'utf8').match(/^curl /gm)?.length, 1, `${name}: not retried`);
    });
  }
});
