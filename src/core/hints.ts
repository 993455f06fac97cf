/** Commands that messages suggest, spelled once. Kept free of heavy imports: the CLI loads it at start-up. */
export function upCommand(name: string): string {
  return `labvm up${name === 'labvm' ? '' : ` --name ${name}`}`;
}
