/**
 * Ctrl-C handling: a command that must clean up registers an AbortController and gets the first Ctrl-C as an
 * abort; without one (or on a second Ctrl-C) the process exits at once.
 */
let active: AbortController | undefined;

export function abortOnInterrupt(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  active = controller;
  return { signal: controller.signal, dispose: () => active === controller && (active = undefined) };
}

/** Called by the CLI's SIGINT handler: true when a command took the interrupt and will clean up and exit. */
export function deliverInterrupt(): boolean {
  if (!active || active.signal.aborted) return false;
  active.abort();
  return true;
}
