#!/usr/bin/env bash
# Builds one of labvm's test images from Debian bookworm packages (no registry needed):
#   debootstrap --variant=minbase into a temp dir, customise, then `tar | docker import`.
# Usage: build-image.sh standin|nginx TAG RECIPE_HASH   (prepare.sh calls it; runs as root)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STANDIN_DIR=$REPO_ROOT/test/standin
SUITE=bookworm

STANDIN_PACKAGES=openssh-server,docker.io,cloud-init,python3-cffi-backend,sudo,procps,util-linux,iproute2,iptables,ca-certificates,locales
NGINX_PACKAGES=nginx-light,procps

log() { printf '[build-image %s] %s\n' "$(date +%T)" "$*"; }

# The Debian mirror this machine's apt uses (never hard-coded): first non-security URI.
apt_mirror() {
  local uri="" f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {
      for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file|ftp):/) { print $i; exit } }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { log "no Debian mirror found in the apt configuration" >&2; exit 1; }
  printf '%s\n' "$uri"
}

# Unmounts anything debootstrap left mounted under $1 (deepest first), then removes it.
remove_rootfs() {
  local dir=$1
  [ -d "$dir" ] || return 0
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mp; do
    umount -l "$mp" || true
  done
  rm -rf --one-file-system "$dir"
}

debootstrap_rootfs() {
  local dir=$1 packages=$2 start=$SECONDS
  log "debootstrap $SUITE (minbase + $packages)"
  debootstrap --variant=minbase --include="$packages" "$SUITE" "$dir" "$(apt_mirror)" \
    >"$dir.debootstrap.log" 2>&1 || {
    tail -n 40 "$dir.debootstrap.log" >&2
    log "debootstrap failed (full log above: $dir.debootstrap.log)" >&2
    exit 1
  }
  rm -f "$dir.debootstrap.log"
  log "debootstrap done in $((SECONDS - start)) s"
}

customise_standin() {
  local dir=$1
  install -m 0755 "$STANDIN_DIR/boot.sh" "$dir/usr/local/sbin/standin-boot"
  install -m 0644 "$STANDIN_DIR/cloud.cfg" "$dir/etc/cloud/cloud.cfg.d/90_labvm_standin.cfg"
  install -m 0644 "$STANDIN_DIR/sshd_config" "$dir/etc/ssh/sshd_config.d/90-labvm-standin.conf"
  install -m 0755 "$STANDIN_DIR/customize.sh" "$dir/tmp/customize.sh"
  chroot "$dir" /tmp/customize.sh
  rm -f "$dir/tmp/customize.sh"
}

customise_nginx() {
  local dir=$1
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
}

main() {
  [ $# -eq 3 ] || { echo "usage: $0 standin|nginx TAG RECIPE_HASH" >&2; exit 64; }
  local kind=$1 tag=$2 hash=$3 packages changes=()
  case $kind in
    standin)
      packages=$STANDIN_PACKAGES
      changes=(-c 'CMD ["/usr/local/sbin/standin-boot"]' -c 'ENV container=docker' -c 'EXPOSE 22') ;;
    nginx)
      packages=$NGINX_PACKAGES
      changes=(-c 'CMD ["nginx", "-g", "daemon off;"]' -c 'EXPOSE 80') ;;
    *) echo "unknown image kind: $kind" >&2; exit 64 ;;
  esac
  WORK_DIR=$(mktemp -d /var/tmp/labvm-image-XXXXXX)
  trap 'remove_rootfs "$WORK_DIR"' EXIT
  debootstrap_rootfs "$WORK_DIR/rootfs" "$packages"
  "customise_$kind" "$WORK_DIR/rootfs"
  log "docker import as $tag"
  tar --numeric-owner -C "$WORK_DIR/rootfs" -c . |
    docker import "${changes[@]}" -c "LABEL labvm.recipe-hash=$hash" - "$tag" >/dev/null
  log "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%d MB", $1 / 1e6 }'))"
}

main "$@"
