import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { causeLines, errorText, interruptedText } from '../../src/cli/print.js';
import { LabvmError } from '../../src/core/errors.js';
import { styler } from '../../src/core/ansi.js';
import { MultipassError } from '../../src/vm/multipass.js';

const plainStyle = styler(false);
const ansiStyle = styler(true);

const BUG = 'This is a bug in labvm; please report it with the output above.';

describe('errorText', () => {
  it("shows a LabvmError's message, its details quoted line by line, then the hint", () => {
    const error = new LabvmError(
      'docker build failed on VM "foo" (exit 1).',
      'exercise',
      'Check the network of the VM.',
      'Step 2/3 : RUN apt-get update\nE: Could not resolve host',
    );
    assert.equal(
      errorText(error, plainStyle),
      [
        'labvm: docker build failed on VM "foo" (exit 1).',
        '  | Step 2/3 : RUN apt-get update',
        '  | E: Could not resolve host',
        '  next: Check the network of the VM.',
      ].join('\n'),
    );
  });

  it('shows the message alone when there is no hint or details', () => {
    assert.equal(
      errorText(new LabvmError('Invalid instance name "1bad".', 'usage'), plainStyle),
      'labvm: Invalid instance name "1bad".',
    );
  });

  it('shows a hint without details', () => {
    assert.equal(
      errorText(new LabvmError('No VM.', 'vm', 'Run `labvm up` first.'), plainStyle),
      'labvm: No VM.\n  next: Run `labvm up` first.',
    );
  });

  it('shows the chain of causes, outermost first, only when asked', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:22'), { code: 'ECONNREFUSED' });
    const ssh = new LabvmError(
      'VM "foo": could not connect over SSH to 10.0.0.5:22: connect ECONNREFUSED 10.0.0.5:22.',
      'vm',
      undefined,
      undefined,
      { cause: refused },
    );
    const error = new LabvmError(
      'Timed out after 60s waiting for SSH on 10.0.0.5:22.',
      'timeout',
      'Try again.',
      undefined,
      { cause: ssh },
    );
    assert.equal(
      errorText(error, plainStyle),
      'labvm: Timed out after 60s waiting for SSH on 10.0.0.5:22.\n  next: Try again.',
    );
    assert.equal(
      errorText(error, plainStyle, { causes: true }),
      [
        'labvm: Timed out after 60s waiting for SSH on 10.0.0.5:22.',
        '  caused by: LabvmError: VM "foo": could not connect over SSH to 10.0.0.5:22: connect ECONNREFUSED 10.0.0.5:22.',
        '  caused by: connect ECONNREFUSED 10.0.0.5:22',
        '  next: Try again.',
      ].join('\n'),
    );
    assert.equal(
      causeLines(error, ansiStyle)[0],
      ansiStyle.dim(
        '  caused by: LabvmError: VM "foo": could not connect over SSH to 10.0.0.5:22: connect ECONNREFUSED 10.0.0.5:22.',
      ),
    );
  });

  it('shows a cause that is not an Error, and stops at a cause that loops back', () => {
    const looped = new LabvmError('outer', 'vm');
    const inner = new Error('inner', { cause: looped });
    Object.defineProperty(looped, 'cause', { value: inner });
    assert.deepEqual(causeLines(looped, plainStyle), ['  caused by: inner']);
    assert.deepEqual(
      causeLines(new LabvmError('x', 'vm', undefined, undefined, { cause: 'the connection was closed' }), plainStyle),
      ['  caused by: the connection was closed'],
    );
  });

  it('does not call it a bug when it is a user-facing error', () => {
    assert.ok(!errorText(new LabvmError('x', 'vm'), plainStyle).includes('bug'));
  });

  it('says an unknown error is a bug, with its stack', () => {
    const error = new TypeError('Cannot read properties of undefined');
    const text = errorText(error, plainStyle);
    assert.ok(
      text.startsWith('labvm: unexpected error: TypeError: Cannot read properties of undefined\n    at '),
      text,
    );
    assert.ok(text.endsWith(`\n${BUG}`), text);
  });

  it('says a thrown non-Error is a bug too', () => {
    assert.equal(errorText('weird', plainStyle), `labvm: unexpected error: weird\n${BUG}`);
    assert.equal(errorText(undefined, plainStyle), `labvm: unexpected error: undefined\n${BUG}`);
  });

  it("shows a failed multipass command as Multipass's message, not as a bug", () => {
    const error = new MultipassError('launch', {
      exitCode: 2,
      stdout: '',
      stderr: 'launch failed: instance "foo" already exists\n',
    });
    assert.equal(
      errorText(error, plainStyle),
      'labvm: launch failed: instance "foo" already exists\n' +
        "  next: Multipass's own words are above; `multipass list` shows the instances, and Multipass's log has more detail. Then run the labvm command again.",
    );
    assert.equal(error.exitCode, 4);
  });

  it('colours only with the ANSI style', () => {
    const error = new LabvmError('Boom.', 'vm', 'Do this.', 'detail');
    assert.doesNotMatch(errorText(error, plainStyle), /\x1b\[/);
    assert.equal(
      errorText(error, ansiStyle),
      '\x1b[31mlabvm:\x1b[39m Boom.\n\x1b[2m  | detail\x1b[22m\n  next: Do this.',
    );
  });
});

describe('interruptedText (after a Ctrl-C that no command took)', () => {
  it('up: resume or remove the same VM, --name kept', () => {
    assert.equal(
      interruptedText('up', 'ux-b', plainStyle),
      'labvm: interrupted. Run `labvm up --name ux-b` to resume, or `labvm down --name ux-b` to remove the VM.',
    );
    assert.equal(
      interruptedText('up', 'labvm', plainStyle),
      'labvm: interrupted. Run `labvm up` to resume, or `labvm down` to remove the VM.',
    );
  });

  it('down: finish the removal of the same VM', () => {
    assert.equal(
      interruptedText('down', 'ux-b', plainStyle),
      'labvm: interrupted. Run `labvm down --name ux-b` again to finish removing the VM.',
    );
  });

  it('read-only commands changed nothing: no hint', () => {
    for (const command of ['status', 'help', 'version', undefined])
      assert.equal(interruptedText(command, 'ux-b', plainStyle), 'labvm: interrupted.');
  });
});
