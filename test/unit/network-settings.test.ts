import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import { cac } from 'cac';
import { parse } from 'yaml';
import { markValues, optionalText, optionalTexts, withNetworkOptions } from '../../src/cli/options.js';
import { builtInDefaults } from '../../src/core/defaults.js';
import { debug, saveDebugLog } from '../../src/core/debug-log.js';
import {
  REDACTED,
  isLoopbackProxy,
  parseProxyUrl,
  proxySecrets,
  readCaCertificates,
  redactUrl,
  withProxyHost,
} from '../../src/core/network.js';
import { redactSecrets } from '../../src/core/secrets.js';
import { keepProxySecrets, resolveSettings, shownSettings, type Settings } from '../../src/core/settings.js';
import { GATEWAY_PLACEHOLDER, networkConfig, renderUserData, type VmNetwork } from '../../src/vm/cloud-init.js';
import { generateEd25519 } from '../../src/vm/keys.js';
import { ROOT } from '../support/labvm.js';
import { expectLabvmError, expectLabvmRejection, withTempDir } from './helpers.js';

const CA_FILE = join(ROOT, 'test', 'fixtures', 'school-ca.pem');
const NO_HOME = { LABVM_HOME: '/nonexistent-labvm-home' };
const PASSWORD = 's3cr3t-Pa55';
const PROXY_WITH_CREDENTIALS = `http://alice:${PASSWORD}@proxy.school.example:3128`;

const settings = (flags: Parameters<typeof resolveSettings>[0] = {}, env: NodeJS.ProcessEnv = {}, file?: string) =>
  resolveSettings(flags, file, { ...NO_HOME, ...env });

describe('network settings: values', () => {
  it('are built in: Docker repository and key, no proxy, no extra CA', async () => {
    const s = await settings();
    assert.deepEqual(s.dockerRepository, {
      value: 'https://download.docker.com',
      source: 'built-in',
      origin: 'labvm',
    });
    assert.equal(s.dockerKeyFingerprint.value, '9DC858229FC7DD38854AE2D88D81803C0EBFCD88');
    for (const key of ['httpProxy', 'httpsProxy', 'noProxy'] as const) assert.equal(s[key].value, '');
    assert.deepEqual(s.caCertificates.value, []);
  });

  it('are normalized: a trailing slash, a spaced fingerprint, a proxy without its scheme, a spaced list', async () => {
    const s = await settings({
      dockerRepository: 'https://Mirror.School.example/docker/',
      dockerKeyFingerprint: '9dc8 5822 9fc7 dd38 854a  e2d8 8d81 803c 0ebf cd88',
      httpsProxy: 'proxy.school.example:3128',
      noProxy: 'localhost, .school.example  10.0.0.0/8',
    });
    assert.equal(s.dockerRepository.value, 'https://mirror.school.example/docker');
    assert.equal(s.dockerKeyFingerprint.value, '9DC858229FC7DD38854AE2D88D81803C0EBFCD88');
    assert.equal(s.httpsProxy.value, 'http://proxy.school.example:3128');
    assert.equal(s.noProxy.value, 'localhost,.school.example,10.0.0.0/8');
  });

  it("percent-encodes a proxy's credentials so that sh, systemd and apt take them as they are", () => {
    assert.equal(
      parseProxyUrl("http://d'artagnan:p$ss&w!rd@proxy:3128/", 'httpProxy'),
      'http://d%27artagnan:p%24ss%26w%21rd@proxy:3128',
    );
    assert.equal(parseProxyUrl('http://a%40b:c@proxy:8080', 'httpProxy'), 'http://a%40b:c@proxy:8080');
    assert.equal(parseProxyUrl('NONE', 'httpProxy'), '', '"none" is no proxy');
  });

  const bad: Array<[string, Parameters<typeof resolveSettings>[0], RegExp]> = [
    ['a repository that is no URL', { dockerRepository: 'not a url' }, /dockerRepository \(--docker-repository\)/],
    ['an ftp repository', { dockerRepository: 'ftp://mirror/docker' }, /must be an https:\/\/ or http:\/\/ URL/],
    ['a repository with a query', { dockerRepository: 'https://mirror/docker?x=1' }, /has a query or fragment/],
    [
      'a repository with credentials',
      { dockerRepository: `https://bob:${PASSWORD}@mirror/docker` },
      /dockerRepository \(--docker-repository\) holds credentials/,
    ],
    ['a short key ID', { dockerKeyFingerprint: '0EBFCD88' }, /is not a full key fingerprint/],
    ['a socks proxy', { httpsProxy: 'socks5://proxy:1080' }, /must be an http:\/\/ proxy URL/],
    [
      'a proxy with a path',
      { httpProxy: `http://alice:${PASSWORD}@proxy:3128/path` },
      /must be only a proxy's address/,
    ],
    [
      'a bad no-proxy entry',
      { noProxy: 'localhost,$(reboot)' },
      /noProxy \(--no-proxy\) has an entry .*"\$\(reboot\)"/,
    ],
  ];
  for (const [name, flags, message] of bad) {
    it(`refuses ${name} with exit 2, naming the setting and never the password`, async () => {
      const error = await expectLabvmRejection(settings(flags), 'usage', message);
      assert.ok(!`${error.message} ${error.hint}`.includes(PASSWORD), error.message);
    });
  }

  it('names the variable or the file and key of a bad value', async () => {
    await expectLabvmRejection(
      settings({}, { LABVM_HTTPS_PROXY: 'socks5://x:1' }),
      'usage',
      /httpsProxy \(LABVM_HTTPS_PROXY\)/,
    );
    // This computer's variable is checked like the others: the message says which one to fix.
    await expectLabvmRejection(settings({}, { HTTPS_PROXY: 'ftp://x' }), 'usage', /httpsProxy \(HTTPS_PROXY\)/);
    await withTempDir(async (dir) => {
      const file = join(dir, 'config.json');
      await writeFile(file, JSON.stringify({ dockerKeyFingerprint: 'abc' }));
      const error = await expectLabvmRejection(
        settings({}, {}, file),
        'usage',
        /has a bad value for "dockerKeyFingerprint"/,
      );
      assert.match(error.hint ?? '', /"dockerKeyFingerprint": "9DC8/);
      await writeFile(file, JSON.stringify({ httpsProxy: 'socks5://p:1' }));
      const proxy = await expectLabvmRejection(settings({}, {}, file), 'usage', /"httpsProxy"/);
      assert.match(proxy.hint ?? '', /"httpsProxy": "http:\/\/proxy\.school\.example:3128"/);
    });
  });
});

describe('network settings: precedence flag > LABVM_ variable > config file > this computer > built-in', () => {
  it('each layer wins over the ones below it and says where the value came from', async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, 'config.json');
      await writeFile(
        file,
        JSON.stringify({ httpProxy: 'http://file-proxy:3128', httpsProxy: 'http://file-proxy:3128', noProxy: '.file' }),
      );
      const laptop = { http_proxy: 'http://laptop:1', HTTPS_PROXY: 'http://laptop:2', NO_PROXY: '.laptop' };
      const s = await settings(
        { httpProxy: 'http://flag-proxy:3128' },
        { ...laptop, LABVM_HTTPS_PROXY: 'http://env-proxy:3128' },
        file,
      );
      assert.deepEqual(s.httpProxy, { value: 'http://flag-proxy:3128', source: 'flag', origin: '--http-proxy' });
      assert.deepEqual(s.httpsProxy, { value: 'http://env-proxy:3128', source: 'env', origin: 'LABVM_HTTPS_PROXY' });
      assert.deepEqual(s.noProxy, { value: '.file', source: 'file', origin: file });
    });
  });

  it("takes this computer's proxies when nothing else sets them, lower case first", async () => {
    const s = await settings(
      {},
      {
        http_proxy: 'http://lower:1',
        HTTP_PROXY: 'http://upper:1',
        HTTPS_PROXY: 'http://upper:2',
        no_proxy: '.school',
      },
    );
    assert.deepEqual(s.httpProxy, { value: 'http://lower:1', source: 'env', origin: 'http_proxy' });
    assert.deepEqual(s.httpsProxy, { value: 'http://upper:2', source: 'env', origin: 'HTTPS_PROXY' });
    assert.deepEqual(s.noProxy, { value: '.school', source: 'env', origin: 'no_proxy' });
  });

  it('"none" turns a proxy off even when this computer has one', async () => {
    const s = await settings({ httpsProxy: 'none' }, { HTTPS_PROXY: 'http://laptop:2' });
    assert.deepEqual(s.httpsProxy, { value: '', source: 'flag', origin: '--https-proxy' });
  });
});

describe('network settings: CA certificates', () => {
  it('come from a repeated flag, a variable with the path delimiter, or a file list relative to the file', async () => {
    await withTempDir(async (dir) => {
      const second = join(dir, 'second.pem');
      await writeFile(second, await readFile(CA_FILE));
      const flags = await settings({ caCertificates: [CA_FILE, second] });
      assert.deepEqual(flags.caCertificates, { value: [CA_FILE, second], source: 'flag', origin: '--ca-certificate' });
      const env = await settings({}, { LABVM_CA_CERTIFICATES: `${CA_FILE}${delimiter}${second}` });
      assert.deepEqual(env.caCertificates.value, [CA_FILE, second]);
      assert.equal(env.caCertificates.origin, 'LABVM_CA_CERTIFICATES');
      await mkdir(join(dir, 'class'));
      const file = join(dir, 'class', 'config.json');
      await writeFile(join(dir, 'class', 'school-ca.pem'), await readFile(CA_FILE));
      await writeFile(file, JSON.stringify({ caCertificates: ['school-ca.pem'] }));
      const fromFile = await settings({}, {}, file);
      assert.deepEqual(fromFile.caCertificates.value, [join(dir, 'class', 'school-ca.pem')]);
    });
  });

  it('refuses, before anything runs, a file that is not a PEM certificate, is missing or is not a list', async () => {
    await withTempDir(async (dir) => {
      const key = join(dir, 'key.pem');
      await writeFile(key, generateEd25519('x').privateKey);
      await expectLabvmRejection(
        settings({ caCertificates: [key] }),
        'usage',
        /caCertificates \(--ca-certificate\) file .*key\.pem is not a PEM certificate/,
      );
      const broken = join(dir, 'broken.pem');
      await writeFile(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
      await expectLabvmRejection(
        settings({ caCertificates: [broken] }),
        'usage',
        /holds a block that is not a valid certificate/,
      );
      await expectLabvmRejection(
        settings({}, { LABVM_CA_CERTIFICATES: join(dir, 'nope.pem') }),
        'usage',
        /caCertificates \(LABVM_CA_CERTIFICATES\) file .*nope\.pem cannot be read/,
      );
      const file = join(dir, 'config.json');
      await writeFile(file, JSON.stringify({ caCertificates: 'school-ca.pem' }));
      await expectLabvmRejection(settings({}, {}, file), 'usage', /expected a list of file paths/);
    });
  });

  it('refuses an expired certificate', () => {
    expectLabvmError(
      () => readCaCertificates([CA_FILE], 'caCertificates', new Date('2200-01-01')),
      'usage',
      /expired on .*labvm test school CA/,
    );
    const [certificate] = readCaCertificates([CA_FILE], 'caCertificates');
    assert.match(certificate!.subject, /CN=labvm test school CA/);
    assert.match(certificate!.pem, /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
  });
});

describe('network settings: credentials never shown', () => {
  it('redactUrl hides user:password in URLs and in a proxy given without its scheme', () => {
    assert.equal(redactUrl(PROXY_WITH_CREDENTIALS), `http://${REDACTED}@proxy.school.example:3128`);
    assert.equal(redactUrl(`alice:${PASSWORD}@proxy:3128`), `${REDACTED}@proxy:3128`);
    assert.equal(
      redactUrl('the proxy http://a:b@p:1 and http://c:d@q:2'),
      `the proxy http://${REDACTED}@p:1 and http://${REDACTED}@q:2`,
    );
    assert.equal(
      redactUrl('https://download.docker.com/linux/ubuntu/gpg'),
      'https://download.docker.com/linux/ubuntu/gpg',
    );
  });

  it("doctor's settings list shows proxies redacted", async () => {
    const s = await settings({ httpsProxy: PROXY_WITH_CREDENTIALS });
    const shown = shownSettings(s).find((setting) => setting.key === 'httpsProxy');
    assert.equal(shown?.value, `http://${REDACTED}@proxy.school.example:3128`);
    assert.ok(!JSON.stringify(shownSettings(s)).includes(PASSWORD));
  });

  it('the debug log and messages lose the credentials once they are known, in any form', async () => {
    const encoded = 'http://alice:p%40ss%21w0rd@proxy:3128';
    assert.deepEqual(
      proxySecrets(encoded).sort(),
      ['alice:p%40ss%21w0rd', 'alice:p@ss!w0rd', 'p%40ss%21w0rd', 'p@ss!w0rd'].sort(),
    );
    keepProxySecrets({ httpProxy: { value: encoded }, httpsProxy: { value: '' } } as unknown as Settings);
    assert.equal(redactSecrets('curl said p@ss!w0rd and alice:p%40ss%21w0rd'), `curl said ${REDACTED} and ${REDACTED}`);
    await withTempDir(async (dir) => {
      debug('test', 'apt: 407 for alice:p@ss!w0rd');
      const log = await readFile((await saveDebugLog(dir, 'unit'))!, 'utf8');
      assert.match(log, new RegExp(`apt: 407 for ${REDACTED}`));
      assert.ok(!log.includes('p@ss!w0rd'));
    });
  });
});

describe('network settings: a proxy on the loopback', () => {
  it('is recognised by its host, whatever the port and credentials', () => {
    for (const url of ['http://127.0.0.1:3128', 'http://localhost:8080', 'http://[::1]:3128', 'http://a:b@127.0.0.2:1'])
      assert.ok(isLoopbackProxy(url), url);
    for (const url of ['', 'http://proxy:3128', 'http://10.0.0.1:3128', 'http://localhost.school:1'])
      assert.ok(!isLoopbackProxy(url), url);
  });

  it('goes into the VM with the gateway placeholder as its host, credentials and port kept', () => {
    assert.equal(withProxyHost('http://a:b@127.0.0.1:3128', GATEWAY_PLACEHOLDER), 'http://a:b@{gateway}:3128');
    const config = networkConfig({
      ...network(),
      httpProxy: 'http://localhost:3128',
      httpsProxy: 'http://a:b@[::1]:8443',
    });
    assert.match(config, /^LABVM_HTTP_PROXY='http:\/\/\{gateway\}:3128'$/m);
    assert.match(config, /^LABVM_HTTPS_PROXY='http:\/\/a:b@\{gateway\}:8443'$/m);
  });
});

function network(overrides: Partial<VmNetwork> = {}): VmNetwork {
  return {
    dockerRepository: builtInDefaults.dockerRepository,
    dockerKeyFingerprint: builtInDefaults.dockerKeyFingerprint,
    httpProxy: '',
    httpsProxy: '',
    noProxy: '',
    caCertificates: [],
    ...overrides,
  };
}

describe('network settings: the user-data', () => {
  const render = (overrides: Partial<VmNetwork>) =>
    renderUserData({
      clientPublicKey: generateEd25519('client').publicKey,
      hostKey: generateEd25519('host'),
      network: network(overrides),
    });
  const withEverything = () =>
    render({
      dockerRepository: 'https://mirror.school.example/docker',
      dockerKeyFingerprint: 'CAD251E3D797D6CE0400BB906F4994062F82A858',
      httpProxy: PROXY_WITH_CREDENTIALS,
      httpsProxy: PROXY_WITH_CREDENTIALS,
      noProxy: 'localhost,.school.example',
      caCertificates: readCaCertificates([CA_FILE, CA_FILE], 'caCertificates'),
    });

  it('carries every setting into the root-only settings file and the certificates into ca_certs', () => {
    const data = parse(withEverything().text) as {
      write_files: Array<{ path: string; content: string; permissions: string }>;
      ca_certs: { trusted: string[] };
    };
    const file = data.write_files.find((f) => f.path === '/etc/labvm/network.env')!;
    assert.equal(file.permissions, '0600');
    assert.equal(
      file.content,
      [
        "LABVM_DOCKER_REPOSITORY='https://mirror.school.example/docker'",
        "LABVM_DOCKER_KEY_FINGERPRINT='CAD251E3D797D6CE0400BB906F4994062F82A858'",
        `LABVM_HTTP_PROXY='${PROXY_WITH_CREDENTIALS}'`,
        `LABVM_HTTPS_PROXY='${PROXY_WITH_CREDENTIALS}'`,
        "LABVM_NO_PROXY='localhost,.school.example'",
        '',
      ].join('\n'),
    );
    const pem = readCaCertificates([CA_FILE], 'caCertificates')[0]!.pem;
    assert.deepEqual(data.ca_certs.trusted, [pem, pem]);
  });

  it('--print-cloud-init shows the settings with the credentials redacted, and nothing else differs', () => {
    const { text, redacted } = withEverything();
    assert.ok(text.includes(PASSWORD));
    assert.ok(!redacted.includes(PASSWORD), 'the password leaked into the redacted user-data');
    assert.ok(!redacted.includes('alice'), 'the user name leaked into the redacted user-data');
    assert.match(redacted, new RegExp(`LABVM_HTTPS_PROXY='http://${REDACTED}@proxy\\.school\\.example:3128'`));
  });

  it('passes the real `cloud-init schema` with certificates and proxies', async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, 'user-data.yaml');
      await writeFile(file, withEverything().text, { mode: 0o600 });
      const result = spawnSync('cloud-init', ['schema', '--config-file', file], { encoding: 'utf8' });
      assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    });
  });
});

describe('network settings: flags', () => {
  /** A cac program with the network flags, parsed the way the CLI parses (values marked first). */
  function parseFlags(args: string[]) {
    const cli = cac('labvm');
    withNetworkOptions(cli.command('up'));
    const values = new Set(cli.commands.flatMap((c) => c.options.filter((o) => !o.isBoolean).flatMap((o) => o.names)));
    return cli.parse(markValues(['node', 'labvm', 'up', ...args], values), { run: false }).options;
  }

  it('--no-proxy takes a list (not the negation of --proxy), with a space or an =', () => {
    assert.equal(
      optionalText(parseFlags(['--no-proxy', 'localhost,.school']), 'noProxy', '--no-proxy'),
      'localhost,.school',
    );
    assert.equal(optionalText(parseFlags(['--no-proxy=.school']), 'noProxy', '--no-proxy'), '.school');
    assert.equal(parseFlags([]).noProxy, undefined, 'absent unless given');
  });

  it('--ca-certificate is repeatable, and every value is kept in order', () => {
    const raw = parseFlags(['--ca-certificate', 'a.pem', '--https-proxy', 'http://p:1', '--ca-certificate=b.pem']);
    assert.deepEqual(optionalTexts(raw, 'caCertificate', '--ca-certificate'), ['a.pem', 'b.pem']);
    assert.equal(optionalTexts(parseFlags([]), 'caCertificate', '--ca-certificate'), undefined);
  });
});
