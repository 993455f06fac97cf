/**
 * Runs the built tests with `node --test`, the same way on Node 20, 22 and 24 and on every OS.
 *
 *   node dist/scripts/test.js [unit|e2e|FILE.test.js ...] [--node-test-flag[=value] ...]
 *
 * Why a script and not a folder or a glob in package.json: Node 20's test runner expands a folder but takes a
 * quoted glob literally, Node 21+ expands a quoted glob but no longer a folder, and an unquoted glob is expanded
 * by sh but not by cmd.exe (npm's shell on Windows). An explicit list of files means the same thing to all of them.
 * The reporter is named because the default differs too (Node 20 and 22 print TAP off a terminal, Node 24 spec).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST_TEST = join(dirname(fileURLToPath(import.meta.url)), '..', 'test');
const SUITES = ['unit', 'e2e'];
const REPORTER = '--test-reporter=spec';

/** The test files of a suite folder, in a stable order. */
function suiteFiles(suite: string): string[] {
  const dir = join(DIST_TEST, suite);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith('.test.js'))
    .sort()
    .map((file) => relative(process.cwd(), join(dir, file)));
}

/** Splits the arguments into `node --test` flags (given as --flag=value) and test files (suite names become their files). */
function testArguments(args: string[]): { flags: string[]; files: string[] } {
  const flags = args.filter((arg) => arg.startsWith('-'));
  const targets = args.filter((arg) => !arg.startsWith('-'));
  const files = (targets.length > 0 ? targets : SUITES).flatMap((target) =>
    SUITES.includes(target) ? suiteFiles(target) : [target],
  );
  return { flags, files };
}

function main(): void {
  const { flags, files } = testArguments(process.argv.slice(2));
  if (files.length === 0) {
    console.error('no test files found: run `npm run build` first');
    process.exit(2);
  }
  const reporter = flags.some((flag) => flag.startsWith('--test-reporter')) ? [] : [REPORTER];
  const child = spawn(process.execPath, ['--test', ...reporter, ...flags, ...files], { stdio: 'inherit' });
  // A terminal's Ctrl-C reaches the test runner itself; a signal sent to this process alone is passed on.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, forward);
  child.on('error', (error) => {
    console.error(`could not start ${process.execPath}: ${error.message}`);
    process.exitCode = 1;
  });
  child.on('close', (code, signal) => {
    process.exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
  });
}

main();
