import type { ChildProcess } from 'node:child_process';

/** How a child process ended and what it printed. */
export interface ProcessOutput {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Collects a child's stdout and stderr (as UTF-8 text) until it closes. Rejects only when the child could not be
 * started (ENOENT, EACCES, EINVAL): a non-zero exit is the caller's to judge. The one spawn-and-collect in labvm.
 */
export function collectOutput(child: ChildProcess, onStdout?: (chunk: string) => void): Promise<ProcessOutput> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    onStdout?.(chunk);
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
