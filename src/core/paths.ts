import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The folder holding labvm's package.json, found from this module's location (works from src/ and dist/src/). */
export function projectRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'cloud-init'))) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('labvm could not find its own package folder (package.json beside cloud-init/)');
    dir = parent;
  }
  return (root = dir);
}

/** A file shipped with labvm, such as the exercise's Dockerfile. */
export function projectPath(...segments: string[]): string {
  return join(projectRoot(), ...segments);
}

let version: string | undefined;

/** labvm's version, from its package.json (one module with the root: the CLI's start-up loads as few as it can). */
export function labvmVersion(): string {
  version ??= (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version;
  return version;
}
