import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { posix, win32 } from 'node:path';
import { describe, it } from 'node:test';
import type { Platform } from '../../src/core/platform.js';
import { resolveDockerEndpoint, type EndpointInputs } from '../../src/remote/docker-endpoint.js';
import { expectLabvmError } from './helpers.js';

/** A stubbed machine: its platform, home, environment and files. */
function machine(
  platform: Platform,
  files: Record<string, string> = {},
  env: NodeJS.ProcessEnv = {},
  context?: string,
): EndpointInputs {
  const home = platform === 'win32' ? 'C:\\Users\\ana' : platform === 'darwin' ? '/Users/ana' : '/home/ana';
  return { platform, home, env, context, readFile: (path) => files[path], exists: (path) => path in files };
}

const sha = (name: string) => createHash('sha256').update(name).digest('hex');
const meta = (name: string, host: string) =>
  JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } });

describe('resolveDockerEndpoint: the platform defaults', () => {
  it('Linux: /var/run/docker.sock', () => {
    const endpoint = resolveDockerEndpoint(machine('linux'));
    assert.equal(endpoint.socketPath, '/var/run/docker.sock');
    assert.equal(endpoint.url, 'unix:///var/run/docker.sock');
    assert.equal(endpoint.source, 'the default socket');
  });

  it("macOS: Docker Desktop's socket in the home folder when it exists, else /var/run/docker.sock", () => {
    const desktop = '/Users/ana/.docker/run/docker.sock';
    assert.equal(resolveDockerEndpoint(machine('darwin', { [desktop]: '' })).socketPath, desktop);
    assert.equal(resolveDockerEndpoint(machine('darwin')).socketPath, '/var/run/docker.sock');
  });

  it('Windows: the docker_engine named pipe', () => {
    const endpoint = resolveDockerEndpoint(machine('win32'));
    assert.equal(endpoint.socketPath, '//./pipe/docker_engine');
    assert.equal(endpoint.url, 'npipe:////./pipe/docker_engine');
  });
});

describe('resolveDockerEndpoint: DOCKER_HOST', () => {
  it('unix:// and npipe:// give a socket path', () => {
    assert.equal(
      resolveDockerEndpoint(machine('linux', {}, { DOCKER_HOST: 'unix:///tmp/d.sock' })).socketPath,
      '/tmp/d.sock',
    );
    const pipe = resolveDockerEndpoint(
      machine('win32', {}, { DOCKER_HOST: 'npipe:////./pipe/dockerDesktopLinuxEngine' }),
    );
    assert.equal(pipe.socketPath, '//./pipe/dockerDesktopLinuxEngine');
    assert.equal(pipe.source, 'DOCKER_HOST');
  });

  it('wins over every context', () => {
    const config = { '/home/ana/.docker/config.json': JSON.stringify({ currentContext: 'colima' }) };
    const endpoint = resolveDockerEndpoint(
      machine('linux', config, { DOCKER_HOST: 'unix:///tmp/d.sock', DOCKER_CONTEXT: 'colima' }, 'colima'),
    );
    assert.equal(endpoint.socketPath, '/tmp/d.sock');
  });

  it('tcp:// with DOCKER_TLS_VERIFY uses the PEM files of DOCKER_CERT_PATH, default port 2376', () => {
    const endpoint = resolveDockerEndpoint(
      machine('linux', {}, { DOCKER_HOST: 'tcp://10.0.0.5', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' }),
    );
    assert.equal(endpoint.host, '10.0.0.5');
    assert.equal(endpoint.port, 2376);
    assert.deepEqual(endpoint.tls, {
      caFile: '/certs/ca.pem',
      certFile: '/certs/cert.pem',
      keyFile: '/certs/key.pem',
      verify: true,
    });
  });

  it('tcp:// TLS files default to ~/.docker, in Windows paths on Windows', () => {
    const endpoint = resolveDockerEndpoint(
      machine('win32', {}, { DOCKER_HOST: 'tcp://vm:2376', DOCKER_TLS_VERIFY: '1' }),
    );
    assert.equal(endpoint.tls?.caFile, win32.join('C:\\Users\\ana', '.docker', 'ca.pem'));
  });

  it('tcp:// without DOCKER_TLS_VERIFY is plain, default port 2375', () => {
    const endpoint = resolveDockerEndpoint(machine('linux', {}, { DOCKER_HOST: 'tcp://127.0.0.1' }));
    assert.equal(endpoint.port, 2375);
    assert.equal(endpoint.tls, undefined);
  });

  it('ssh:// is refused with a hint to --host', () => {
    const error = expectLabvmError(
      () => resolveDockerEndpoint(machine('darwin', {}, { DOCKER_HOST: 'ssh://ana@lab.example:22' })),
      'usage',
      /ssh:\/\/ana@lab\.example:22 \(DOCKER_HOST\)/,
    );
    assert.match(error.hint ?? '', /--host ana@lab\.example:22/);
  });

  it('an unknown scheme is a usage error naming it', () => {
    expectLabvmError(
      () => resolveDockerEndpoint(machine('linux', {}, { DOCKER_HOST: 'fd://' })),
      'usage',
      /"fd:\/\/" \(DOCKER_HOST\)/,
    );
  });
});

describe('resolveDockerEndpoint: contexts', () => {
  const configDir = '/home/ana/.docker';
  const files = {
    [posix.join(configDir, 'contexts', 'meta', sha('colima'), 'meta.json')]: meta(
      'colima',
      'unix:///home/ana/.colima/default/docker.sock',
    ),
    [posix.join(configDir, 'contexts', 'meta', sha('orb'), 'meta.json')]: meta(
      'orb',
      'unix:///home/ana/.orbstack/run/docker.sock',
    ),
  };

  it('--context NAME reads contexts/meta/<sha256 of NAME>/meta.json', () => {
    const endpoint = resolveDockerEndpoint(machine('linux', files, {}, 'colima'));
    assert.equal(endpoint.socketPath, '/home/ana/.colima/default/docker.sock');
    assert.equal(endpoint.source, 'context colima (--context)');
  });

  it('--context wins over DOCKER_CONTEXT, which wins over currentContext', () => {
    const withConfig = {
      ...files,
      [posix.join(configDir, 'config.json')]: JSON.stringify({ currentContext: 'colima' }),
    };
    assert.equal(
      resolveDockerEndpoint(machine('linux', withConfig, { DOCKER_CONTEXT: 'orb' }, 'colima')).source,
      'context colima (--context)',
    );
    assert.equal(
      resolveDockerEndpoint(machine('linux', withConfig, { DOCKER_CONTEXT: 'orb' })).source,
      'context orb (DOCKER_CONTEXT)',
    );
    const current = resolveDockerEndpoint(machine('linux', withConfig));
    assert.equal(current.socketPath, '/home/ana/.colima/default/docker.sock');
    assert.match(current.source, /^context colima \(currentContext in \/home\/ana\/\.docker\/config\.json\)$/);
  });

  it('DOCKER_CONFIG moves the config folder', () => {
    const moved = {
      [posix.join('/cfg', 'contexts', 'meta', sha('x'), 'meta.json')]: meta('x', 'unix:///x.sock'),
      '/cfg/config.json': '{"currentContext":"x"}',
    };
    assert.equal(resolveDockerEndpoint(machine('linux', moved, { DOCKER_CONFIG: '/cfg' })).socketPath, '/x.sock');
  });

  it('the "default" context is the platform default', () => {
    const endpoint = resolveDockerEndpoint(
      machine('win32', { [win32.join('C:\\Users\\ana', '.docker', 'config.json')]: '{"currentContext":"default"}' }),
    );
    assert.equal(endpoint.socketPath, '//./pipe/docker_engine');
  });

  it('a context on Windows is read from the Windows config folder', () => {
    const dir = win32.join('C:\\Users\\ana', '.docker');
    const endpoint = resolveDockerEndpoint(
      machine(
        'win32',
        {
          [win32.join(dir, 'contexts', 'meta', sha('desktop-linux'), 'meta.json')]: meta(
            'desktop-linux',
            'npipe:////./pipe/dockerDesktopLinuxEngine',
          ),
        },
        {},
        'desktop-linux',
      ),
    );
    assert.equal(endpoint.socketPath, '//./pipe/dockerDesktopLinuxEngine');
  });

  it('a context with TLS files uses them, and SkipTLSVerify turns verification off', () => {
    const tlsDir = posix.join(configDir, 'contexts', 'tls', sha('remote'), 'docker');
    const remote = {
      [posix.join(configDir, 'contexts', 'meta', sha('remote'), 'meta.json')]: JSON.stringify({
        Endpoints: { docker: { Host: 'tcp://10.1.1.1:2376', SkipTLSVerify: true } },
      }),
      [posix.join(tlsDir, 'cert.pem')]: 'PEM',
    };
    const endpoint = resolveDockerEndpoint(machine('linux', remote, {}, 'remote'));
    assert.equal(endpoint.tls?.certFile, posix.join(tlsDir, 'cert.pem'));
    assert.equal(endpoint.tls?.verify, false);
  });

  it('an unknown context is a usage error naming the file it looked for', () => {
    const error = expectLabvmError(
      () => resolveDockerEndpoint(machine('darwin', {}, {}, 'nope')),
      'usage',
      /context "nope" \(--context\) does not exist/,
    );
    assert.match(error.message, new RegExp(sha('nope')));
    assert.match(error.hint ?? '', /docker context ls/);
  });

  it('a context whose endpoint is ssh:// is refused like DOCKER_HOST=ssh://', () => {
    const ssh = { [posix.join(configDir, 'contexts', 'meta', sha('far'), 'meta.json')]: meta('far', 'ssh://ana@far') };
    expectLabvmError(
      () => resolveDockerEndpoint(machine('linux', ssh, {}, 'far')),
      'usage',
      /ssh:\/\/ana@far \(context far \(--context\)\)/,
    );
  });

  it('a broken config.json is named', () => {
    expectLabvmError(
      () => resolveDockerEndpoint(machine('linux', { '/home/ana/.docker/config.json': '{' })),
      'usage',
      /config\.json is not valid JSON/,
    );
  });
});
