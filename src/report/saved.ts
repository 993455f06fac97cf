/**
 * Reading a saved `labvm exercise --json` report back: checks that it is one, and rebuilds the report with answers
 * recomputed from its evidence by this labvm. Fields added to the evidence after a report was written are simply
 * missing from it, and answers.ts treats a missing observation as not observed.
 */
import { usageError } from '../core/errors.js';
import { answerAll, type Answers } from '../lab/answers.js';
import type { Evidence } from '../lab/evidence.js';
import { SCHEMA_VERSION } from './json.js';
import type { ExerciseReport } from './model.js';

/** The evidence fields every labvm report since schemaVersion 1 has, with their typeof. */
export const EVIDENCE_SHAPE: Record<string, Record<string, string>> = {
  environment: {
    target: 'string',
    kernel: 'string',
    dockerVersion: 'string',
    lsms: 'object',
    apparmorEnabled: 'boolean',
    dockerSecurityOptions: 'object',
    method: 'string',
  },
  container: {
    name: 'string',
    id: 'string',
    image: 'string',
    hostPid: 'number',
    appArmorProfile: 'string',
    http: 'object',
  },
  sleep: {
    hostPid: 'number',
    nspid: 'object',
    pidNamespace: 'string',
    containerPidNamespace: 'string',
    cgroup: 'string',
    inContainerCgroup: 'boolean',
    listedByDockerTop: 'boolean',
    psAux: 'string',
  },
  kill: {
    targetPid: 'number',
    command: 'object',
    exitCode: 'number',
    stdout: 'string',
    stderr: 'string',
    processGone: 'boolean',
  },
  stop: {
    hostPid: 'number',
    nspid: 'object',
    inContainerCgroup: 'boolean',
    stopSeconds: 'number',
    processSurvived: 'boolean',
    containerExitCode: 'number',
  },
};

/** The first field that does not have its expected type ("kill.exitCode is string, expected number"), or undefined. */
export function evidenceShapeProblem(value: unknown): string | undefined {
  const sections = value as Record<string, Record<string, unknown> | undefined> | null;
  if (typeof sections !== 'object' || sections === null) return 'evidence is missing';
  for (const [section, fields] of Object.entries(EVIDENCE_SHAPE)) {
    for (const [field, type] of Object.entries(fields)) {
      const actual = typeof sections[section]?.[field];
      if (actual !== type) return `evidence.${section}.${field} is ${actual}, expected ${type}`;
    }
  }
  return Array.isArray(sections['controls']) ? undefined : 'evidence.controls is not a list';
}

interface StoredAnswer {
  cause?: unknown;
  answer?: unknown;
}

export interface SavedReport {
  report: ExerciseReport;
  /** The labvm version that wrote the file. */
  writtenBy: string;
  /** Where the answers stored in the file differ from the recomputed ones, in words; empty when they agree. */
  differences: string[];
}

/** Parses the text of a saved report; bad input is a usage error (exit 2) that names the problem. */
export function readSavedReport(text: string, file: string, labvmVersion: string): SavedReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw usageError(
      `${file} is not JSON (${(error as Error).message}).`,
      'Pass a file written by `labvm exercise --json > FILE.json`.',
    );
  }
  const saved = value as {
    schemaVersion?: unknown;
    labvmVersion?: unknown;
    startedAt?: unknown;
    durationSeconds?: unknown;
    evidence?: unknown;
  } | null;
  if (typeof saved !== 'object' || saved === null || typeof saved.schemaVersion !== 'number') {
    throw usageError(
      `${file} is not a labvm report (it has no schemaVersion).`,
      'Pass a file written by `labvm exercise --json > FILE.json`.',
    );
  }
  if (saved.schemaVersion > SCHEMA_VERSION) {
    throw usageError(
      `${file} was written by a newer labvm (schemaVersion ${saved.schemaVersion}); this labvm ${labvmVersion} reads schemaVersion ${SCHEMA_VERSION}.`,
      'Update labvm (npm install -g labvm), then run `labvm report` again.',
    );
  }
  const problem = evidenceShapeProblem(saved.evidence);
  if (saved.schemaVersion < 1 || problem) {
    throw usageError(
      `${file} is not a labvm report it can read: ${problem ?? `schemaVersion ${saved.schemaVersion}`}.`,
      'Pass the unedited file written by `labvm exercise --json`.',
    );
  }
  const evidence = saved.evidence as Evidence;
  const answers = answerAll(evidence);
  const writtenBy = typeof saved.labvmVersion === 'string' ? saved.labvmVersion : 'an unknown version';
  return {
    report: {
      evidence,
      answers,
      labvmVersion,
      startedAt: typeof saved.startedAt === 'string' ? saved.startedAt : 'an unknown time',
      durationSeconds: typeof saved.durationSeconds === 'number' ? saved.durationSeconds : 0,
      recomputedFrom: writtenBy,
    },
    writtenBy,
    differences: differences(value as Record<string, unknown>, answers),
  };
}

function differences(stored: Record<string, unknown>, recomputed: Answers): string[] {
  const found: string[] = [];
  const compare = (where: string, old: StoredAnswer | undefined, now: { cause: string; answer: string }) => {
    if (old?.cause !== now.cause)
      found.push(`${where}: the file says cause "${String(old?.cause)}", the evidence gives "${now.cause}"`);
    else if (old?.answer !== now.answer)
      found.push(`${where}: the file says "${String(old?.answer)}", the evidence gives "${now.answer}"`);
  };
  compare('question 1', stored['pid'] as StoredAnswer | undefined, recomputed.pid);
  compare('question 2', stored['stopContainer'] as StoredAnswer | undefined, recomputed.stopContainer);
  compare('question 3', stored['killFromInside'] as StoredAnswer | undefined, recomputed.killFromInside);
  const storedControls = Array.isArray(stored['controls'])
    ? (stored['controls'] as Array<{ name?: unknown; answers?: StoredAnswer[] }>)
    : [];
  for (const control of recomputed.controls) {
    const old = storedControls.find((c) => c.name === control.name);
    control.answers.forEach((answer, index) =>
      compare(`control ${control.name}, answer ${index + 1}`, old?.answers?.[index], answer),
    );
  }
  return found;
}
