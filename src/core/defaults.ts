/**
 * labvm's built-in values for the teacher settings (see settings.ts), apart from how they are resolved: the CLI
 * prints them in its help at start-up, and this module loads nothing else.
 */
/** The instance name when no --name is given. */
export const DEFAULT_NAME = 'labvm';

export const builtInDefaults: {
  readonly cpus: string;
  readonly memory: string;
  readonly disk: string;
  readonly image: string;
  readonly baseImage: string;
  readonly timeout: string;
  /** Docker's apt repository, or a mirror keeping its layout below the URL (<url>/linux/<distro>/...). */
  readonly dockerRepository: string;
  /** Docker's release signing key; a repository that re-signs gives its own. The check itself is never off. */
  readonly dockerKeyFingerprint: string;
  /** "" is no proxy; when no flag, variable or file sets one, this computer's HTTP(S)_PROXY/NO_PROXY are used. */
  readonly httpProxy: string;
  readonly httpsProxy: string;
  readonly noProxy: string;
  /** PEM files of CAs the VM trusts besides its own (a TLS-inspecting proxy's, a private mirror's). */
  readonly caCertificates: readonly string[];
} = {
  cpus: '2',
  memory: '4G',
  disk: '20G',
  image: '24.04',
  baseImage: 'nginx:latest',
  timeout: '1200',
  dockerRepository: 'https://download.docker.com',
  dockerKeyFingerprint: '9DC858229FC7DD38854AE2D88D81803C0EBFCD88',
  httpProxy: '',
  httpsProxy: '',
  noProxy: '',
  caCertificates: [],
};

export type SettingKey = keyof typeof builtInDefaults;

export type SettingValue<K extends SettingKey> = (typeof builtInDefaults)[K];

export const settingKeys = Object.keys(builtInDefaults) as SettingKey[];
