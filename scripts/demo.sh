#!/usr/bin/env bash
# labvm's main job on a Linux machine without Multipass: `labvm up`, `labvm exercise`, `labvm down`, with the
# Multipass test double standing in for Multipass (its "VMs" are real Debian system containers running cloud-init,
# sshd and dockerd); then `labvm exercise --docker` on the machine's own Docker engine. On a laptop with Multipass,
# run the labvm commands directly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/test-host/prepare.sh
npm ci --no-audit --no-fund
npm run build

export LABVM_MULTIPASS="$PWD/test/double/bin/multipass"
export LABVM_HOME="${LABVM_HOME:-$PWD/.labvm-demo}"
name=labvm-demo
labvm() { node dist/src/cli.js "$@"; }

trap 'labvm down --name "$name" >/dev/null 2>&1 || true' EXIT  # leave nothing behind, even on failure
labvm up --name "$name"
# No image registry is reachable here: give the VM the locally built nginx base image.
docker save labvm-test/nginx-base:latest | docker exec -i "multipass-double-$name" docker load
labvm exercise --name "$name" --base-image labvm-test/nginx-base:latest --report labvm-report.md --force
labvm down --name "$name"
# The same exercise on this machine's own Docker engine: no VM, no SSH (what a Docker Desktop user runs).
labvm exercise --docker --base-image labvm-test/nginx-base:latest --report labvm-report-docker.md --force
echo "The Markdown reports are in $PWD/labvm-report.md (VM) and $PWD/labvm-report-docker.md (Docker engine)"
