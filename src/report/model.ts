import { answerAll, type Answers } from '../lab/answers.js';
import type { Evidence } from '../lab/evidence.js';

/** Everything one run of `labvm exercise` produced: what was observed, what it means, and when. */
export interface ExerciseReport {
  evidence: Evidence;
  answers: Answers;
  /** ISO 8601 time the exercise started. */
  startedAt: string;
  durationSeconds: number;
  labvmVersion: string;
  /** Set when the answers were recomputed from a saved report: the labvm version that wrote it. */
  recomputedFrom?: string;
}

export type ReportMeta = Pick<ExerciseReport, 'startedAt' | 'durationSeconds' | 'labvmVersion'>;

export function buildReport(evidence: Evidence, meta: ReportMeta): ExerciseReport {
  return { evidence, answers: answerAll(evidence), ...meta };
}
