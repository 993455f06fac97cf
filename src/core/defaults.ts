/**
 * labvm's built-in values for the teacher settings (see settings.ts), apart from how they are resolved: the CLI
 * prints them in its help at start-up, and this module loads nothing else.
 */
/** The instance name when no --name is given. */
export const DEFAULT_NAME = 'labvm';

export const builtInDefaults = {
  cpus: '2',
  memory: '4G',
  disk: '20G',
  image: '24.04',
  baseImage: 'nginx:latest',
  timeout: '1200',
} as const;

export type SettingKey = keyof typeof builtInDefaults;

export const settingKeys = Object.keys(builtInDefaults) as SettingKey[];
