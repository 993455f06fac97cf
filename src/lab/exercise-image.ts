import { projectPath } from '../core/paths.js';
import { LabvmError } from '../core/errors.js';
import { waitUntil } from '../core/wait.js';
import type { ExerciseHost } from './host.js';

export const EXERCISE_IMAGE = 'labvm-exercise:latest';

interface BuildEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Builds nginx + procps from the Dockerfile shipped in src/lab/image, streaming the build's output lines. */
export async function buildExerciseImage(
  host: ExerciseHost,
  baseImage: string,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  const builder = host.builder;
  const stream = await builder.buildImage(
    { context: projectPath('src', 'lab', 'image'), src: ['Dockerfile'] },
    // Ctrl-C drops the request, and the engine cancels a build whose client went away.
    { t: EXERCISE_IMAGE, buildargs: { BASE_IMAGE: baseImage }, rm: true, forcerm: true, abortSignal: signal },
  );
  const intermediates: string[] = [];
  const events = await new Promise<BuildEvent[]>((resolve, reject) => {
    builder.modem.followProgress(
      stream,
      (error: Error | null, output: BuildEvent[]) => (error ? reject(error) : resolve(output)),
      (event: BuildEvent) => {
        const line = (event.stream ?? event.status ?? '').trim();
        const intermediate = /^---> Running in ([0-9a-f]{12,64})$/.exec(line)?.[1];
        if (intermediate) intermediates.push(intermediate);
        const step = buildStep(line);
        if (step) onLine(step);
      },
    );
  }).catch(async (error: unknown) => {
    // A cancelled build leaves its step's container for the engine to remove later: remove it now.
    await Promise.all(intermediates.map((id) => removeContainerAndWait(host, id)));
    throw error;
  });
  const failure = events.find((event) => event.error);
  if (failure) {
    const message = failure.errorDetail?.message ?? failure.error ?? 'unknown error';
    throw new LabvmError(
      `Building the exercise image from ${baseImage} failed: ${message}`,
      'exercise',
      /pull|manifest|not found|resolve|dial tcp|lookup/i.test(message)
        ? `The host could not get ${baseImage}. Check its internet access, or pass --base-image with an image it has or can pull (a mirror).`
        : 'Run the exercise again; the build output above says which step failed.',
    );
  }
  return EXERCISE_IMAGE;
}

/** Removes a container and waits until the engine no longer knows it (409 "removal already in progress" meanwhile). */
async function removeContainerAndWait(host: ExerciseHost, id: string): Promise<void> {
  const container = host.docker.getContainer(id);
  const gone = () =>
    container.remove({ force: true }).then(
      () => false,
      (error: { statusCode?: number }) => error.statusCode === 404,
    );
  // The build's own error is what the user must see: a container still going after 10 s is left to the engine.
  await waitUntil(gone, { timeoutMs: 10_000, intervalMs: 200 });
}

const STEP_WIDTH = 72;

/** "Step 2/3 : RUN apt-get update && ..." as a short progress detail; other build output is not shown. */
export function buildStep(line: string): string | undefined {
  const step = /^Step (\d+\/\d+) : (.*)$/s.exec(line);
  if (!step) return undefined;
  const text = `step ${step[1]}: ${step[2]!.replace(/\s+/g, ' ')}`;
  return text.length > STEP_WIDTH ? `${text.slice(0, STEP_WIDTH - 1)}…` : text;
}
