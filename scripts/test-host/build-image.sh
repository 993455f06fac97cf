#!/usr/bin/env bash
# Builds one of labvm's test images from Debian bookworm packages (no registry needed):
#   debootstrap --variant=minbase into a temp dir, customise, then `tar | docker import`.
#   apparmor-vm instead writes a bootable disk, kernel and initrd for QEMU into a directory (no docker import).
# Usage: build-image.sh standin|nginx TAG RECIPE_HASH | apparmor-vm OUT_DIR RECIPE_HASH  (prepare.sh calls it; root)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STANDIN_DIR=$REPO_ROOT/test/standin
VM_DIR=$REPO_ROOT/test/apparmor-vm
VM_HOSTNAME=labvm-apparmor
SUITE=bookworm

STANDIN_PACKAGES=openssh-server,docker.io,cloud-init,python3-cffi-backend,sudo,procps,util-linux,iproute2,iptables,ca-certificates,locales
NGINX_PACKAGES=nginx-light,procps
# A full VM with Debian's own kernel, so AppArmor is on and docker.io loads docker-default.
VM_PACKAGES=linux-image-amd64,systemd-sysv,udev,openssh-server,docker.io,apparmor,cloud-init,python3-cffi-backend,sudo,procps,util-linux,iproute2,iptables,ca-certificates,netcat-openbsd,ifupdown,isc-dhcp-client,kmod,dbus

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

customise_vm() {
  local dir=$1
  rm -f "$dir"/etc/ssh/ssh_host_*   # each boot gets its host key from cloud-init
  install -m 0644 "$VM_DIR/cloud.cfg" "$dir/etc/cloud/cloud.cfg.d/90_labvm_vm.cfg"
  install -m 0644 "$VM_DIR/interfaces" "$dir/etc/network/interfaces"
  printf '/dev/vda / ext4 defaults 0 1\n' >"$dir/etc/fstab"
  printf '%s\n' "$VM_HOSTNAME" >"$dir/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$VM_HOSTNAME" >"$dir/etc/hosts"
  rm -rf "$dir"/var/cache/apt/archives/*.deb
}

# build_vm OUT_DIR HASH: disk.img (ext4 made from the root file system, no loop mount), vmlinuz, initrd.img.
build_vm() {
  local out=$1 hash=$2 rootfs
  WORK_DIR=$(mktemp -d /var/tmp/labvm-vm-XXXXXX)
  trap 'remove_rootfs "$WORK_DIR"' EXIT
  rootfs=$WORK_DIR/rootfs
  debootstrap_rootfs "$rootfs" "$VM_PACKAGES"
  customise_vm "$rootfs"
  cp "$rootfs"/boot/vmlinuz-* "$WORK_DIR/vmlinuz"
  cp "$rootfs"/boot/initrd.img-* "$WORK_DIR/initrd.img"
  truncate -s 6G "$WORK_DIR/disk.img"
  mkfs.ext4 -q -F -d "$rootfs" "$WORK_DIR/disk.img"
  rm -rf "$out"
  mkdir -p "$out"
  mv "$WORK_DIR/disk.img" "$WORK_DIR/vmlinuz" "$WORK_DIR/initrd.img" "$out/"
  printf '%s\n' "$hash" >"$out/recipe-hash"
  log "built $out (disk $(du -sm "$out/disk.img" | cut -f1) MB used)"
}

main() {
  if [ "${1:-}" = apparmor-vm ] && [ $# -eq 3 ]; then
    build_vm "$2" "$3"
    return
  fi
  [ $# -eq 3 ] || { echo "usage: $0 standin|nginx TAG RECIPE_HASH | apparmor-vm OUT_DIR RECIPE_HASH" >&2; exit 64; }
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
