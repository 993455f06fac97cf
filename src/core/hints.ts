/** Commands that messages suggest, spelled once. Kept free of heavy imports: the CLI loads it at start-up. */
export const DEFAULT_NAME = 'labvm';

/** `labvm <command>` for the instance `name`, with --name unless it is the default. */
export function labvmCommand(command: string, name: string): string {
  return `labvm ${command}${name === DEFAULT_NAME ? '' : ` --name ${name}`}`;
}

export function upCommand(name: string): string {
  return labvmCommand('up', name);
}
