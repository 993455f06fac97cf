#!/usr/bin/env bash
# Prepares a Debian 12 machine (root, no stdin) for labvm's tests:
#   1. installs the packages the tests use (skipped when all are present),
#   2. starts a Docker engine when none answers,
#   3. builds the two test images when they are missing or were built from another recipe,
#   4. builds the AppArmor test VM's disk (QEMU, Debian's kernel) under $VM_CACHE, cached the same way.
# Idempotent: a warm machine finishes in seconds. Usage: scripts/test-host/prepare.sh
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_SCRIPT=$REPO_ROOT/scripts/test-host/build-image.sh
STANDIN_DIR=$REPO_ROOT/test/standin
DOCKERD_LOG=/var/log/labvm-test-dockerd.log
STANDIN_IMAGE=labvm-test/vm-standin:latest
NGINX_IMAGE=labvm-test/nginx-base:latest
HASH_LABEL=labvm.recipe-hash
VM_RECIPE_DIR=$REPO_ROOT/test/apparmor-vm
VM_CACHE=/var/cache/labvm-test/apparmor-vm
PACKAGES=(docker.io debootstrap debian-archive-keyring cloud-init openssh-client iproute2 procps
  ca-certificates tar coreutils util-linux gpg qemu-system-x86 qemu-utils genisoimage e2fsprogs)

log() { printf '[prepare %s] %s\n' "$(date +%T)" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

# step NAME CMD...: runs CMD and reports how long it took.
step() {
  local name=$1 start=$SECONDS
  shift
  log "$name: start"
  "$@"
  log "$name: finished in $((SECONDS - start)) s"
}

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "packages: all present, nothing to install"
    return
  fi
  log "packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" </dev/null
}

start_dockerd() {
  if docker info >/dev/null 2>&1; then
    log "dockerd: already answering, left as is"
    return
  fi
  rm -f /var/run/docker.pid
  log "dockerd: starting in the background (log: $DOCKERD_LOG)"
  setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  local pid=$! deadline=$((SECONDS + 60))
  until docker info >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$pid" 2>/dev/null; then
      log "dockerd did not answer (exited, or still silent after 60 s); last lines of $DOCKERD_LOG:" >&2
      tail -n 40 "$DOCKERD_LOG" >&2 || true
      die "no Docker engine"
    fi
    sleep 1
  done
}

# recipe_hash FILE...: one sha256 over the names and contents of the files that make an image.
recipe_hash() {
  local f
  for f in "$@"; do
    printf '%s\n' "${f#"$REPO_ROOT"/}"
    sha256sum <"$f"
  done | sha256sum | cut -d' ' -f1
}

# ensure_image KIND TAG HASH: builds TAG unless an image with that tag and recipe hash exists.
ensure_image() {
  local kind=$1 tag=$2 hash=$3 current old_id
  current=$(docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$tag" 2>/dev/null || true)
  if [ "$current" = "$hash" ]; then
    log "image $tag: up to date (recipe ${hash:0:12}), not rebuilt"
    return
  fi
  old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  log "image $tag: building (recipe ${hash:0:12}${current:+, was ${current:0:12}})"
  "$BUILD_SCRIPT" "$kind" "$tag" "$hash"
  # The previous build, now untagged, goes unless containers still use it.
  if [ -n "$old_id" ] && docker image rm "$old_id" >/dev/null 2>&1; then
    log "image $tag: removed the previous build ${old_id#sha256:}"
  fi
}

# ensure_vm HASH: builds the AppArmor VM's disk, kernel and initrd unless $VM_CACHE holds that recipe's build.
ensure_vm() {
  local hash=$1 current
  current=$(cat "$VM_CACHE/recipe-hash" 2>/dev/null || true)
  if [ "$current" = "$hash" ] && [ -f "$VM_CACHE/disk.img" ]; then
    log "AppArmor VM disk: up to date (recipe ${hash:0:12}), not rebuilt"
    return
  fi
  log "AppArmor VM disk: building into $VM_CACHE (recipe ${hash:0:12}${current:+, was ${current:0:12}})"
  "$BUILD_SCRIPT" apparmor-vm "$VM_CACHE" "$hash"
}

main() {
  [ "$(id -u)" -eq 0 ] || die "run as root"
  local start=$SECONDS standin_files vm_files vm_pid vm_log
  step "install packages" install_packages
  step "start dockerd" start_dockerd
  # The VM disk needs no dockerd: it is built alongside the images (mostly package downloads).
  mapfile -t vm_files < <(find "$VM_RECIPE_DIR" -type f | LC_ALL=C sort)
  vm_log=$(mktemp /tmp/labvm-prepare-vm.XXXXXX)
  step "AppArmor VM disk" ensure_vm "$(recipe_hash "$BUILD_SCRIPT" "${vm_files[@]}")" >"$vm_log" 2>&1 &
  vm_pid=$!
  mapfile -t standin_files < <(find "$STANDIN_DIR" -type f | LC_ALL=C sort)
  step "image $NGINX_IMAGE" ensure_image nginx "$NGINX_IMAGE" "$(recipe_hash "$BUILD_SCRIPT")"
  step "image $STANDIN_IMAGE" ensure_image standin "$STANDIN_IMAGE" \
    "$(recipe_hash "$BUILD_SCRIPT" "${standin_files[@]}")"
  local vm_status=0
  wait "$vm_pid" || vm_status=$?
  cat "$vm_log"
  rm -f "$vm_log"
  [ "$vm_status" -eq 0 ] || die "the AppArmor VM disk could not be built (log above)"
  log "test host ready in $((SECONDS - start)) s: dockerd up, images $STANDIN_IMAGE and $NGINX_IMAGE built, VM disk in $VM_CACHE"
}

main "$@"
