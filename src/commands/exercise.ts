import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { LabvmError, usageError } from '../core/errors.js';
import { abortOnInterrupt } from '../core/interrupt.js';
import type { Progress } from '../core/progress.js';
import { InstanceState } from '../core/state.js';
import { validateInstanceName } from '../core/validate.js';
import { labvmVersion } from '../core/version.js';
import type { Method } from '../lab/evidence.js';
import { gatherEvidence } from '../lab/run.js';
import { keysFromKnownHosts, readKnownHosts } from '../remote/host-keys.js';
import { RemoteHost, type SshTarget } from '../remote/ssh.js';
import { buildReport, type ExerciseReport } from '../report/model.js';
import { renderMarkdown } from '../report/markdown.js';
import { renderTerminal } from '../report/terminal.js';
import { toJson } from '../report/json.js';
import { connectToInstance } from '../vm/instance.js';
import { Multipass } from '../vm/multipass.js';

export interface ExerciseCommandOptions {
  name: string;
  host?: string;
  identity?: string;
  method: string;
  baseImage: string;
  report?: string;
  json?: boolean;
  controls?: boolean;
  keep?: boolean;
}

export interface Output {
  progress: Progress;
  print: (text: string) => void;
  color: boolean;
}

export async function runExerciseCommand(options: ExerciseCommandOptions, output: Output): Promise<ExerciseReport> {
  const method = parseMethod(options.method);
  if (options.report && !options.report.toLowerCase().endsWith('.md')) throw usageError(`--report needs a .md file name, got "${options.report}".`);
  const { signal, dispose } = abortOnInterrupt();
  const remote = await output.progress.phase('connecting over SSH', () => connect(options));
  const startedAt = new Date();
  try {
    const evidence = await gatherEvidence(remote, {
      target: remote.target.label, method, baseImage: options.baseImage,
      controls: !!options.controls, keep: !!options.keep, signal,
    }, output.progress);
    const report = buildReport(evidence, {
      startedAt: startedAt.toISOString(), durationSeconds: (Date.now() - startedAt.getTime()) / 1000, labvmVersion: labvmVersion(),
    });
    if (options.report) await writeFile(resolve(options.report), renderMarkdown(report), 'utf8');
    output.print(options.json ? JSON.stringify(toJson(report), null, 2) : renderTerminal(report, { color: output.color }).trimEnd());
    if (options.report && !options.json) output.print(`Markdown report written to ${resolve(options.report)}`);
    return report;
  } finally {
    dispose();
    remote.close();
  }
}

function parseMethod(method: string): Method {
  if (method === 'native' || method === 'container') return method;
  throw usageError(`Unknown --method "${method}".`, 'Use --method native (the host\'s nsenter) or --method container (a helper container).');
}

async function connect(options: ExerciseCommandOptions): Promise<RemoteHost> {
  if (options.host) return RemoteHost.connect(await hostTarget(options.host, options.identity));
  if (options.identity) throw usageError('--identity goes with --host.');
  return connectToLabvmInstance(options.name);
}

async function connectToLabvmInstance(name: string): Promise<RemoteHost> {
  validateInstanceName(name);
  const state = new InstanceState(name);
  const record = await state.readRecord();
  const hint = `Run \`labvm up${name === 'labvm' ? '' : ` --name ${name}`}\` first.`;
  if (!record) throw new LabvmError(`There is no labvm VM named "${name}".`, 'vm', hint);
  const info = await new Multipass().info(name);
  if (!info || info.state !== 'Running' || !info.ipv4) {
    throw new LabvmError(`The VM "${name}" is ${info ? `${info.state}${info.ipv4 ? '' : ' without an IP address'}` : 'missing'}.`, 'vm', hint);
  }
  return connectToInstance(state, record, info.ipv4);
}

/** user@addr[:port], with IPv6 addresses in brackets: user@[fe80::1]:2222. */
export function parseHostSpec(spec: string): { username: string; host: string; port: number } {
  // Like ssh, the last @ separates the user (which may itself contain @) from the address.
  const match = /^(\S+)@(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(spec);
  if (!match) throw usageError(`--host "${spec}" is not of the form user@address[:port].`);
  const port = match[3] ? Number(match[3]) : 22;
  if (port < 1 || port > 65535) throw usageError(`--host "${spec}" has an invalid port.`);
  return { username: match[1]!, host: match[2]!.replace(/^\[|\]$/g, ''), port };
}

/** Another host: trusted only through the user's own known_hosts, as `ssh` itself would. */
async function hostTarget(spec: string, identity: string | undefined): Promise<SshTarget> {
  const { username, host, port } = parseHostSpec(spec);
  const knownHostsFile = join(homedir(), '.ssh', 'known_hosts');
  const { accepted, revoked } = keysFromKnownHosts(await readKnownHosts(knownHostsFile), host, port);
  const trusted = accepted.filter((key) => !revoked.some((bad) => bad.equals(key)));
  const connectFirst = `Connect once with \`ssh ${port === 22 ? '' : `-p ${port} `}${username}@${host}\`, check the fingerprint it shows, and accept it; then run labvm again.`;
  if (!trusted.length) throw new LabvmError(`${host} has no trusted host key in ${knownHostsFile}.`, 'trust', connectFirst);
  const keyFile = identity ?? await defaultIdentity();
  const privateKey = await readFile(keyFile, 'utf8').catch(() => {
    throw usageError(`Cannot read the private key ${keyFile}.`, 'Pass the key that logs you in to that host with --identity.');
  });
  return {
    host, port, username, privateKey, trustedHostKeys: trusted,
    trustSource: `the key recorded for it in ${knownHostsFile}`,
    label: `${username}@${host}`,
    trustHint: `If the host was reinstalled, verify its new fingerprint, update ${knownHostsFile} (ssh-keygen -R ${host}), and try again.`,
  };
}

async function defaultIdentity(): Promise<string> {
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const file = join(homedir(), '.ssh', name);
    if (await readFile(file).then(() => true, () => false)) return file;
  }
  throw usageError('No --identity given and no ~/.ssh/id_ed25519, id_ecdsa or id_rsa found.', 'Pass the private key for that host with --identity.');
}
