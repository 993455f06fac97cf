import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectOutput } from '../../src/core/process.js';

/** Runs the real labvm CLI, with the Multipass test double, against real VM stand-ins. */

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
export const MULTIPASS_DOUBLE = join(ROOT, 'test', 'double', 'bin', 'multipass');
export const NGINX_BASE_IMAGE = 'labvm-test/nginx-base:latest';

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Why an e2e suite cannot run here, or undefined when it can (a Docker engine with the stand-in image). */
export function e2eUnavailable(): string | undefined {
  if (spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0)
    return 'no Docker engine: run `bash scripts/test-host/prepare.sh`';
  if (spawnSync('docker', ['image', 'inspect', 'labvm-test/vm-standin:latest'], { stdio: 'ignore' }).status !== 0) {
    return 'no VM stand-in image: run `bash scripts/test-host/prepare.sh`';
  }
  return undefined;
}

export class LabvmEnv {
  private constructor(
    readonly home: string,
    readonly extra: NodeJS.ProcessEnv,
  ) {}

  static async create(extra: NodeJS.ProcessEnv = {}): Promise<LabvmEnv> {
    return new LabvmEnv(await mkdtemp(join(tmpdir(), 'labvm-e2e-')), extra);
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, NO_COLOR: '1', LABVM_HOME: this.home, LABVM_MULTIPASS: MULTIPASS_DOUBLE, ...this.extra };
  }

  spawn(args: string[], extra: NodeJS.ProcessEnv = {}): ChildProcess {
    return spawn(process.execPath, [CLI, ...args], {
      env: { ...this.env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  run(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Run> {
    return finished(this.spawn(args, extra));
  }

  async dispose(): Promise<void> {
    await rm(this.home, { recursive: true, force: true });
  }
}

/** A spawned child's exit and output. */
export function finished(child: ChildProcess): Promise<Run> {
  return collectOutput(child);
}

/** Sends one SIGINT (as one Ctrl-C would) as soon as the child's stderr contains `text`. */
export function interruptWhen(child: ChildProcess, text: string): void {
  let stderr = '';
  let interrupted = false;
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (!interrupted && stderr.includes(text)) interrupted = child.kill('SIGINT');
  });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}`;
}

/** The docker CLI on this machine (the one that runs the stand-ins). */
export function docker(args: string[], input?: string): Run {
  const result = spawnSync('docker', args, { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  return { code: result.status, signal: result.signal, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

export function standinContainer(instance: string): string {
  return `multipass-double-${instance}`;
}

/** Runs a command inside the VM stand-in as root (the test's own view, independent of labvm). */
export function inVm(instance: string, script: string): Run {
  return docker(['exec', standinContainer(instance), 'sh', '-c', script]);
}

/** Loads the test's nginx base image into the stand-in's Docker (no registry is reachable here). */
export function loadImageIntoVm(instance: string, image = NGINX_BASE_IMAGE): void {
  const save = spawnSync(
    'sh',
    ['-c', `docker save ${image} | docker exec -i ${standinContainer(instance)} docker load`],
    { encoding: 'utf8' },
  );
  if (save.status !== 0) throw new Error(`could not load ${image} into ${instance}: ${save.stderr}`);
}

/** The Multipass test double, called directly (as a user would call multipass). */
export function multipassDouble(args: string[], input?: string, env: NodeJS.ProcessEnv = process.env): Run {
  const result = spawnSync(MULTIPASS_DOUBLE, args, { encoding: 'utf8', input, env });
  return { code: result.status, signal: result.signal, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** The state of one instance in `multipass info --format json` output. */
export function instanceState(infoJson: string, instance: string): string | undefined {
  return (JSON.parse(infoJson) as { info: Record<string, { state?: string } | undefined> }).info[instance]?.state;
}

/** Removes an instance through the double, whatever state it is in (test clean-up). */
export function purgeInstance(instance: string): void {
  multipassDouble(['delete', '--purge', instance]);
}

/** Everything on this machine that an instance could have left: containers and volumes named after it. */
export function leftoversOf(instance: string): string[] {
  const containers = docker(['ps', '-a', '--format', '{{.Names}}']).stdout.split('\n');
  const volumes = docker(['volume', 'ls', '--format', '{{.Name}}']).stdout.split('\n');
  return [...containers, ...volumes].filter((name) => name.includes(instance));
}

/** A labvm environment with a ready VM named `name` whose Docker has the exercise's base image. */
export async function labWithReadyVm(name: string): Promise<LabvmEnv> {
  const lab = await LabvmEnv.create();
  const up = await lab.run(['up', '--name', name, '--timeout', '300']);
  assert.equal(up.code, 0, up.stderr);
  loadImageIntoVm(name);
  return lab;
}
