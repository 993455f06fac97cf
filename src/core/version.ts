import { readFileSync } from 'node:fs';
import { projectRoot } from './paths.js';
import { join } from 'node:path';

let cached: string | undefined;

export function labvmVersion(): string {
  cached ??= (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return cached;
}
