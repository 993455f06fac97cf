import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildStep } from '../../src/lab/exercise-image.js';

describe('buildStep (the image build as a progress detail)', () => {
  it('shortens a long RUN step to one line of at most 72 characters', () => {
    const run = `Step 2/3 : RUN set -eux; ${'apt-get install -y --no-install-recommends procps; '.repeat(10)}`;
    const step = buildStep(run);
    assert.ok(step);
    assert.ok(step.length <= 72, step);
    assert.match(step, /^step 2\/3: RUN set -eux; apt-get install/);
    assert.ok(step.endsWith('…'));
  });

  it('keeps a short step whole, with its whitespace folded', () => {
    assert.equal(buildStep('Step 1/3 : ARG  BASE_IMAGE'), 'step 1/3: ARG BASE_IMAGE');
  });

  it('shows no other build output', () => {
    for (const line of [
      '---> Running in 0123456789ab',
      'Setting up procps (2:4.0.2-3) ...',
      'Successfully built 0123456789ab',
      '',
    ]) {
      assert.equal(buildStep(line), undefined, line);
    }
  });
});
