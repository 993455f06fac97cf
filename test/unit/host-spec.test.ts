import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHostSpec } from '../../src/remote/host-target.js';
import { expectLabvmError } from './helpers.js';

describe('parseHostSpec', () => {
  const accepted: Array<[string, { username: string; host: string; port: number }]> = [
    ['ubuntu@10.0.0.5', { username: 'ubuntu', host: '10.0.0.5', port: 22 }],
    ['me@host:2222', { username: 'me', host: 'host', port: 2222 }],
    ['me@[fe80::1]:2200', { username: 'me', host: 'fe80::1', port: 2200 }],
    ['me@[fe80::1]', { username: 'me', host: 'fe80::1', port: 22 }],
    ['me@[10.0.0.5]:22', { username: 'me', host: '10.0.0.5', port: 22 }],
    ['first.last@vm.lab.example:65535', { username: 'first.last', host: 'vm.lab.example', port: 65535 }],
    ['me@host:1', { username: 'me', host: 'host', port: 1 }],
  ];
  for (const [spec, expected] of accepted) {
    it(`reads ${spec}`, () => {
      assert.deepEqual(parseHostSpec(spec), expected);
    });
  }

  for (const [spec, message] of [
    ['host-without-user', /is not of the form user@address\[:port\]/],
    ['@host', /is not of the form/],
    ['me@', /is not of the form/],
    ['me@host:', /is not of the form/],
    ['me@host:abc', /is not of the form/],
    ['me@host:-1', /is not of the form/],
    ['me@fe80::1', /is not of the form/],
    ['me@host:22:33', /is not of the form/],
    ['me @host', /is not of the form/],
    ['', /is not of the form/],
    ['me@host:0', /has an invalid port/],
    ['me@host:65536', /has an invalid port/],
    ['me@[fe80::1]:99999', /has an invalid port/],
  ] as const) {
    it(`rejects ${JSON.stringify(spec)} as a usage error`, () => {
      const error = expectLabvmError(() => parseHostSpec(spec), 'usage', message);
      assert.ok(error.message.startsWith(`--host "${spec}"`), error.message);
      assert.equal(error.exitCode, 2);
    });
  }
});

describe('parseHostSpec and @ in user names', () => {
  it('splits at the last @, as ssh does', () => {
    assert.deepEqual(parseHostSpec('me@corp@host.example:2200'), {
      username: 'me@corp',
      host: 'host.example',
      port: 2200,
    });
  });
});
