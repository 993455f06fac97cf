import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { projectPath } from '../core/paths.js';
import { LabvmError } from '../core/errors.js';
import { waitUntil } from '../core/wait.js';
import type { ExerciseHost } from './host.js';

export const EXERCISE_IMAGE = 'labvm-exercise:latest';
/** What an exercise image was built from: the hash of the Dockerfile and of the base image's ID. */
const RECIPE_LABEL = 'org.labvm.recipe';
const CONTEXT_DIR = projectPath('src', 'lab', 'image');

interface BuildEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

export interface ExerciseImage {
  name: string;
  /** False when the image already there was built from this Dockerfile on the base image as it is now. */
  built: boolean;
}

/**
 * Builds nginx + procps from the Dockerfile shipped in src/lab/image, streaming the build's output lines; an image
 * built earlier from the same Dockerfile on the same base image is used as it is, which a build would only confirm.
 */
export async function buildExerciseImage(
  host: ExerciseHost,
  baseImage: string,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<ExerciseImage> {
  const dockerfile = await readFile(join(CONTEXT_DIR, 'Dockerfile'), 'utf8');
  const [base, image] = await Promise.all([
    inspectImage(host.docker, baseImage),
    inspectImage(host.docker, EXERCISE_IMAGE),
  ]);
  // A base image the engine does not have yet is pulled by the build: its ID, and so the recipe, is known next time.
  const recipe = base ? recipeOf(dockerfile, base.Id) : undefined;
  if (recipe && image?.Config.Labels?.[RECIPE_LABEL] === recipe) return { name: EXERCISE_IMAGE, built: false };
  const builder = host.builder;
  const stream = await builder.buildImage(
    { context: CONTEXT_DIR, src: ['Dockerfile'] },
    // Ctrl-C drops the request, and the engine cancels a build whose client went away.
    {
      t: EXERCISE_IMAGE,
      buildargs: { BASE_IMAGE: baseImage },
      labels: recipe ? { [RECIPE_LABEL]: recipe } : {},
      rm: true,
      forcerm: true,
      abortSignal: signal,
    },
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
  return { name: EXERCISE_IMAGE, built: true };
}

/**
 * The Dockerfile and the base image's ID: another labvm's Dockerfile, another --base-image, or the same name pulled
 * again since, each give another recipe, and so a build.
 */
function recipeOf(dockerfile: string, baseImageId: string): string {
  return createHash('sha256').update(`${dockerfile}\n${baseImageId}`).digest('hex');
}

function inspectImage(docker: Docker, name: string): Promise<Docker.ImageInspectInfo | undefined> {
  return docker
    .getImage(name)
    .inspect()
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode === 404) return undefined;
      throw error;
    });
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
