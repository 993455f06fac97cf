/** Commands that messages suggest, spelled once. Kept free of heavy imports: the CLI loads it at start-up. */

/** The instance every command uses when no --name is given. */
export const DEFAULT_INSTANCE = 'labvm';

/** ` --name NAME`, or nothing for the default instance: what a suggested command needs to reach the same VM. */
export function nameOption(name: string): string {
  return name === DEFAULT_INSTANCE ? '' : ` --name ${name}`;
}

export function upCommand(name: string): string {
  return `labvm up${nameOption(name)}`;
}
