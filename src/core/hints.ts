// Commands that messages suggest, spelled once.
import { DEFAULT_NAME } from './defaults.js';

/** `labvm <command>` for the instance `name`, with --name unless it is the default. */
export function labvmCommand(command: string, name: string): string {
  return `labvm ${command}${name === DEFAULT_NAME ? '' : ` --name ${name}`}`;
}

export function upCommand(name: string): string {
  return labvmCommand('up', name);
}
