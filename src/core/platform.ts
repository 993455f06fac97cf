/** Everything that differs between macOS, Windows and Linux lives here, so it can be unit-tested with a stubbed platform. */
export type Platform = NodeJS.Platform;

export function currentPlatform(): Platform {
  return process.platform;
}

/** POSIX permission bits mean nothing on Windows, where the user's profile folder is already private to the user. */
export function hasPosixModes(platform: Platform = currentPlatform()): boolean {
  return platform !== 'win32';
}

/** How to install and start Multipass on each OS (Linux is the default for anything else). */
const MULTIPASS_HINTS = {
  darwin: {
    install:
      'Install Multipass with `brew install --cask multipass` (or the .pkg from the Multipass website), then run `multipass version`.',
    daemon: 'Start the Multipass app (or `sudo launchctl kickstart -k system/com.canonical.multipassd`) and try again.',
  },
  win32: {
    install:
      'Install Multipass with `winget install Canonical.Multipass` (or the .msi from the Multipass website; it needs Hyper-V or VirtualBox), then open a new terminal and run `multipass version`.',
    daemon:
      'Start the "Multipass" service (Services app, or `Start-Service Multipass` in an administrator PowerShell) and try again.',
  },
  linux: {
    install: 'Install Multipass with `sudo snap install multipass`, then run `multipass version`.',
    daemon: 'Start the daemon with `sudo snap start multipass` and try again.',
  },
} as const;

function hintsFor(platform: Platform) {
  return platform === 'darwin' || platform === 'win32' ? MULTIPASS_HINTS[platform] : MULTIPASS_HINTS.linux;
}

export function multipassInstallHint(platform: Platform = currentPlatform()): string {
  return hintsFor(platform).install;
}

export function multipassDaemonHint(platform: Platform = currentPlatform()): string {
  return hintsFor(platform).daemon;
}

/** The executable to run: LABVM_MULTIPASS wins, so a non-standard install or a test double can be used. */
export function multipassExecutable(
  env: NodeJS.ProcessEnv = process.env,
  platform: Platform = currentPlatform(),
): string {
  if (env.LABVM_MULTIPASS) return env.LABVM_MULTIPASS;
  return platform === 'win32' ? 'multipass.exe' : 'multipass';
}
