/**
 * The report as a JSON-ready object. This shape is a public interface, documented in the README (JSON output): add fields
 * freely, but rename or remove one only together with a new schemaVersion.
 */
import type { KillAnswer, PidAnswer, StopAnswer } from '../lab/answers.js';
import type { Evidence } from '../lab/evidence.js';
import { equivalentCommands, type EquivalentCommand } from './commands.js';
import type { ExerciseReport } from './model.js';
import type { AnyAnswer, QuestionKey } from './shared.js';

export const SCHEMA_VERSION = 1;

interface JsonAnswer {
  question: string;
  answer: string;
  cause: string;
  explanation: string;
  evidence: string[];
}

export interface ReportJson {
  schemaVersion: typeof SCHEMA_VERSION;
  labvmVersion: string;
  startedAt: string;
  durationSeconds: number;
  environment: {
    target: string;
    kernel: string;
    dockerVersion: string;
    lsm: string[];
    apparmorEnabled: boolean;
    dockerSecurityOptions: string[];
    method: string;
  } & Partial<TargetJson>;
  pid: JsonAnswer & { host: number; container: number | null; nspid: number[]; same: boolean };
  stopContainer: JsonAnswer & { processSurvived: boolean };
  killFromInside: JsonAnswer & { killed: boolean; exitCode: number; stderr: string };
  controls: Array<{ name: string; description: string; answers: Array<JsonAnswer & { kind: QuestionKey }> }>;
  /** The same steps as docker/shell commands, with this run's values (added within schemaVersion 1). */
  commands: EquivalentCommand[];
  evidence: Evidence;
}

/** Where the exercise ran (added within schemaVersion 1; absent for evidence recorded without it). */
interface TargetJson {
  targetKind: 'vm' | 'ssh-host' | 'docker-engine';
  endpoint: string;
  endpointSource: string;
  dockerOperatingSystem: string;
  dockerKernelVersion: string;
  nativeMethod: string;
}

function targetJson(details: Evidence['environment']['targetDetails']): Partial<TargetJson> {
  if (!details) return {};
  return {
    targetKind: details.kind,
    endpoint: details.endpoint,
    ...(details.endpointSource ? { endpointSource: details.endpointSource } : {}),
    dockerOperatingSystem: details.operatingSystem,
    dockerKernelVersion: details.kernelVersion,
    nativeMethod: details.nativeMethod,
  };
}

function common(a: AnyAnswer): JsonAnswer {
  return {
    question: a.question,
    answer: a.answer,
    cause: a.cause,
    explanation: a.explanation,
    evidence: [...a.evidence],
  };
}

const pid = (a: PidAnswer) => ({
  ...common(a),
  host: a.host,
  container: a.container,
  nspid: [...a.nspid],
  same: a.same,
});
const stop = (a: StopAnswer) => ({ ...common(a), processSurvived: a.processSurvived });
const kill = (a: KillAnswer) => ({ ...common(a), killed: a.killed, exitCode: a.exitCode, stderr: a.stderr });

/** A control's answer with the same fields as the main answer of its kind. */
function specific(a: AnyAnswer): JsonAnswer {
  switch (a.kind) {
    case 'pid':
      return pid(a);
    case 'stopContainer':
      return stop(a);
    case 'killFromInside':
      return kill(a);
  }
}

export function toJson(report: ExerciseReport): ReportJson {
  const { evidence, answers } = report;
  const env = evidence.environment;
  return {
    schemaVersion: SCHEMA_VERSION,
    labvmVersion: report.labvmVersion,
    startedAt: report.startedAt,
    durationSeconds: report.durationSeconds,
    environment: {
      target: env.target,
      kernel: env.kernel,
      dockerVersion: env.dockerVersion,
      lsm: [...env.lsms],
      apparmorEnabled: env.apparmorEnabled,
      dockerSecurityOptions: [...env.dockerSecurityOptions],
      method: env.method,
      ...targetJson(env.targetDetails),
    },
    pid: pid(answers.pid),
    stopContainer: stop(answers.stopContainer),
    killFromInside: kill(answers.killFromInside),
    controls: answers.controls.map((c) => ({
      name: c.name,
      description: c.description,
      answers: c.answers.map((a) => ({ kind: a.kind, ...specific(a) })),
    })),
    commands: equivalentCommands(evidence),
    evidence: structuredClone(evidence),
  };
}
