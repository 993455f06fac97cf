import { projectPath } from '../core/paths.js';
import { LabvmError } from '../core/errors.js';
import type { LabHost } from './host.js';

export const EXERCISE_IMAGE = 'labvm-exercise:latest';

interface BuildEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Builds nginx + procps from the Dockerfile shipped in src/lab/image, streaming the build's output lines. */
export async function buildExerciseImage(host: LabHost, baseImage: string, onLine: (line: string) => void): Promise<string> {
  const builder = host.remote.docker.builder;
  const stream = await builder.buildImage(
    { context: projectPath('src', 'lab', 'image'), src: ['Dockerfile'] },
    { t: EXERCISE_IMAGE, buildargs: { BASE_IMAGE: baseImage }, rm: true, forcerm: true },
  );
  const events = await new Promise<BuildEvent[]>((resolve, reject) => {
    builder.modem.followProgress(stream, (error: Error | null, output: BuildEvent[]) => (error ? reject(error) : resolve(output)),
      (event: BuildEvent) => {
        const line = (event.stream ?? event.status ?? '').trim();
        if (line) onLine(line);
      });
  });
  const failure = events.find((event) => event.error);
  if (failure) {
    const message = failure.errorDetail?.message ?? failure.error ?? 'unknown error';
    throw new LabvmError(`Building the exercise image from ${baseImage} failed: ${message}`, 'exercise',
      /pull|manifest|not found|resolve|dial tcp|lookup/i.test(message)
        ? `The host could not get ${baseImage}. Check its internet access, or pass --base-image with an image it has or can pull (a mirror).`
        : 'Run the exercise again; the build output above says which step failed.');
  }
  return EXERCISE_IMAGE;
}
