/**
 * Node exits when nothing is left to do. If the command's promise is still pending then, something never answered
 * (a bug): `report` runs once so the process says so and fails, instead of exiting 0 with nothing printed.
 * Returns the function to call once the command has settled.
 */
export function reportIfUnsettled(report: () => void): () => void {
  let settled = false;
  process.on('beforeExit', () => {
    if (settled) return;
    settled = true;
    report();
  });
  return () => {
    settled = true;
  };
}
