/** Exit codes are part of labvm's interface: scripts and the README rely on them. */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  prerequisite: 3,
  vm: 4,
  timeout: 5,
  trust: 6,
  exercise: 7,
  busy: 8,
  interrupted: 130,
} as const;

export type ExitCodeName = keyof typeof ExitCode;

/**
 * An error meant for the user: what went wrong (message), what to do next (hint),
 * and which exit code the process ends with. `cause` keeps the error underneath, for the debug output.
 */
export class LabvmError extends Error {
  constructor(
    message: string,
    readonly kind: ExitCodeName,
    readonly hint?: string,
    readonly details?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LabvmError';
  }

  get exitCode(): number {
    return ExitCode[this.kind];
  }
}

export const usageError = (message: string, hint?: string) => new LabvmError(message, 'usage', hint);

/** The errors underneath an error, outermost first (the error itself excluded). */
export function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current = error;
  while (
    current instanceof Error &&
    current.cause !== undefined &&
    current.cause !== error &&
    !chain.includes(current.cause)
  ) {
    chain.push(current.cause);
    current = current.cause;
  }
  return chain;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Docker API errors carry the engine's own words in json.message; prefer them to "HTTP code 409". */
export function dockerErrorMessage(error: unknown): string {
  const fromEngine = (error as { json?: { message?: string } } | undefined)?.json?.message;
  return fromEngine ?? errorMessage(error);
}
