import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerAll } from '../../src/lab/answers.js';
import type { Evidence } from '../../src/lab/evidence.js';
import { toJson } from '../../src/report/json.js';
import { escapeCell, renderMarkdown } from '../../src/report/markdown.js';
import { buildReport, type ExerciseReport } from '../../src/report/model.js';
import { renderTerminal } from '../../src/report/terminal.js';
import { wrap } from '../../src/core/text.js';
import { appArmor, dockerInit, noLsm, selinux, variant } from '../fixtures/evidence.js';
import { localTime } from '../../src/report/shared.js';

const META = { startedAt: '2025-02-14T10:02:11.000Z', durationSeconds: 41.3, labvmVersion: '0.1.0' };
const ANSI = /\u001b\[/;
const stripAnsi = (text: string) => text.replace(/\u001b\[\d+m/g, '');
const flat = (text: string) => text.replace(/\s+/g, ' ');

const FIXTURES: Array<[string, () => Evidence]> = [
  ['apparmor', appArmor],
  ['no-lsm', noLsm],
  ['selinux', selinux],
  ['docker-init', dockerInit],
];

/** The kill is refused with EPERM: an observation answers.ts cannot explain. */
const unexplainedReport = () =>
  buildReport(
    variant(appArmor(), (x) => {
      x.kill.stderr = `kill: (${x.kill.targetPid}): Operation not permitted`;
    }),
    META,
  );

const QUESTION_ORDER = [
  '1. Is the PID the same inside and outside the container?',
  '2. What happens to the process when the container is stopped?',
  '3. Can the process be killed from inside the container?',
];

function assertInOrder(text: string, parts: string[]): void {
  let from = 0;
  for (const part of parts) {
    const at = text.indexOf(part, from);
    assert.ok(at >= 0, `missing or out of order: ${part}`);
    from = at + part.length;
  }
}

describe('buildReport', () => {
  it('answers the evidence and keeps the metadata', () => {
    const evidence = appArmor();
    const report = buildReport(evidence, META);
    assert.equal(report.evidence, evidence);
    assert.deepEqual(report.answers, answerAll(evidence));
    assert.deepEqual([report.startedAt, report.durationSeconds, report.labvmVersion], [META.startedAt, 41.3, '0.1.0']);
    assert.equal(toJson(report).startedAt, META.startedAt, 'JSON keeps the ISO time');
  });
});

for (const [name, load] of FIXTURES) {
  describe(`renderTerminal (${name})`, () => {
    const report = buildReport(load(), META);
    const plain = renderTerminal(report, { color: false });
    const lines = plain.split('\n');
    const { container, sleep } = report.evidence;

    it('shows both PIDs of the sleep and the init in the process table', () => {
      // Wide enough for the table form whatever the labels (SELinux contexts are long).
      const lines = renderTerminal(report, { color: false, width: 200 }).split('\n');
      assert.match(lines.join('\n'), /PROCESS\s+HOST PID\s+CONTAINER PID\s+NSpid\s+CONTAINER CGROUP\?\s+LSM LABEL/);
      const sleepRow = lines.find((l) => l.trimStart().startsWith('sleep 600 (nsenter)'));
      assert.ok(sleepRow);
      assert.deepEqual(
        sleepRow
          .trim()
          .split(/\s{2,}/)
          .slice(1, 4),
        [String(sleep.hostPid), String(sleep.containerPid), sleep.nspid.join(' ')],
      );
      const initRow = lines.find((l) => l.trimStart().startsWith(`${container.initComm} (init)`));
      assert.deepEqual(
        initRow
          ?.trim()
          .split(/\s{2,}/)
          .slice(1, 3),
        [String(container.hostPid), '1'],
      );
    });

    it('asks the questions in the exercise order, each with its answer and cause', () => {
      assertInOrder(plain, QUESTION_ORDER);
      const { pid, stopContainer, killFromInside } = report.answers;
      for (const answer of [pid, stopContainer, killFromInside]) {
        assert.ok(flat(plain).includes(flat(answer.answer)), answer.answer);
        assert.ok(flat(plain).includes(flat(answer.explanation)));
        assert.ok(plain.includes(`Cause: ${answer.cause}`));
        for (const item of answer.evidence) assert.ok(flat(plain).includes(flat(item)), item);
      }
      assert.ok(!plain.includes('UNEXPLAINED'));
    });

    it('has the header facts', () => {
      const env = report.evidence.environment;
      for (const fact of [env.target, env.kernel, env.dockerVersion, 'native (nsenter run on the host)'])
        assert.ok(plain.includes(fact), fact);
    });

    it('marks exactly the sleep in the ps listing (as listed, or USER PID COMMAND when wider than the report)', () => {
      const marked = lines.filter((l) => l.startsWith('> '));
      assert.equal(marked.length, 1);
      const wide = renderTerminal(report, { color: false, width: 120 })
        .split('\n')
        .filter((l) => l.startsWith('> '));
      assert.deepEqual(wide, [`> ${sleep.psLine}`]);
      assert.match(marked[0]!, new RegExp(`^> root\\s+${sleep.containerPid}\\s+.*sleep 600$`));
      assert.ok(plain.includes(`docker exec ${container.name} ps aux`));
    });

    it('without colour has no ANSI escapes; with colour only adds them', () => {
      assert.doesNotMatch(plain, ANSI);
      const colored = renderTerminal(report, { color: true });
      assert.match(colored, ANSI);
      assert.equal(stripAnsi(colored), plain);
    });

    for (const width of [60, 80, 100, 120]) {
      it(`fits ${width} columns and never breaks a word`, () => {
        const rendered = renderTerminal(report, { color: true, width });
        const text = stripAnsi(rendered);
        // Only a single word longer than the line (an SELinux context) may stick out.
        assert.deepEqual(
          text.split('\n').filter((l) => [...l].length > width && l.trim().split(/\s+/).length > 1),
          [],
        );
        const words = new Set(text.split(/\s+/));
        for (const answer of [report.answers.pid, report.answers.stopContainer, report.answers.killFromInside]) {
          for (const word of `${answer.answer} ${answer.explanation}`.split(/\s+/))
            assert.ok(words.has(word), `"${word}" kept whole at ${width}`);
        }
      });
    }

    it('shows the start in local time with its offset', () => {
      assert.ok(plain.includes(`started ${localTime(META.startedAt)},`));
    });
  });

  describe(`renderMarkdown (${name})`, () => {
    const report = buildReport(load(), META);
    const md = renderMarkdown(report);

    it('has a title, the three question headings in order and a footer', () => {
      assert.match(md, /^# Container namespaces exercise: `my-nginx-cntr`\n/);
      assertInOrder(
        md,
        QUESTION_ORDER.map((q) => `\n## ${q}\n`),
      );
      assert.ok(md.includes(`Generated by labvm 0.1.0 on ${localTime(META.startedAt)} (took`));
      for (const a of [report.answers.pid, report.answers.stopContainer, report.answers.killFromInside]) {
        assert.ok(md.includes(`**Answer:** ${a.answer}`));
        assert.ok(md.includes(`**Cause:** \`${a.cause}\`: ${a.explanation}`));
      }
    });

    it('has valid tables: header, separator, same cell count in every row', () => {
      const tables = markdownTables(md);
      assert.equal(tables.length, 2);
      for (const table of tables) {
        const counts = table.map(cellCount);
        assert.ok(
          counts.every((c) => c === counts[0]),
          `cell counts ${counts.join(',')}`,
        );
        assert.match(table[1] ?? '', /^\|(---\|)+$/);
      }
      const processTable = tables[1] ?? [];
      assert.ok(
        processTable.some((row) =>
          row.includes(`| ${report.evidence.sleep.hostPid} | ${report.evidence.sleep.containerPid} |`),
        ),
      );
    });

    it('quotes the ps listing in a fenced block with the sleep marked', () => {
      const block = /```\n([\s\S]*?)\n```/.exec(md)?.[1] ?? '';
      assert.ok(block.split('\n').includes(`> ${report.evidence.sleep.psLine}`));
      assert.equal(block.split('\n').filter((l) => l.startsWith('>')).length, 1);
    });
  });

  describe(`toJson (${name})`, () => {
    const report = buildReport(load(), META);
    const json = JSON.parse(JSON.stringify(toJson(report))) as unknown;

    it('has every public field with the right type', () => {
      assert.deepEqual(schemaErrors(json), []);
    });

    it('carries the answers and the raw evidence', () => {
      const j = json as ReturnType<typeof toJson>;
      const { pid, killFromInside, stopContainer } = report.answers;
      assert.deepEqual(
        [j.pid.host, j.pid.container, j.pid.nspid, j.pid.same, j.pid.cause],
        [pid.host, pid.container, pid.nspid, pid.same, pid.cause],
      );
      assert.deepEqual(
        [j.killFromInside.killed, j.killFromInside.exitCode, j.killFromInside.stderr],
        [killFromInside.killed, killFromInside.exitCode, killFromInside.stderr],
      );
      assert.equal(j.stopContainer.processSurvived, stopContainer.processSurvived);
      assert.deepEqual(j.evidence, report.evidence);
      assert.equal(j.controls.length, report.answers.controls.length);
    });

    it('contains nothing secret-looking', () => {
      for (const text of [JSON.stringify(json), renderMarkdown(report), renderTerminal(report, { color: false })]) {
        assert.doesNotMatch(text, /PRIVATE KEY|BEGIN OPENSSH|ssh-(rsa|ed25519) AAAA|password|passphrase/i);
      }
    });
  });
}

describe('the Ubuntu report specifically', () => {
  const report = buildReport(appArmor(), META);

  it('JSON has the known answers', () => {
    const j = toJson(report);
    const { sleep } = report.evidence;
    assert.deepEqual(
      [j.pid.host, j.pid.container, j.pid.nspid, j.pid.same],
      [sleep.hostPid, sleep.containerPid, sleep.nspid, false],
    );
    assert.deepEqual(
      [j.killFromInside.killed, j.killFromInside.exitCode, j.killFromInside.stderr, j.killFromInside.cause],
      [false, 1, `kill: (${sleep.containerPid}): Permission denied`, 'apparmor'],
    );
    assert.deepEqual([j.stopContainer.processSurvived, j.stopContainer.cause], [false, 'pid-namespace-init-exit']);
    assert.deepEqual(
      j.controls.map((c) => c.answers.map((a) => `${a.kind}:${a.cause}`)),
      [
        ['pid:outside-pid-namespace', 'stopContainer:outside-pid-namespace'],
        ['pid:nested-pid-namespace', 'killFromInside:unconfined-sender'],
      ],
    );
  });

  it('shows the labels that explain question 3 side by side', () => {
    const plain = renderTerminal(report, { color: false });
    const { sleep, container } = report.evidence;
    assert.match(
      plain,
      new RegExp(
        `sleep 600 \\(nsenter\\)\\s+${sleep.hostPid}\\s+${sleep.containerPid}\\s+${sleep.hostPid} ${sleep.containerPid}\\s+no\\s+unconfined\n`,
      ),
    );
    assert.match(plain, /docker exec \(kill\)\s+—\s+—\s+—\s+—\s+docker-default \(enforce\)\n/);
    assert.match(
      plain,
      new RegExp(`nginx \\(init\\)\\s+${container.hostPid}\\s+1\\s+—\\s+—\\s+docker-default \\(enforce\\)\n`),
    );
  });

  it('lists the controls in both renderers', () => {
    const plain = flat(renderTerminal(report, { color: false }));
    const md = renderMarkdown(report);
    assert.ok(plain.includes('Controls no-fork: nsenter -F: the sleep joins every namespace'));
    assert.ok(plain.includes('[unconfined-sender]'));
    assert.ok(md.includes('## Controls'));
    assert.ok(md.includes('### `apparmor-unconfined`'));
    assert.ok(md.includes('(`outside-pid-namespace`)'));
  });

  it('a report without controls has no controls section', () => {
    const r = buildReport(
      variant(noLsm(), (e) => {
        e.controls = [];
      }),
      META,
    );
    assert.ok(!renderTerminal(r, { color: false }).includes('Controls'));
    assert.ok(!renderMarkdown(r).includes('## Controls'));
  });

  it('renderers do not modify the report', () => {
    const before = structuredClone(report);
    renderTerminal(report, { color: true });
    renderMarkdown(report);
    toJson(report);
    assert.deepEqual(report, before);
  });
});

describe('unexplained answers stand out', () => {
  const report: ExerciseReport = unexplainedReport();

  it('the terminal marks the question and its cause', () => {
    const plain = renderTerminal(report, { color: false });
    assert.ok(plain.includes(`${QUESTION_ORDER[2]} [UNEXPLAINED]`));
    assert.ok(plain.includes('Cause: UNEXPLAINED: labvm cannot name a cause'));
    assert.ok(plain.includes('1 of 3 answers UNEXPLAINED'));
    assert.ok(!plain.includes(`${QUESTION_ORDER[0]} [UNEXPLAINED]`));
    assert.match(renderTerminal(report, { color: true }), /\u001b\[31m\u001b\[1m3\. Can the process/);
  });

  it('Markdown marks the heading and the cause; JSON keeps the code', () => {
    const md = renderMarkdown(report);
    assert.ok(md.includes(`## ${QUESTION_ORDER[2]} (UNEXPLAINED)`));
    assert.ok(md.includes('**Cause:** **UNEXPLAINED**'));
    assert.equal(toJson(report).killFromInside.cause, 'unexplained');
  });
});

describe('Markdown escaping and wrapping helpers', () => {
  it('escapes pipes and flattens line breaks in cells', () => {
    assert.equal(escapeCell('a|b\nc'), 'a\\|b c');
    const report = buildReport(
      variant(noLsm(), (x) => {
        x.environment.target = 'odd|name';
      }),
      META,
    );
    const table = markdownTables(renderMarkdown(report))[0] ?? [];
    assert.ok(table.includes('| Target | odd\\|name |'));
    assert.ok(table.every((row) => cellCount(row) === 2));
  });

  it('localTime shows an ISO time in the given offset, and keeps text that is not a time', () => {
    assert.equal(localTime('2025-02-14T10:02:11.000Z', 60), '2025-02-14 11:02:11 (UTC+01:00)');
    assert.equal(localTime('2025-02-14T10:02:11.000Z', -330), '2025-02-14 04:32:11 (UTC-05:30)');
    assert.equal(localTime('2025-02-14T10:02:11.000Z', 0), '2025-02-14 10:02:11 (UTC+00:00)');
    assert.equal(localTime('not a time'), 'not a time');
  });

  it('wrap keeps every line within the width and loses no word', () => {
    const text = 'word '.repeat(60).trim();
    const lines = wrap(text, '   - ', '     ', 40);
    assert.ok(lines.every((l) => l.length <= 40));
    assert.equal(flat(lines.join(' ')).trim(), `- ${text}`);
  });
});

// --- helpers -----------------------------------------------------------------------------------------------

function markdownTables(md: string): string[][] {
  const tables: string[][] = [];
  const current: string[] = [];
  for (const line of [...md.split('\n'), '']) {
    if (line.startsWith('|')) current.push(line);
    else if (current.length) tables.push(current.splice(0));
  }
  return tables;
}

/** Cells in a Markdown table row: split on pipes that are not escaped. */
function cellCount(row: string): number {
  return row.split(/(?<!\\)\|/).length - 2;
}

type FieldType = 'string' | 'number' | 'boolean' | 'number|null' | 'number[]' | 'string[]' | 'array' | 'object';

const ANSWER_FIELDS = (prefix: string): Record<string, FieldType> => ({
  [`${prefix}.question`]: 'string',
  [`${prefix}.answer`]: 'string',
  [`${prefix}.cause`]: 'string',
  [`${prefix}.explanation`]: 'string',
  [`${prefix}.evidence`]: 'string[]',
});

const SCHEMA: Record<string, FieldType> = {
  schemaVersion: 'number',
  labvmVersion: 'string',
  startedAt: 'string',
  durationSeconds: 'number',
  'environment.target': 'string',
  'environment.kernel': 'string',
  'environment.dockerVersion': 'string',
  'environment.lsm': 'string[]',
  'environment.apparmorEnabled': 'boolean',
  'environment.dockerSecurityOptions': 'string[]',
  'environment.method': 'string',
  ...ANSWER_FIELDS('pid'),
  'pid.host': 'number',
  'pid.container': 'number|null',
  'pid.nspid': 'number[]',
  'pid.same': 'boolean',
  ...ANSWER_FIELDS('stopContainer'),
  'stopContainer.processSurvived': 'boolean',
  ...ANSWER_FIELDS('killFromInside'),
  'killFromInside.killed': 'boolean',
  'killFromInside.exitCode': 'number',
  'killFromInside.stderr': 'string',
  controls: 'array',
  evidence: 'object',
  'evidence.sleep': 'object',
  'evidence.kill': 'object',
};

function typeOf(value: unknown): FieldType | 'undefined' | 'other' {
  if (value === null) return 'number|null';
  if (Array.isArray(value)) {
    if (value.length && value.every((v) => typeof v === 'number')) return 'number[]';
    if (value.length && value.every((v) => typeof v === 'string')) return 'string[]';
    return 'array';
  }
  const t = typeof value;
  return t === 'string' || t === 'number' || t === 'boolean' || t === 'object' || t === 'undefined' ? t : 'other';
}

function fits(actual: ReturnType<typeof typeOf>, expected: FieldType): boolean {
  if (expected === 'number|null') return actual === 'number' || actual === 'number|null';
  if (expected.endsWith('[]')) return actual === expected || actual === 'array'; // an empty array fits any element type
  return actual === expected;
}

function schemaErrors(json: unknown): string[] {
  const errors = Object.entries(SCHEMA).flatMap(([path, expected]) => {
    const value = path.split('.').reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], json);
    const actual = typeOf(value);
    const emptyArrayOk = expected.endsWith('[]') && Array.isArray(value) && value.length === 0;
    const wrongArray = actual === 'array' && !emptyArrayOk && expected !== 'array';
    return fits(actual, expected) && !wrongArray ? [] : [`${path}: ${actual}, expected ${expected}`];
  });
  const j = json as { schemaVersion?: unknown; controls?: Array<{ answers?: Array<{ kind?: unknown }> }> };
  if (j.schemaVersion !== 1) errors.push('schemaVersion is not 1');
  for (const control of j.controls ?? []) {
    for (const a of control.answers ?? [])
      if (!['pid', 'stopContainer', 'killFromInside'].includes(String(a.kind)))
        errors.push(`control answer kind ${String(a.kind)}`);
  }
  return errors;
}

describe("process table: the init's PID in the container comes from the ps listing", () => {
  const initRow = (evidence: Evidence) =>
    renderTerminal(buildReport(evidence, META), { color: false })
      .split('\n')
      .find((line) => / \(init\)\s/.test(line))!;

  it('shows the PID ps listed for the nginx master', () => {
    const evidence = variant(noLsm(), (e) => {
      e.sleep.psAux = e.sleep.psAux.replace(/^(root\s+)1(\s.*nginx: master)/m, '$17$2');
    });
    assert.match(initRow(evidence), /^nginx \(init\)\s+\d+\s+7\s/);
  });

  it('shows — when ps did not list an nginx master', () => {
    const evidence = variant(noLsm(), (e) => {
      e.sleep.psAux = e.sleep.psAux
        .split('\n')
        .filter((line) => !line.includes('nginx: master'))
        .join('\n');
    });
    assert.match(initRow(evidence), /^nginx \(init\)\s+\d+\s+—\s/);
  });

  it('names the init it observed: docker-init is PID 1 and nginx is not', () => {
    assert.match(initRow(dockerInit()), /^docker-init \(init\)\s+\d+\s+1\s/);
  });

  it('does not call an unnamed init nginx', () => {
    const evidence = variant(noLsm(), (e) => {
      delete e.container.initComm;
    });
    assert.match(initRow(evidence), /^PID 1 \(init\)\s+\d+\s+—\s/);
  });
});

describe("the report lists the same steps as commands, with this run's values", () => {
  for (const [name, load] of FIXTURES) {
    it(`${name}: terminal and Markdown show each command, and JSON carries them`, () => {
      const report = buildReport(load(), META);
      const { container, sleep, kill } = report.evidence;
      const plain = renderTerminal(report, { color: false, width: 120 });
      const md = renderMarkdown(report);
      const expected = [
        `docker run -d --name my-nginx-cntr -p 8080:80 ${container.image}`,
        "docker inspect --format '{{.State.Pid}}' my-nginx-cntr",
        `sudo nsenter --target ${container.hostPid} --mount --uts --ipc --net --pid -- sleep 600 &`,
        `grep NSpid /proc/${sleep.hostPid}/status`,
        'docker exec my-nginx-cntr ps aux',
        `docker exec my-nginx-cntr kill ${kill.targetPid}`,
        'docker stop -t 10 my-nginx-cntr',
      ];
      for (const command of expected) {
        assert.ok(plain.includes(command), `terminal: ${command}`);
        assert.ok(md.includes(command), `markdown: ${command}`);
      }
      assert.ok(plain.includes(`# exit ${kill.exitCode}`));
      assert.ok(toJson(report).commands.some((c) => c.command === `docker exec my-nginx-cntr kill ${kill.targetPid}`));
    });
  }
});

describe('on a Docker engine, the host-side commands go through the helper container', () => {
  const engine = (): Evidence =>
    variant(noLsm(), (e) => {
      e.environment.targetDetails = {
        kind: 'docker-engine',
        endpoint: 'unix:///var/run/docker.sock',
        endpointSource: 'the default socket',
        operatingSystem: 'Docker Desktop',
        kernelVersion: '6.10.14-linuxkit',
        nativeMethod: 'nsenter run from a privileged helper container',
        rootCommand: 'docker exec labvm-engine-helper',
        hostCommand: 'docker exec labvm-engine-helper',
        setupCommand:
          'docker run -d --name labvm-engine-helper --privileged --pid=host --net=host labvm/exercise sleep infinity',
      };
    });

  it('starts the helper, runs nsenter and the /proc reads in it, and removes it; no sudo', () => {
    const report = buildReport(engine(), META);
    const { container, sleep, stop } = report.evidence;
    const commands = toJson(report).commands.map((c) => c.command);
    for (const command of [
      'docker run -d --name labvm-engine-helper --privileged --pid=host --net=host labvm/exercise sleep infinity',
      `docker exec labvm-engine-helper nsenter --target ${container.hostPid} --mount --uts --ipc --net --pid -- sleep 600 &`,
      `docker exec labvm-engine-helper grep NSpid /proc/${sleep.hostPid}/status`,
      `docker exec labvm-engine-helper ps -p ${stop.hostPid} -o pid,args`,
    ])
      assert.ok(commands.includes(command), command);
    assert.ok(commands.some((c) => c.startsWith('docker rm -f ') && c.includes('labvm-engine-helper')));
    assert.ok(!commands.some((c) => c.includes('sudo')), commands.join('\n'));
  });

  it('the SSH targets keep sudo', () => {
    const commands = toJson(buildReport(noLsm(), META)).commands.map((c) => c.command);
    assert.ok(commands.some((c) => c.startsWith('sudo nsenter ')));
    assert.ok(!commands.some((c) => c.includes('labvm-engine-helper')));
  });
});
