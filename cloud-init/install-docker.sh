#!/bin/sh
# Installs Docker Engine from Docker's own apt repository on the VM's first boot.
# src/vm/cloud-init.ts embeds this file into the user-data (write_files) and runcmd
# runs it as root. Every line it prints starts with "labvm:" so that the tool (and a
# person reading /var/log/cloud-init-output.log) can pick them out.
set -eu

# Docker's release signing key. Pinned: a download with any other key is refused.
DOCKER_KEY_FINGERPRINT=9DC858229FC7DD38854AE2D88D81803C0EBFCD88
KEYRING=/etc/apt/keyrings/docker.asc
SOURCES=/etc/apt/sources.list.d/docker.list
# The tool talks to the Docker API over SSH, so the buildx/compose CLI plugins are not needed.
PACKAGES="docker-ce docker-ce-cli containerd.io"

log() { printf 'labvm: %s\n' "$*"; }
die() { printf 'labvm: ERROR: %s\n' "$*" >&2; exit 1; }

# A first boot often meets a network that is not quite up yet: give it a few chances.
retry() {
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge 5 ]; then
      log "giving up after $attempt attempts: $*"
      return 1
    fi
    log "attempt $attempt failed, retrying in $((attempt * 5))s: $*"
    sleep $((attempt * 5))
    attempt=$((attempt + 1))
  done
}

# unattended-upgrades often holds the dpkg lock right after boot: wait for it rather than fail.
apt_get() { apt-get -y -q -o DPkg::Lock::Timeout=300 "$@"; }
# update and install together, so that a retry also refreshes lists that a flaky update missed.
apt_install() { apt_get update && apt_get install "$@"; }

# Images that already have Docker (and the test stand-in, which has no network) skip everything.
if command -v docker >/dev/null 2>&1 || command -v dockerd >/dev/null 2>&1; then
  log "Docker is already installed ($(docker --version 2>/dev/null || echo 'docker CLI missing')); skipping the install"
  exit 0
fi

[ -r /etc/os-release ] || die "/etc/os-release is missing: cannot tell which Docker repository to use"
# shellcheck source=/dev/null
. /etc/os-release
case "${ID:-}" in
  ubuntu | debian) ;;
  *) die "unsupported distribution '${ID:-unknown}': Docker's apt repository serves ubuntu and debian" ;;
esac
[ -n "${VERSION_CODENAME:-}" ] || die "VERSION_CODENAME is missing from /etc/os-release"
ARCH=$(dpkg --print-architecture)
REPO_URL="https://download.docker.com/linux/$ID"
export DEBIAN_FRONTEND=noninteractive

missing=""
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v gpg >/dev/null 2>&1 || missing="$missing gpg"
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing="$missing ca-certificates"
if [ -n "$missing" ]; then
  log "installing prerequisites:$missing"
  # shellcheck disable=SC2086 # one word per package
  retry apt_install --no-install-recommends $missing
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "downloading Docker's signing key from $REPO_URL/gpg"
retry curl -fsSL --connect-timeout 20 --max-time 120 -o "$work/docker.asc" "$REPO_URL/gpg"

# Trust the file only if it holds exactly one primary key and that key is the pinned one.
# gpg's colon format prints each primary key's fingerprint on the "fpr" line right after "pub".
fingerprints=$(GNUPGHOME="$work" gpg --batch --with-colons --show-keys "$work/docker.asc" 2>/dev/null |
  awk -F: '$1 == "pub" { want = 1; next } $1 == "fpr" && want { print $10; want = 0 }')
if [ "$fingerprints" != "$DOCKER_KEY_FINGERPRINT" ]; then
  got=$(printf '%s' "${fingerprints:-no readable key}" | tr '\n' ' ')
  die "the downloaded Docker signing key is not the pinned one (expected $DOCKER_KEY_FINGERPRINT, got: $got); refusing to trust it"
fi
log "Docker's signing key matches the pinned fingerprint $DOCKER_KEY_FINGERPRINT"

install -d -m 0755 /etc/apt/keyrings
install -m 0644 "$work/docker.asc" "$KEYRING"
printf 'deb [arch=%s signed-by=%s] %s %s stable\n' "$ARCH" "$KEYRING" "$REPO_URL" "$VERSION_CODENAME" >"$SOURCES"

log "installing $PACKAGES from $REPO_URL ($VERSION_CODENAME, $ARCH)"
# shellcheck disable=SC2086 # one word per package
retry apt_install $PACKAGES
command -v docker >/dev/null 2>&1 || die "docker is still missing after the install"
log "installed $(docker --version)"
