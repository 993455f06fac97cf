// Waiting for an instance: its SSH port, then cloud-init; and the client's own --timeout timer.

import { waitUntil } from '../../src/core/wait.js';
import { BOOT_FINISHED, errorsOccurred, failed } from './common.js';
import { containerName, dockerExecOk, findInstance } from './instances.js';
import type { Spinner } from './output.js';

/** Polls `check` every `intervalMs` until it holds; false when `timeoutS` elapsed first. */
const pollUntil = (check: () => Promise<boolean>, timeoutS: number, intervalMs: number) =>
  waitUntil(check, { timeoutMs: timeoutS * 1000, intervalMs });

export async function waitForSsh(cmd: string, name: string, timeoutS: number) {
  const up = await pollUntil(
    async () => {
      const instance = await findInstance(name);
      if (!instance || instance.state === 'Stopped' || instance.state === 'Deleted')
        throw failed(cmd, `instance "${name}" stopped while booting; see: docker logs ${containerName(name)}`);
      return instance.state === 'Running';
    },
    timeoutS,
    500,
  );
  if (!up) throw errorsOccurred(cmd, [`${name}: timed out waiting for response`]);
}

export async function waitForCloudInit(cmd: string, name: string, timeoutS: number) {
  const done = await pollUntil(() => dockerExecOk(containerName(name), ['test', '-e', BOOT_FINISHED]), timeoutS, 1000);
  if (!done) throw errorsOccurred(cmd, ['timed out waiting for initialization to complete']);
}

/**
 * The client-side `--timeout` timer: when it fires, waits for `settled` (the daemon's side of the work
 * that must not be cut short), prints `message` and exits 5. The instance is left as it is.
 */
export function startClientTimer(
  timeoutS: number | undefined,
  spinner: Spinner,
  message: string,
  settled: () => Promise<unknown>,
) {
  if (timeoutS === undefined) return () => undefined;
  const timer = setTimeout(() => {
    void settled()
      .catch(() => undefined)
      .then(() => {
        spinner.stop();
        process.stderr.write(`${message}\n`);
        process.exit(5);
      });
  }, timeoutS * 1000);
  return () => clearTimeout(timer);
}
