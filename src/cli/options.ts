import type { Command } from 'cac';
import { builtInDefaults } from '../core/defaults.js';
import { usageError } from '../core/errors.js';
import type { UpOptions } from '../commands/up.js';
import type { ExerciseCommandOptions } from '../commands/exercise.js';
import type { Settings } from '../core/settings.js';

/** What cac hands an action: values by camelCased option name, arrays for repeated options. */
export type RawOptions = Record<string, unknown>;

/**
 * cac parses with mri, which turns every numeric-looking value into a number ("24.10" becomes 24.1, "" becomes 0)
 * and gives cac no way to ask for a string. So each value of a value option is prefixed with a private-use
 * character, which no number parser accepts, and the prefix is removed when the value is read: labvm sees the
 * text as typed and parses numbers with its own validators.
 */
const MARK = '\uE000';

const camelCase = (name: string): string =>
  name.replace(/([a-z])-([a-z])/g, (_, a: string, b: string) => a + b.toUpperCase());

/** argv (node, script, then the arguments) with the values of `valueOptions` (camelCased names) marked. */
export function markValues(argv: readonly string[], valueOptions: ReadonlySet<string>): string[] {
  const marked = argv.slice(0, 2);
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return [...marked, ...argv.slice(i)];
    const option = /^--([^=]+)(?:=([\s\S]*))?$/.exec(arg);
    if (!option || !valueOptions.has(camelCase(option[1]!))) {
      marked.push(arg);
      continue;
    }
    // The parser reads --no-X as "X is false": a value option named so goes by its camelCased name instead.
    const name = option[1]!.startsWith('no-') ? camelCase(option[1]!) : option[1]!;
    if (option[2] !== undefined) {
      marked.push(`--${name}=${MARK}${option[2]}`);
    } else {
      marked.push(`--${name}`);
      const value = argv[i + 1];
      // A following option is not a value: cac then says the value is missing.
      if (value !== undefined && !value.startsWith('-')) marked.push(MARK + argv[++i]!);
    }
  }
  return marked;
}

/** Like most CLIs, labvm takes the last value of a repeated option. */
const lastOf = (value: unknown): unknown => (Array.isArray(value) ? (value as unknown[])[value.length - 1] : value);

/** The text given for `--flag` (the last one when repeated), or undefined when it was not given. */
export function optionalText(raw: RawOptions, key: string, flag: string): string | undefined {
  const value = lastOf(raw[key]);
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? (value.startsWith(MARK) ? value.slice(MARK.length) : value) : undefined;
  if (!text?.trim())
    throw usageError(`${flag} needs a value.`, `Give it one, e.g. \`${flag}=VALUE\`, or leave the option out.`);
  return text;
}

/** Every value given for a repeatable `--flag`, in order, or undefined when it was not given. */
export function optionalTexts(raw: RawOptions, key: string, flag: string): string[] | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? (value as unknown[]) : [value]).map((one) => optionalText({ [key]: one }, key, flag)!);
}

/** The same for an option with a default, which is therefore always there. */
export function text(raw: RawOptions, key: string, flag: string): string {
  const value = optionalText(raw, key, flag);
  if (value === undefined) throw usageError(`${flag} needs a value.`);
  return value;
}

export function flag(raw: RawOptions, key: string): boolean {
  return lastOf(raw[key]) === true;
}

export function nameOption(raw: RawOptions): string {
  return text(raw, 'name', '--name');
}

/** `settings`: the values flags, environment, config file or labvm's defaults gave, each checked there (core/settings.ts). */
export function upOptions(raw: RawOptions, settings: Settings): UpOptions {
  return {
    name: nameOption(raw),
    cpus: Number(settings.cpus.value),
    memory: settings.memory.value,
    disk: settings.disk.value,
    image: settings.image.value,
    timeoutSeconds: Number(settings.timeout.value),
    network: {
      dockerRepository: settings.dockerRepository,
      dockerKeyFingerprint: settings.dockerKeyFingerprint,
      httpProxy: settings.httpProxy,
      httpsProxy: settings.httpsProxy,
      noProxy: settings.noProxy,
      caCertificates: settings.caCertificates,
    },
  };
}

export function exerciseOptions(raw: RawOptions, settings: Settings): ExerciseCommandOptions {
  return {
    // Absent unless typed: --docker refuses a --name, and the VM target defaults it.
    name: optionalText(raw, 'name', '--name'),
    host: optionalText(raw, 'host', '--host'),
    identity: optionalText(raw, 'identity', '--identity'),
    docker: flag(raw, 'docker'),
    context: optionalText(raw, 'context', '--context'),
    method: text(raw, 'method', '--method'),
    baseImage: settings.baseImage.value,
    report: optionalText(raw, 'report', '--report'),
    force: flag(raw, 'force'),
    controls: flag(raw, 'controls'),
    keep: flag(raw, 'keep'),
  };
}

/** The network settings' flags, on `up` (which uses them) and `doctor` (which shows them `asFor` that command). */
export function withNetworkOptions(command: Command, asFor?: string): Command {
  const flags: Array<[string, string]> = [
    [
      '--docker-repository <url>',
      `Docker's apt repository, or a mirror keeping its layout (default: ${builtInDefaults.dockerRepository})`,
    ],
    [
      '--docker-key-fingerprint <hex>',
      `Fingerprint of the key that signs the repository (default: Docker's, ${builtInDefaults.dockerKeyFingerprint})`,
    ],
    ['--http-proxy <url>', "Proxy for http:// inside the VM, or none (default: this computer's http_proxy)"],
    ['--https-proxy <url>', "Proxy for https:// inside the VM, or none (default: this computer's https_proxy)"],
    ['--no-proxy <list>', "Hosts the VM reaches without the proxy (default: this computer's no_proxy)"],
    ['--ca-certificate <file>', "A PEM CA certificate the VM trusts, e.g. a TLS-inspecting proxy's (repeatable)"],
  ];
  for (const [name, description] of flags)
    command.option(name, asFor ? `Show as for \`${asFor} ${name.split(' ')[0]}\`` : description);
  // cac reads any --no-X as the negation of X; --no-proxy takes a value instead (markValues passes it as noProxy).
  const noProxy = command.options.find((option) => option.rawName.startsWith('--no-proxy'))!;
  Object.assign(noProxy, { negated: false, names: ['noProxy'], name: 'noProxy' });
  noProxy.config.default = undefined;
  return command;
}
