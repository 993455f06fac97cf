import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, parsePositiveInteger, parseSize, validateInstanceName } from '../../src/core/validate.js';
import { expectLabvmError } from './helpers.js';

const K = 1024;
const M = 1024 ** 2;
const G = 1024 ** 3;

describe('validateInstanceName (Multipass valid_hostname)', () => {
  for (const name of ['a', 'labvm', 'Lab-2', 'Z', 'x1', 'a-b-c', 'LAB', 'a--b']) {
    it(`accepts "${name}" and returns it`, () => {
      assert.equal(validateInstanceName(name), name);
    });
  }

  for (const name of ['1bad', 'bad-', 'a_b', '', '-x', 'a b', 'a.b', 'ä', 'lab/vm', ' labvm', 'labvm\n']) {
    it(`rejects ${JSON.stringify(name)} as a usage error (exit 2) with a hint`, () => {
      const error = expectLabvmError(() => validateInstanceName(name), 'usage');
      assert.equal(error.exitCode, 2);
      assert.equal(error.message, `Invalid instance name "${name}".`);
      assert.match(error.hint ?? '', /letters, digits and hyphens/);
    });
  }
});

describe('parseSize (Multipass memory_size: binary units, decimals need a unit)', () => {
  const accepted: Array<[string, number]> = [
    ['4G', 4 * G],
    ['1.5G', 1.5 * G],
    ['2GiB', 2 * G],
    ['2GB', 2 * G],
    ['2048M', 2048 * M],
    ['512MB', 512 * M],
    ['512MiB', 512 * M],
    ['1024K', 1024 * K],
    ['4g', 4 * G],
    ['2gib', 2 * G],
    ['512mb', 512 * M],
    ['0.5g', 512 * M],
    ['1073741824B', G],
    [' 4G ', 4 * G],
  ];
  for (const [text, bytes] of accepted) {
    it(`reads ${JSON.stringify(text)} as ${bytes} bytes`, () => {
      assert.equal(parseSize(text, 'memory', 0), bytes);
    });
  }

  it('rounds fractional bytes down to a whole number', () => {
    assert.equal(parseSize('1.3K', 'memory', 0), Math.floor(1.3 * 1024));
    assert.ok(Number.isInteger(parseSize('1.3K', 'memory', 0)));
  });

  for (const text of ['4096', '20', '0', '1.5', '1073741824']) {
    it(`refuses the bare number ${text}: it asks for a unit instead of reading bytes`, () => {
      const error = expectLabvmError(() => parseSize(text, 'memory', 0), 'usage');
      assert.equal(error.message, `The memory size "${text}" has no unit.`);
      assert.equal(error.hint, `Add a unit, e.g. 4G or ${text}M.`);
    });
  }

  for (const text of ['1.5B', '1CiG', '4T', '4TB', 'abc', '', 'G', '-1G', '1,5G', '1.G', '.5G', '4 G', '4GG', '1e3M']) {
    it(`rejects ${JSON.stringify(text)} as a usage error naming what was sized`, () => {
      const error = expectLabvmError(() => parseSize(text, 'disk', 0), 'usage');
      assert.equal(error.exitCode, 2);
      assert.equal(error.message, `Invalid disk size "${text}".`);
      assert.match(error.hint ?? '', /4G or 2048M/);
    });
  }

  it('rejects a size below the minimum, naming the minimum', () => {
    const error = expectLabvmError(() => parseSize('256M', 'memory', 512 * M), 'usage');
    assert.equal(error.message, 'The memory size 256M is below the minimum of 512M.');
  });

  it('compares the minimum in bytes, across units', () => {
    assert.equal(parseSize('0.5G', 'memory', 512 * M), 512 * M); // exactly the minimum
    expectLabvmError(() => parseSize('524287K', 'memory', 512 * M), 'usage', /below the minimum of 512M/);
    expectLabvmError(
      () => parseSize('3.9G', 'disk', 4 * G),
      'usage',
      /^The disk size 3.9G is below the minimum of 4G\.$/,
    );
  });
});

describe('parsePositiveInteger', () => {
  for (const [value, expected] of [
    ['4', 4],
    ['1', 1],
    ['1200', 1200],
    ['007', 7],
  ] as const) {
    it(`reads ${JSON.stringify(value)} as ${expected}`, () => {
      assert.equal(parsePositiveInteger(value, 'CPU count'), expected);
    });
  }

  for (const value of ['0', '00', '-1', '1.5', '1.0', 'x', '', ' 2', '1e3', '0x10', '99999999999999999999', '٣']) {
    it(`rejects ${JSON.stringify(value)} as a usage error naming what it is`, () => {
      const error = expectLabvmError(() => parsePositiveInteger(value, 'timeout'), 'usage');
      assert.equal(error.message, `Invalid timeout "${value}": it must be a whole number greater than 0.`);
    });
  }
});

describe('formatBytes', () => {
  const cases: Array<[number, string]> = [
    [4 * G, '4G'],
    [G, '1G'],
    [512 * M, '512M'],
    [1.5 * G, '1536M'],
    [K, '1K'],
    [1536, '1536B'],
    [1000, '1000B'],
    [1, '1B'],
    [0, '0B'],
  ];
  for (const [bytes, text] of cases) {
    it(`formats ${bytes} as ${text}`, () => {
      assert.equal(formatBytes(bytes), text);
    });
  }

  it('gives back what parseSize reads', () => {
    for (const bytes of [4 * G, 512 * M, 1.5 * G, 3 * K, 77]) {
      assert.equal(parseSize(formatBytes(bytes), 'memory', 0), bytes);
    }
  });
});
