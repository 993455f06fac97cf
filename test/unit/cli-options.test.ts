import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cac } from 'cac';
import { exerciseOptions, flag, markValues, optionalText, upOptions, type RawOptions } from '../../src/cli/options.js';
import { expectLabvmError, expectLabvmRejection } from './helpers.js';
import { settingKeys } from '../../src/core/defaults.js';
import { resolveSettings } from '../../src/core/settings.js';
import { optionalText as given } from '../../src/cli/options.js';

/** The CLI's path: flags as typed, then settings (no environment, no config file), then typed options. */
async function upFrom(args: string[]) {
  const raw = parseUp(args);
  const flags = Object.fromEntries(settingKeys.map((key) => [key, given(raw, key, `--${key}`)]));
  return upOptions(raw, await resolveSettings(flags, undefined, { LABVM_HOME: '/nonexistent-labvm-home' }));
}

/** A cac program with up's options, parsed the way the CLI parses (values marked first). */
function parseUp(args: string[]): RawOptions {
  const cli = cac('labvm');
  cli
    .command('up')
    .option('--name <name>', '', { default: 'labvm' })
    .option('--cpus <n>', '', { default: '2' })
    .option('--memory <size>', '', { default: '4G' })
    .option('--disk <size>', '', { default: '20G' })
    .option('--image <image>', '', { default: '24.04' })
    .option('--timeout <seconds>', '', { default: '1200' })
    .option('--print-cloud-init', '');
  const values = new Set(
    cli.commands
      .flatMap((c) => c.options)
      .filter((o) => !o.isBoolean)
      .flatMap((o) => o.names),
  );
  return cli.parse(markValues(['node', 'labvm', 'up', ...args], values), { run: false }).options;
}

describe('option values reach labvm as typed', () => {
  it('cac alone turns numeric-looking values into numbers (why the values are marked)', () => {
    const cli = cac('labvm');
    cli.command('up').option('--image <image>', '');
    assert.equal(cli.parse(['node', 'labvm', 'up', '--image', '24.10'], { run: false }).options.image, 24.1);
  });

  for (const image of ['24.10', '20.10', '25.10', '22.04', '1e3', '0x10']) {
    it(`--image ${image} stays "${image}", with a space or an =`, async () => {
      assert.equal((await upFrom(['--image', image])).image, image);
      assert.equal((await upFrom([`--image=${image}`])).image, image);
    });
  }

  it('keeps sizes, names and numbers as text until labvm parses them', async () => {
    const options = await upFrom([
      '--memory',
      '2048M',
      '--disk',
      '30G',
      '--cpus',
      '007',
      '--timeout',
      '1800',
      '--name',
      'lab-2',
    ]);
    const { network, ...sizes } = options;
    assert.equal(network.dockerRepository.source, 'built-in');
    assert.deepEqual(sizes, {
      name: 'lab-2',
      cpus: 7,
      memory: '2048M',
      disk: '30G',
      image: '24.04',
      timeoutSeconds: 1800,
    });
  });

  it('applies the defaults as text', async () => {
    const { network, ...sizes } = await upFrom([]);
    assert.deepEqual(
      Object.values(network).map((setting) => setting.source),
      Array<string>(6).fill('built-in'),
    );
    assert.deepEqual(sizes, {
      name: 'labvm',
      cpus: 2,
      memory: '4G',
      disk: '20G',
      image: '24.04',
      timeoutSeconds: 1200,
    });
  });

  it('takes the last of a repeated option', async () => {
    assert.equal((await upFrom(['--image', '22.04', '--image', '24.10'])).image, '24.10');
  });

  it('passes a bare number for --memory through as text, for the size validator to refuse', async () => {
    await expectLabvmRejection(
      () => upFrom(['--memory', '4096']),
      'usage',
      /^The memory \(--memory\) size "4096" has no unit\.$/,
    );
  });

  it('refuses an empty value with the option named', async () => {
    for (const args of [['--image', ''], ['--image='], ['--name', ' ']]) {
      await expectLabvmRejection(async () => await upFrom(args), 'usage', /^--(image|name) needs a value\.$/);
    }
  });

  it("parses --cpus and --timeout with labvm's validator (exit 2 for anything but a whole number)", async () => {
    for (const cpus of ['2.5', '0', '1e3', '1x'])
      await expectLabvmRejection(async () => await upFrom(['--cpus', cpus]), 'usage', /^Invalid cpus \(--cpus\) "/);
    await expectLabvmRejection(
      async () => await upFrom(['--timeout', '10m']),
      'usage',
      /^Invalid timeout \(--timeout\) "10m"/,
    );
  });

  it('leaves flags and what follows -- alone', () => {
    const marked = markValues(
      ['node', 'labvm', 'up', '--print-cloud-init', '5', '--', '--image', '1'],
      new Set(['image']),
    );
    assert.deepEqual(marked, ['node', 'labvm', 'up', '--print-cloud-init', '5', '--', '--image', '1']);
  });

  it('does not take a following option as a value', () => {
    assert.deepEqual(
      markValues(['node', 'labvm', 'up', '--image', '--name', 'x'], new Set(['image', 'name'])).slice(3, 5),
      ['--image', '--name'],
    );
  });
});

describe('typed options', () => {
  it('exercise options: optional texts undefined when absent, flags false', async () => {
    const settings = await resolveSettings({}, undefined, { LABVM_HOME: '/nonexistent-labvm-home' });
    const options = exerciseOptions({ name: 'labvm', method: 'native', json: true }, settings);
    assert.deepEqual(options, {
      name: 'labvm',
      host: undefined,
      identity: undefined,
      docker: false,
      context: undefined,
      method: 'native',
      baseImage: 'nginx:latest',
      report: undefined,
      force: false,
      controls: false,
      keep: false,
    });
  });

  it('exercise options: --name stays absent unless typed (--docker refuses it)', async () => {
    const settings = await resolveSettings({}, undefined, { LABVM_HOME: '/nonexistent-labvm-home' });
    const options = exerciseOptions({ method: 'native', docker: true, context: 'colima' }, settings);
    assert.equal(options.name, undefined);
    assert.equal(options.docker, true);
    assert.equal(options.context, 'colima');
  });

  it('a flag is true only when given (repeated is fine)', () => {
    assert.equal(flag({ keep: [true, true] }, 'keep'), true);
    assert.equal(flag({ keep: false }, 'keep'), false);
    assert.equal(flag({}, 'keep'), false);
  });

  it('a value option given without a value is a usage error, not a boolean', () => {
    expectLabvmError(() => optionalText({ report: true }, 'report', '--report'), 'usage', /^--report needs a value/);
  });
});
