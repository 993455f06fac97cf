import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LabvmError, errorMessage } from './errors.js';
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
import { builtInDefaults, settingKeys, type SettingKey } from './defaults.js';

/**
 * Teacher defaults: the values `up` and `exercise` use when no flag gives one. Each comes from, in order of
 * precedence: a flag, an environment variable, the config file ($LABVM_HOME/config.json or --config FILE), or
 * labvm's built-in value. `labvm doctor` shows where each came from.
 */

export type SettingSource = 'flag' | 'env' | 'file' | 'built-in';

export interface Setting {
  value: string;
  source: SettingSource;
  /** The flag, variable or file the value came from. */
  origin: string;
}

export type Settings = Record<SettingKey, Setting>;

/** The one check of each value, bounds included, wherever the value came from. */
const SPEC: Record<SettingKey, { flag: string; env: string; check: (value: string, what: string) => unknown }> = {
  cpus: { flag: '--cpus', env: 'LABVM_CPUS', check: (value, what) => parsePositiveInteger(value, what, MAX_CPUS) },
  memory: {
    flag: '--memory',
    env: 'LABVM_MEMORY',
    check: (value, what) => parseSize(value, what, MIN_MEMORY_BYTES, MAX_MEMORY_BYTES),
  },
  disk: {
    flag: '--disk',
    env: 'LABVM_DISK',
    check: (value, what) => parseSize(value, what, MIN_DISK_BYTES, MAX_DISK_BYTES),
  },
  image: { flag: '--image', env: 'LABVM_IMAGE', check: nonEmpty },
  baseImage: { flag: '--base-image', env: 'LABVM_BASE_IMAGE', check: nonEmpty },
  timeout: {
    flag: '--timeout',
    env: 'LABVM_TIMEOUT',
    check: (value, what) => parsePositiveInteger(value, what, MAX_TIMEOUT_SECONDS),
  },
};

export function settingEnvName(key: SettingKey): string {
  return SPEC[key].env;
}

/** The config file labvm reads: --config FILE, else $LABVM_HOME/config.json when it exists. */
export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(labvmHome(env), 'config.json');
}

/**
 * Resolves every setting. `flags` holds only the flags actually given. A bad value anywhere is an error naming
 * where it came from (exit 2): the flag, the variable, or the file and key.
 */
export async function resolveSettings(
  flags: Partial<Record<SettingKey, string | number>>,
  configFile?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Settings> {
  const file = await readConfigFile(
    configFile === undefined ? defaultConfigFile(env) : resolve(configFile),
    configFile !== undefined,
  );
  const pick = (key: SettingKey): Setting => {
    const flag = flags[key];
    if (flag !== undefined && flag !== '')
      return checked(key, { value: String(flag), source: 'flag', origin: SPEC[key].flag });
    const fromEnv = env[SPEC[key].env];
    if (fromEnv !== undefined && fromEnv !== '')
      return checked(key, { value: fromEnv, source: 'env', origin: SPEC[key].env });
    const fromFile = file?.values[key];
    if (fromFile !== undefined) return { value: fromFile, source: 'file', origin: file!.path };
    return { value: builtInDefaults[key], source: 'built-in', origin: 'labvm' };
  };
  return Object.fromEntries(settingKeys.map((key) => [key, pick(key)])) as Settings;
}

function checked(key: SettingKey, setting: Setting): Setting {
  SPEC[key].check(setting.value, `${key} (${setting.origin})`);
  return setting;
}

/** Reads and checks the whole file: an unknown key or a bad value is an error naming the file and the key. */
async function readConfigFile(
  path: string,
  required: boolean,
): Promise<{ path: string; values: Partial<Record<SettingKey, string>> } | undefined> {
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
  const values: Partial<Record<SettingKey, string>> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(key in SPEC)) {
      throw configError(path, `has an unknown key "${key}"`, `Use only these keys: ${settingKeys.join(', ')}.`);
    }
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw configError(
        path,
        `has a bad value for "${key}": expected a string or a number`,
        `Fix "${key}" in the file, e.g. "${key}": "${builtInDefaults[key as SettingKey]}".`,
      );
    }
    try {
      SPEC[key as SettingKey].check(String(value), key);
    } catch (error) {
      throw configError(
        path,
        `has a bad value for "${key}": ${errorMessage(error).replace(/\.$/, '')}`,
        `Fix "${key}" in the file, e.g. "${key}": "${builtInDefaults[key as SettingKey]}".`,
      );
    }
    values[key as SettingKey] = String(value);
  }
  return { path, values };
}

function configError(path: string, problem: string, hint: string): LabvmError {
  return new LabvmError(`The labvm config file ${path} ${problem}.`, 'usage', hint);
}

function nonEmpty(value: string, what: string): void {
  if (!value.trim()) throw new LabvmError(`The ${what} is empty.`, 'usage');
}
