import { readFile } from 'node:fs/promises';
import { delimiter, dirname, join, resolve } from 'node:path';
import { LabvmError, errorMessage, usageError } from './errors.js';
import { fileSystemError } from './fs.js';
import { OTHER_HOME, labvmHome } from './state.js';
import {
  MAX_CPUS,
  MAX_DISK_BYTES,
  MAX_MEMORY_BYTES,
  MAX_TIMEOUT_SECONDS,
  MIN_DISK_BYTES,
  MIN_MEMORY_BYTES,
  parsePositiveInteger,
  parseSize,
} from './validate.js';
import { builtInDefaults, settingKeys, type SettingKey, type SettingValue } from './defaults.js';
import {
  LAPTOP_PROXY_VARIABLES,
  parseFingerprint,
  parseNoProxy,
  parseProxyUrl,
  parseRepositoryUrl,
  proxySecrets,
  readCaCertificates,
  redactUrl,
} from './network.js';
import { keepSecret } from './secrets.js';

/**
 * Teacher defaults: the values `up` and `exercise` use when no flag gives one. Each comes from, in order of
 * precedence: a flag, an environment variable, the config file ($LABVM_HOME/config.json or --config FILE), or
 * labvm's built-in value. The proxy settings have one more layer above the built-in "no proxy": this computer's own
 * HTTP(S)_PROXY and NO_PROXY. `labvm doctor` shows where each came from.
 */

export type SettingSource = 'flag' | 'env' | 'file' | 'built-in';

export interface Setting<T = string> {
  value: T;
  source: SettingSource;
  /** The flag, variable or file the value came from. */
  origin: string;
}

export type Settings = { [K in SettingKey]: Setting<SettingValue<K>> };

/** What a flag, variable or file gives for a setting: text, or a list of paths for caCertificates. */
type Given = string | readonly string[];

interface Spec {
  flag: string;
  env: string;
  /** The one check of a value, bounds included, wherever it came from; gives the value to use (normalized). */
  parse: (value: string, what: string) => string;
  /** This computer's variables, read when no flag, LABVM_ variable or file sets the value. */
  fallback?: readonly string[];
  /** A value to show in a hint, when the built-in one ("" for no proxy) shows nothing. */
  example?: string;
}

const keep =
  (check: (value: string, what: string) => unknown) =>
  (value: string, what: string): string => (check(value, what), value);

const SPEC: Record<Exclude<SettingKey, 'caCertificates'>, Spec> = {
  cpus: {
    flag: '--cpus',
    env: 'LABVM_CPUS',
    parse: keep((value, what) => parsePositiveInteger(value, what, MAX_CPUS)),
  },
  memory: {
    flag: '--memory',
    env: 'LABVM_MEMORY',
    parse: keep((value, what) => parseSize(value, what, MIN_MEMORY_BYTES, MAX_MEMORY_BYTES)),
  },
  disk: {
    flag: '--disk',
    env: 'LABVM_DISK',
    parse: keep((value, what) => parseSize(value, what, MIN_DISK_BYTES, MAX_DISK_BYTES)),
  },
  image: { flag: '--image', env: 'LABVM_IMAGE', parse: keep(nonEmpty) },
  baseImage: { flag: '--base-image', env: 'LABVM_BASE_IMAGE', parse: keep(nonEmpty) },
  timeout: {
    flag: '--timeout',
    env: 'LABVM_TIMEOUT',
    parse: keep((value, what) => parsePositiveInteger(value, what, MAX_TIMEOUT_SECONDS)),
  },
  dockerRepository: { flag: '--docker-repository', env: 'LABVM_DOCKER_REPOSITORY', parse: parseRepositoryUrl },
  dockerKeyFingerprint: {
    flag: '--docker-key-fingerprint',
    env: 'LABVM_DOCKER_KEY_FINGERPRINT',
    parse: parseFingerprint,
  },
  httpProxy: {
    flag: '--http-proxy',
    env: 'LABVM_HTTP_PROXY',
    parse: parseProxyUrl,
    fallback: LAPTOP_PROXY_VARIABLES.httpProxy,
    example: 'http://proxy.school.example:3128',
  },
  httpsProxy: {
    flag: '--https-proxy',
    env: 'LABVM_HTTPS_PROXY',
    parse: parseProxyUrl,
    fallback: LAPTOP_PROXY_VARIABLES.httpsProxy,
    example: 'http://proxy.school.example:3128',
  },
  noProxy: {
    flag: '--no-proxy',
    env: 'LABVM_NO_PROXY',
    parse: parseNoProxy,
    fallback: LAPTOP_PROXY_VARIABLES.noProxy,
    example: 'localhost,.school.example',
  },
};

/** caCertificates is a list of PEM files: the flag is repeated, the variable separates them with the OS's delimiter. */
const CA_CERTIFICATES = { flag: '--ca-certificate', env: 'LABVM_CA_CERTIFICATES' } as const;

const specOf = (key: SettingKey): { flag: string; env: string } =>
  key === 'caCertificates' ? CA_CERTIFICATES : SPEC[key];

export function settingEnvName(key: SettingKey): string {
  return specOf(key).env;
}

export function settingFlag(key: SettingKey): string {
  return specOf(key).flag;
}

/** The config file labvm reads: --config FILE, else $LABVM_HOME/config.json when it exists. */
export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(labvmHome(env), 'config.json');
}

/**
 * Resolves every setting. `flags` holds only the flags actually given. A bad value anywhere is an error naming
 * where it came from (exit 2): the flag, the variable, or the file and key. Relative CA certificate paths are read
 * from the current folder (flag, variable) or the config file's folder (file).
 */
export async function resolveSettings(
  flags: Partial<Record<SettingKey, Given | number>>,
  configFile?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Settings> {
  const file = await readConfigFile(
    configFile === undefined ? defaultConfigFile(env) : resolve(configFile),
    configFile !== undefined,
  );
  const pick = (key: SettingKey): Setting<Given> => {
    const { flag: flagName, env: envName } = specOf(key);
    const flag = flags[key];
    if (flag !== undefined && flag !== '' && !(Array.isArray(flag) && flag.length === 0))
      return checked(key, typeof flag === 'number' ? String(flag) : flag, 'flag', flagName);
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== '')
      return checked(
        key,
        key === 'caCertificates' ? fromEnv.split(delimiter).filter(Boolean) : fromEnv,
        'env',
        envName,
      );
    const fromFile = file?.values[key];
    if (fromFile !== undefined) return { value: fromFile, source: 'file', origin: file!.path };
    const laptop = key === 'caCertificates' ? undefined : SPEC[key].fallback?.find((name) => env[name]);
    if (laptop !== undefined) return checked(key, env[laptop]!, 'env', laptop);
    return { value: builtInDefaults[key], source: 'built-in', origin: 'labvm' };
  };
  return Object.fromEntries(settingKeys.map((key) => [key, pick(key)])) as Settings;
}

function checked(key: SettingKey, given: Given, source: SettingSource, origin: string): Setting<Given> {
  return { value: parseSetting(key, given, `${key} (${origin})`, process.cwd()), source, origin };
}

/** Checks one setting's value and gives the one to use; `base` is where relative CA certificate paths start. */
function parseSetting(key: SettingKey, given: Given, what: string, base: string): Given {
  if (key === 'caCertificates') {
    const files = (typeof given === 'string' ? [given] : given).map((file) => resolve(base, file));
    readCaCertificates(files, what);
    return files;
  }
  if (typeof given !== 'string') throw usageError(`The ${what} must be one value, not a list.`);
  return SPEC[key].parse(given, what);
}

/** Reads and checks the whole file: an unknown key or a bad value is an error naming the file and the key. */
async function readConfigFile(
  path: string,
  required: boolean,
): Promise<{ path: string; values: Partial<Record<SettingKey, Given>> } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (required)
      throw configError(path, `cannot be read: ${errorMessage(error)}`, 'Check the path given with --config.');
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // The file under LABVM_HOME is labvm's own place, like the instance folders: its failures are file-system errors.
    const failure = fileSystemError(error, 'read the config file', path, OTHER_HOME);
    throw failure instanceof LabvmError
      ? failure
      : configError(path, `cannot be read: ${errorMessage(error)}`, OTHER_HOME);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw configError(
      path,
      `is not valid JSON: ${errorMessage(error)}`,
      'Fix the file: it must be one JSON object, e.g. {"memory": "4G"}.',
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw configError(path, 'must hold one JSON object, e.g. {"memory": "4G"}', 'Fix the file.');
  }
  const values: Partial<Record<SettingKey, Given>> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!settingKeys.includes(key as SettingKey)) {
      throw configError(path, `has an unknown key "${key}"`, `Use only these keys: ${settingKeys.join(', ')}.`);
    }
    const setting = key as SettingKey;
    const example =
      setting === 'caCertificates' ? '["school-ca.pem"]' : `"${SPEC[setting].example ?? builtInDefaults[setting]}"`;
    const fix = `Fix "${key}" in the file, e.g. "${key}": ${example}.`;
    const list = Array.isArray(value) && value.every((item) => typeof item === 'string');
    if (setting === 'caCertificates' ? !list : typeof value !== 'string' && typeof value !== 'number') {
      const expected = setting === 'caCertificates' ? 'a list of file paths' : 'a string or a number';
      throw configError(path, `has a bad value for "${key}": expected ${expected}`, fix);
    }
    try {
      values[setting] = parseSetting(setting, list ? value : String(value), key, dirname(path));
    } catch (error) {
      throw configError(path, `has a bad value for "${key}": ${errorMessage(error).replace(/\.$/, '')}`, fix);
    }
  }
  return { path, values };
}

function configError(path: string, problem: string, hint: string): LabvmError {
  return new LabvmError(`The labvm config file ${path} ${problem}.`, 'usage', hint);
}

function nonEmpty(value: string, what: string): void {
  if (!value.trim()) throw new LabvmError(`The ${what} is empty.`, 'usage');
}

/** A setting as labvm shows it (doctor, --json): a proxy's credentials redacted, CA certificates as a list of files. */
export interface ShownSetting {
  key: SettingKey;
  value: string | string[];
  source: SettingSource;
  origin: string;
}

export function shownSettings<K extends SettingKey>(
  settings: Pick<Settings, K>,
  keys: readonly K[] = settingKeys as K[],
): ShownSetting[] {
  return keys.map((key) => {
    const { value, source, origin } = settings[key] as Setting<string | readonly string[]>;
    return { key, value: typeof value === 'string' ? redactUrl(value) : [...value], source, origin };
  });
}

/** Remembers the proxies' credentials as secrets of this run, so no log line or message shows them. */
export function keepProxySecrets(settings: Settings): void {
  for (const key of ['httpProxy', 'httpsProxy'] as const) keepSecret(...proxySecrets(settings[key].value));
}
