import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cac } from 'cac';
import { commandTable, completionScript, completionShells } from '../../src/cli/completion.js';
import { CLI } from '../support/labvm.js';

/** A small CLI stands in for labvm's: the scripts must follow whatever the command table holds. */
function tableOf() {
  const cli = cac('labvm');
  cli.option('--config <file>', 'Config file');
  cli.command('up', 'Create it').option('--name <name>', 'Instance name').option('--memory <size>', 'Memory: e.g. 4G');
  cli.command('list', 'List them').alias('ls').option('--json', "Print JSON (it's one array)");
  cli.command('completion <shell>', 'Completion');
  return commandTable(cli.commands, cli.globalCommand.options, { completion: [...completionShells] });
}

const hasBash = spawnSync('bash', ['--version']).status === 0;

/** What bash's completion offers for the words typed so far (the last one is being completed). */
function bashComplete(script: string, words: string[], env: NodeJS.ProcessEnv = {}): string[] {
  const driver = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _labvm; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = spawnSync('bash', ['-c', driver], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.split('\n').filter(Boolean).sort();
}

describe('completion scripts', () => {
  test("the table is cac's: commands, aliases, their options and the global ones, with whether each takes a value", () => {
    const table = tableOf();
    assert.deepEqual(
      table.map((c) => c.name),
      ['up', 'list', 'ls', 'completion'],
    );
    const up = table[0]!;
    assert.deepEqual(
      up.options.map((o) => [o.flags.join(' '), o.takesValue]),
      [
        ['--name', true],
        ['--memory', true],
        ['--config', true],
      ],
    );
    assert.deepEqual(table[3]!.values, ['bash', 'zsh', 'fish', 'powershell']);
  });

  test(
    "bash completes commands, each command's options, and --name from the VMs in LABVM_HOME",
    { skip: !hasBash && 'no bash' },
    () => {
      const script = completionScript('bash', 'labvm', tableOf());
      assert.deepEqual(bashComplete(script, ['labvm', 'l']), ['list', 'ls']);
      assert.deepEqual(bashComplete(script, ['labvm', 'up', '--']), ['--config', '--memory', '--name']);
      assert.deepEqual(bashComplete(script, ['labvm', 'completion', '']), [
        '--config',
        'bash',
        'fish',
        'powershell',
        'zsh',
      ]);
      assert.deepEqual(
        bashComplete(script, ['labvm', 'up', '--memory', '']),
        [],
        'a value is not completed with option names',
      );
      const home = mkdtempSync(join(tmpdir(), 'labvm-completion-'));
      try {
        mkdirSync(join(home, 'lab-a'));
        mkdirSync(join(home, 'lab-b'));
        assert.deepEqual(bashComplete(script, ['labvm', 'up', '--name', 'lab'], { LABVM_HOME: home }), [
          'lab-a',
          'lab-b',
        ]);
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    },
  );

  test('zsh, fish and PowerShell scripts name every command and option of the table, descriptions quoted', () => {
    for (const shell of ['zsh', 'fish', 'powershell'] as const) {
      const script = completionScript(shell, 'labvm', tableOf());
      for (const word of ['up', 'list', 'ls', 'completion', 'memory', 'json', 'config', 'powershell'])
        assert.ok(script.includes(word), `${shell}: ${word}`);
    }
    assert.match(completionScript('zsh', 'labvm', tableOf()), /'--memory:Memory: e\.g\. 4G'/);
    assert.match(
      completionScript('fish', 'labvm', tableOf()),
      /-n '__fish_seen_subcommand_from list' -l json -d 'Print JSON \(it'\\''s one array\)'/,
    );
    assert.match(completionScript('powershell', 'labvm', tableOf()), /'up' = @\('--name', '--memory', '--config'\)/);
  });

  test('labvm completion bash is valid bash and offers every labvm command', { skip: !hasBash && 'no bash' }, () => {
    const generated = spawnSync(process.execPath, [CLI, 'completion', 'bash'], { encoding: 'utf8' });
    assert.equal(generated.status, 0, generated.stderr);
    const commands = bashComplete(generated.stdout, ['labvm', '']);
    for (const name of [
      'up',
      'status',
      'down',
      'exercise',
      'shell',
      'exec',
      'list',
      'stop',
      'start',
      'doctor',
      'completion',
    ])
      assert.ok(commands.includes(name), name);
    assert.ok(bashComplete(generated.stdout, ['labvm', 'exercise', '--b']).includes('--base-image'));
    const unknown = spawnSync(process.execPath, [CLI, 'completion', 'tcsh'], { encoding: 'utf8' });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /No completion for the shell "tcsh"[\s\S]*bash, zsh, fish, powershell/);
  });
});
