import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { exitStatus } from '../../src/remote/session.js';
import { listText, table } from '../../src/cli/print.js';
import { styler } from '../../src/core/ansi.js';
import type { ListEntry } from '../../src/commands/list.js';
import { diskVerdict, driverVerdict, memoryCheck, nodeCheck } from '../../src/commands/doctor.js';

const plainStyle = styler(false);

describe('exitStatus', () => {
  test('a code is passed through, a signal becomes 128 + its number, nothing at all is 255', () => {
    assert.equal(exitStatus(0, undefined), 0);
    assert.equal(exitStatus(7, undefined), 7);
    assert.equal(exitStatus(null, 'SIGTERM'), 143);
    assert.equal(exitStatus(null, 'KILL'), 137);
    assert.equal(exitStatus(null, undefined), 255);
  });
});

describe('list rendering', () => {
  const entry = (overrides: Partial<ListEntry>): ListEntry => ({
    name: 'labvm',
    state: 'Running',
    ipv4: '10.0.0.2',
    release: 'Ubuntu 24.04.1 LTS',
    image: '24.04',
    cpus: 2,
    memory: '4G',
    disk: '20G',
    createdAt: '2026-11-29T10:00:00.000Z',
    ready: true,
    stateDir: '/h/labvm',
    cleanup: null,
    ...overrides,
  });

  test('columns line up; a gone record is marked with the command that cleans it', () => {
    const text = listText(
      [
        entry({}),
        entry({
          name: 'old-lab',
          state: 'missing',
          ipv4: null,
          release: null,
          ready: null,
          cleanup: 'labvm down --name old-lab',
        }),
      ],
      plainStyle,
    );
    const [head, first, second, blank, note] = text.split('\n');
    assert.match(head!, /^NAME {5}STATE {4}ADDRESS/);
    assert.equal(first!.indexOf('Running'), head!.indexOf('STATE'));
    assert.equal(second!.indexOf('missing'), head!.indexOf('STATE'));
    assert.match(second!, /24\.04 .* -$/, 'the launched image stands in for the release, readiness unknown');
    assert.equal(blank, '');
    assert.equal(
      note,
      "! old-lab: the VM is gone, only labvm's record is left; clean up with `labvm down --name old-lab`",
    );
  });

  test('no VMs says how to make one', () => {
    assert.match(listText([], plainStyle), /labvm up/);
  });

  test('table pads every column but the last', () => {
    assert.equal(
      table([
        ['a', 'bb', 'c'],
        ['ccc', 'd', 'e'],
      ]),
      'a    bb  c\nccc  d   e',
    );
  });
});

describe('doctor verdicts', () => {
  test('Node.js below 20.19 fails, 20.19 and later pass', () => {
    assert.equal(nodeCheck('20.18.1').status, 'fail');
    assert.equal(nodeCheck('20.19.0').status, 'pass');
    assert.equal(nodeCheck('24.1.0').status, 'pass');
  });

  test('VirtualBox is a warning with the Hyper-V fix; known drivers pass by name', () => {
    const vbox = driverVerdict('virtualbox');
    assert.equal(vbox.status, 'warn');
    assert.match(vbox.fix!, /local\.driver=hyperv/);
    assert.deepEqual([driverVerdict('hyperv').status, driverVerdict('hyperv').detail], ['pass', 'hyperv (Hyper-V)']);
  });

  test('memory: less in total than asked fails, less free warns, enough passes', () => {
    const G = 1024 ** 3;
    assert.equal(memoryCheck(4 * G, 8 * G, 16 * G, '4G').status, 'pass');
    assert.equal(memoryCheck(4 * G, 2 * G, 16 * G, '4G').status, 'warn');
    const tooSmall = memoryCheck(4 * G, 2 * G, 3 * G, '4G');
    assert.equal(tooSmall.status, 'fail');
    assert.match(tooSmall.fix!, /--memory 1536M/);
  });

  test('disk: less free than asked is a warning (Multipass allocates lazily)', () => {
    const G = 1024 ** 3;
    assert.equal(diskVerdict(20 * G, 30 * G, '20G').status, 'pass');
    assert.equal(diskVerdict(20 * G, 10 * G, '20G').status, 'warn');
  });
});
