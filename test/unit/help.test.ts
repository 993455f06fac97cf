import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cac } from 'cac';
import { formatHelp, suggestion, unknownOptionOf } from '../../src/cli/help.js';

describe('suggestion (did you mean)', () => {
  const commands = ['up', 'status', 'down', 'exercise', 'help', 'version'];
  for (const [typed, meant] of [
    ['stauts', 'status'],
    ['exercize', 'exercise'],
    ['excercise', 'exercise'],
    ['dwon', 'down'],
    ['verison', 'version'],
    ['stat', 'status'],
    ['Up', 'up'],
  ] as const) {
    it(`"${typed}" -> ${meant}`, () => assert.equal(suggestion(typed, commands), meant));
  }
  for (const typed of ['deploy', 'x', 'launch', '']) {
    it(`"${typed}" -> nothing`, () => assert.equal(suggestion(typed, commands), undefined));
  }
  it('options', () => {
    const options = [
      '--name',
      '--host',
      '--identity',
      '--method',
      '--base-image',
      '--report',
      '--json',
      '--controls',
      '--keep',
    ];
    assert.equal(suggestion('--nmae', options), '--name');
    assert.equal(suggestion('--base-imag', options), '--base-image');
    assert.equal(suggestion('--contrl', options), '--controls');
    assert.equal(suggestion('--verbose-output', options), undefined);
  });
});

describe('unknownOptionOf', () => {
  it('gives the option as typed (cac reports it camelCased)', () => {
    assert.equal(unknownOptionOf('Unknown option `--baseImag`'), '--base-imag');
    assert.equal(unknownOptionOf('Unknown option `-x`'), '-x');
    assert.equal(unknownOptionOf('option `--name <name>` value is missing'), undefined);
  });
});

describe('formatHelp', () => {
  const cli = cac('labvm');
  const command = cli
    .command(
      'exercise',
      'Run the nsenter namespaces exercise on the VM and answer its three questions from what it observes',
    )
    .option(
      '--method <method>',
      "How to start the sleep: native (the VM's nsenter) or container (a helper container running nsenter)",
      { default: 'native' },
    );
  const sections = [
    { body: 'labvm/0.1.0' },
    { title: 'Usage', body: '  $ labvm exercise' },
    {
      title: 'Options',
      body: `  --method <method>  ${command.options[0]!.description} (default: native)\n  -h, --help         Display this message `,
    },
    { title: 'Examples', body: 'labvm exercise --report namespaces.md' },
  ];

  for (const width of [60, 80]) {
    it(`starts with the command and its description, and wraps between words at ${width} columns`, () => {
      const text = formatHelp(sections, command, width)
        .map((s) => (s.title ? `${s.title}:\n${s.body}` : s.body))
        .join('\n\n');
      assert.match(text, /^labvm exercise: Run the nsenter namespaces exercise/);
      assert.ok(
        text.split('\n').every((line) => line.length <= width),
        text,
      );
      assert.ok(
        text.replace(/\n\s+/g, ' ').includes('or container (a helper container running nsenter) (default: native)'),
        text,
      );
      assert.match(text, /\n {2}\$ labvm exercise --report namespaces\.md/);
    });
  }
});
