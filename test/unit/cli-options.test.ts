import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValues } from '../../src/cli/options.js';

describe('lastValues', () => {
  it('takes the last of a repeated option, and leaves single values and -- alone', () => {
    assert.deepEqual(lastValues({ baseImage: ['a', 'b'], name: 'lab', json: true, '--': ['x', 'y'] }),
      { baseImage: 'b', name: 'lab', json: true, '--': ['x', 'y'] });
  });
});
