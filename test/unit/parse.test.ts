import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  inContainerCgroup,
  lastKernelLogStamp,
  parseDenials,
  parseLabel,
  parseLsmList,
  parseNSpid,
  parsePsAux,
} from '../../src/lab/parse.js';

/** /proc/<pid>/status of a `sleep 600` started in a container's PID namespace (trimmed). */
const STATUS_NESTED = [
  'Name:\tsleep',
  'Umask:\t0022',
  'State:\tS (sleeping)',
  'Tgid:\t46926',
  'Ngid:\t0',
  'Pid:\t46926',
  'PPid:\t46900',
  'TracerPid:\t0',
  'Uid:\t0\t0\t0\t0',
  'Gid:\t0\t0\t0\t0',
  'FDSize:\t64',
  'Groups:\t0 ',
  'NStgid:\t46926\t64',
  'NSpid:\t46926\t64',
  'NSpgid:\t46900\t60',
  'NSsid:\t46900\t60',
  'VmPeak:\t    2484 kB',
  'Threads:\t1',
  '',
].join('\n');

describe('parseNSpid', () => {
  it('reads one PID per namespace level, outermost first', () => {
    assert.deepEqual(parseNSpid(STATUS_NESTED), [46926, 64]);
  });

  it('reads a process in the host namespace only (one level)', () => {
    assert.deepEqual(parseNSpid(STATUS_NESTED.replace('NSpid:\t46926\t64', 'NSpid:\t1234')), [1234]);
  });

  it('reads three levels', () => {
    assert.deepEqual(parseNSpid('Name:\tsleep\nNSpid:\t5000\t300\t7\n'), [5000, 300, 7]);
  });

  it('does not confuse NSpgid, NSsid or NStgid with NSpid', () => {
    assert.deepEqual(parseNSpid('NStgid:\t9\t1\nNSpgid:\t8\t2\nNSsid:\t7\t3\n'), []);
  });

  it('gives [] when the kernel has no NSpid line, or for no text', () => {
    assert.deepEqual(parseNSpid(STATUS_NESTED.replace(/^NSpid:.*\n/m, '')), []);
    assert.deepEqual(parseNSpid(''), []);
  });

  it('reads CRLF text', () => {
    assert.deepEqual(parseNSpid('Pid:\t46926\r\nNSpid:\t46926\t64\r\n'), [46926, 64]);
  });
});

describe('parsePsAux', () => {
  const PS_AUX = [
    'USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND',
    'root           1  0.0  0.1  11404  7424 ?        Ss   10:02   0:00 nginx: master process nginx -g daemon off;',
    'nginx         29  0.0  0.0  11868  2852 ?        S    10:02   0:00 nginx: worker process',
    'root          64  0.0  0.0   2484  1280 ?        S    10:02   0:00 sleep 600',
    'systemd+     101  0.0  0.0   2484  1280 pts/0    S+   Feb14   0:00 sleep 600',
    'root          70  0.0  0.0   6408  2432 ?        Rs   10:03   0:00 ps aux',
    '',
  ].join('\n');

  it('skips the header and reads user, PID and the whole command', () => {
    const rows = parsePsAux(PS_AUX);
    assert.deepEqual(
      rows.map(({ user, pid, command }) => ({ user, pid, command })),
      [
        { user: 'root', pid: 1, command: 'nginx: master process nginx -g daemon off;' },
        { user: 'nginx', pid: 29, command: 'nginx: worker process' },
        { user: 'root', pid: 64, command: 'sleep 600' },
        { user: 'systemd+', pid: 101, command: 'sleep 600' },
        { user: 'root', pid: 70, command: 'ps aux' },
      ],
    );
  });

  it("keeps each row's original line", () => {
    const row = parsePsAux(PS_AUX).find((r) => r.pid === 64);
    assert.equal(row?.line, 'root          64  0.0  0.0   2484  1280 ?        S    10:02   0:00 sleep 600');
  });

  it('lets the exercise pick the sleep out by its command', () => {
    assert.deepEqual(
      parsePsAux(PS_AUX)
        .filter((r) => r.command === 'sleep 600')
        .map((r) => r.pid),
      [64, 101],
    );
  });

  it('drops lines that are not process rows, and reads CRLF', () => {
    const listing = [
      'USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND',
      'ps: warning: something odd',
      'root x 0.0 0.0 1 1 ? S 10:02 0:00 bogus pid',
      'root 7 0.0 0.0 1 1 ? S 10:02 0:00 true',
    ].join('\r\n');
    assert.deepEqual(
      parsePsAux(listing).map((r) => [r.pid, r.command]),
      [[7, 'true']],
    );
  });

  it('gives no rows for a header alone or for nothing', () => {
    assert.deepEqual(parsePsAux(PS_AUX.split('\n')[0]!), []);
    assert.deepEqual(parsePsAux(''), []);
  });
});

describe('parseLabel', () => {
  it('reads an AppArmor label with its mode', () => {
    assert.equal(parseLabel('docker-default (enforce)\n'), 'docker-default (enforce)');
  });

  it('reads "unconfined"', () => {
    assert.equal(parseLabel('unconfined\n'), 'unconfined');
  });

  it('drops NUL bytes (SELinux labels end with one)', () => {
    assert.equal(parseLabel('system_u:system_r:container_t:s0:c1,c2\0'), 'system_u:system_r:container_t:s0:c1,c2');
    assert.equal(parseLabel('\0docker-default (enforce)\0\n'), 'docker-default (enforce)');
  });

  it('gives null when no module provides a label', () => {
    assert.equal(parseLabel(''), null);
    assert.equal(parseLabel('\n'), null);
    assert.equal(parseLabel('\0'), null);
    assert.equal(parseLabel(undefined), null);
  });
});

describe('parseLsmList', () => {
  it('splits the comma list', () => {
    assert.deepEqual(parseLsmList('lockdown,capability,landlock,yama,apparmor\n'), [
      'lockdown',
      'capability',
      'landlock',
      'yama',
      'apparmor',
    ]);
  });

  it('gives [] for an empty file', () => {
    assert.deepEqual(parseLsmList(''), []);
    assert.deepEqual(parseLsmList('\n'), []);
  });

  it('ignores stray spaces and empty items', () => {
    assert.deepEqual(parseLsmList(' capability, selinux ,,'), ['capability', 'selinux']);
  });
});

describe('inContainerCgroup', () => {
  const ID = '3f4e2c9a8b7d6e5f40312a1b2c3d4e5f60718293a4b5c6d7e8f90123456789ab';

  it('finds the container in a cgroup v1 listing (/docker/<id>)', () => {
    const v1 = [
      '12:pids:/docker/' + ID,
      '11:memory:/docker/' + ID,
      '10:cpu,cpuacct:/docker/' + ID,
      '1:name=systemd:/docker/' + ID,
      '0::/system.slice/containerd.service',
    ].join('\n');
    assert.equal(inContainerCgroup(v1, ID), true);
  });

  it('finds the container in a cgroup v2 systemd scope (docker-<id>.scope)', () => {
    assert.equal(inContainerCgroup(`0::/system.slice/docker-${ID}.scope\n`, ID), true);
  });

  it("does not find it in a user slice, or in another container's cgroup", () => {
    assert.equal(inContainerCgroup('0::/user.slice/user-1000.slice/session-3.scope\n', ID), false);
    const other = 'aa'.repeat(32);
    assert.equal(inContainerCgroup(`0::/system.slice/docker-${other}.scope\n`, ID), false);
    assert.equal(inContainerCgroup('', ID), false);
  });
});

describe('parsePsAux with BusyBox ps', () => {
  it('reads the PID and command columns from the header', () => {
    const listing =
      'PID   USER     TIME  COMMAND\n    1 root      0:00 nginx: master process nginx -g daemon off;\n   31 root      0:00 sleep 600\n';
    const rows = parsePsAux(listing);
    assert.deepEqual(
      rows.map((row) => [row.pid, row.command, row.user]),
      [
        [1, 'nginx: master process nginx -g daemon off;', 'root'],
        [31, 'sleep 600', 'root'],
      ],
    );
  });

  it('gives no rows for output without a PID or COMMAND header', () => {
    assert.deepEqual(parsePsAux('something else\n 1 2 3\n'), []);
  });
});

describe('kernel log: the mark and the denials after it', () => {
  const DENIAL =
    'audit: type=1400 audit(1764426000.123:45): apparmor="DENIED" operation="signal" class="signal" profile="docker-default" pid=2310 comm="kill" requested_mask="send" denied_mask="send" signal=term peer="unconfined"';
  const AVC =
    'audit: type=1400 audit(1764426000.200:46): avc:  denied  { signal } for  pid=2311 comm="kill" scontext=system_u:system_r:container_t:s0:c1,c2 tcontext=unconfined_u:unconfined_r:unconfined_t:s0 tclass=process permissive=0';
  const log = `[   10.000001] docker0: port 1(veth1) entered forwarding state\n[  120.500000] ${DENIAL.replace('2310', '1999')}\n[  130.250000] eth0: link up\n[  131.000000] ${DENIAL}\n[  131.100000] ${AVC}\n`;

  it('the mark is the stamp of the last line; an empty log marks 0; no stamps, no mark', () => {
    assert.equal(lastKernelLogStamp(log), 131.1);
    assert.equal(lastKernelLogStamp(''), 0);
    assert.equal(lastKernelLogStamp('no stamps here\n'), null);
  });

  it('keeps only AppArmor and SELinux denials logged after the mark, without their stamps', () => {
    assert.deepEqual(parseDenials(log, 130.25), [DENIAL, AVC]);
    assert.deepEqual(parseDenials(log, 131.1), []);
    assert.equal(parseDenials(log, 0).length, 3);
  });
});
