#!/usr/bin/env bash
# Packs labvm as `npm pack` does on a fresh clone (prepack builds it), installs the tarball globally into a
# temporary prefix without running any dependency's install scripts (as npm 11 does until they are approved),
# and runs the installed `labvm` from another folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
npm install --global --prefix "$work/prefix" --ignore-scripts --prefer-offline --no-audit --no-fund "$work/$tarball" >/dev/null

mkdir "$work/elsewhere"
cd "$work/elsewhere"
export PATH="$work/prefix/bin:$PATH"
version=$(labvm --version)
case "$version" in labvm/*) ;; *) echo "check-package: unexpected version output: $version" >&2; exit 1 ;; esac
labvm up --print-cloud-init > user-data.yaml
grep -q '^#cloud-config' user-data.yaml || { echo "check-package: no cloud-config from the installed labvm" >&2; exit 1; }
grep -q 'install-docker' user-data.yaml || { echo "check-package: the installed labvm lacks its cloud-init files" >&2; exit 1; }
echo "check-package: $tarball installs and runs ($version)"
