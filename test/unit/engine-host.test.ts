import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { engineIsolation, missingCapabilities } from '../../src/lab/engine-host.js';
import { parseHttpResponse } from '../../src/remote/http-response.js';

describe('missingCapabilities', () => {
  it('names what a bounding set lacks: CAP_SYS_RESOURCE (bit 24) in a sandbox', () => {
    assert.deepEqual(missingCapabilities('000001fffeffffff'), ['SYS_RESOURCE']);
  });

  it('nothing for a full set, everything for an empty one', () => {
    assert.deepEqual(missingCapabilities('000001ffffffffff'), []);
    assert.equal(missingCapabilities('0000000000000000').length, 41);
    assert.ok(missingCapabilities('0000003fffffffff').includes('CHECKPOINT_RESTORE'));
  });
});

describe('engineIsolation', () => {
  it('reads rootless and userns-remapped engines from SecurityOptions', () => {
    assert.equal(engineIsolation(['name=seccomp,profile=builtin', 'name=rootless', 'name=cgroupns']), 'rootless');
    assert.equal(engineIsolation(['name=apparmor', 'name=userns']), 'userns');
    assert.equal(engineIsolation(['name=apparmor', 'name=seccomp,profile=default']), 'rootful');
    assert.equal(engineIsolation([]), 'rootful');
  });
});

describe('parseHttpResponse', () => {
  it('reads a raw response', () => {
    const answer = parseHttpResponse('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\r\n<html>');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.server, 'nginx/1.22.1');
    assert.equal(answer.body, '<html>');
  });

  it('reads BusyBox wget -S output (indented, on stderr)', () => {
    const answer = parseHttpResponse('  HTTP/1.1 404 Not Found\n  Server: nginx\n  Connection: close\n');
    assert.equal(answer.status, 404);
    assert.equal(answer.headers.server, 'nginx');
  });

  it('no status line is status 0', () => {
    assert.equal(parseHttpResponse('').status, 0);
  });
});
