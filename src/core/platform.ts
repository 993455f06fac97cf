/** Everything that differs between macOS, Windows and Linux lives here, so it can be unit-tested with a stubbed platform. */
export type Platform = NodeJS.Platform;

export function currentPlatform(): Platform {
  return process.platform;
}

/** POSIX permission bits mean nothing on Windows, where the user's profile folder is already private to the user. */
export function hasPosixModes(platform: Platform = currentPlatform()): boolean {
  return platform !== 'win32';
}

export function multipassInstallHint(platform: Platform = currentPlatform()): string {
  switch (platform) {
    case 'darwin':
      return 'Install Multipass with `brew install --cask multipass` (or the .pkg from the Multipass website), then run `multipass version`.';
    case 'win32':
      return 'Install Multipass with `winget install Canonical.Multipass` (or the .msi from the Multipass website; it needs Hyper-V or VirtualBox), then open a new terminal and run `multipass version`.';
    default:
      return 'Install Multipass with `sudo snap install multipass`, then run `multipass version`.';
  }
}

export function multipassDaemonHint(platform: Platform = currentPlatform()): string {
  switch (platform) {
    case 'darwin':
      return 'Start the Multipass app (or `sudo launchctl kickstart -k system/com.canonical.multipassd`) and try again.';
    case 'win32':
      return 'Start the "Multipass" service (Services app, or `Start-Service Multipass` in an administrator PowerShell) and try again.';
    default:
      return 'Start the daemon with `sudo snap start multipass` and try again.';
  }
}

/** The executable to run: LABVM_MULTIPASS wins, so a non-standard install or a test double can be used. */
export function multipassExecutable(env: NodeJS.ProcessEnv = process.env, platform: Platform = currentPlatform()): string {
  if (env.LABVM_MULTIPASS) return env.LABVM_MULTIPASS;
  return platform === 'win32' ? 'multipass.exe' : 'multipass';
}
