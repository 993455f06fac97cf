#!/bin/bash
# Entry point (PID 1) of the VM stand-in container, installed as /usr/local/sbin/standin-boot.
# Plays an Ubuntu VM's boot without systemd, in the order Multipass observes on a real VM:
#   cloud-init local + network stages (host keys, users, authorized_keys) -> sshd and dockerd up
#   -> cloud-init config + final stages (runcmd; boot-finished) -> sshd stays the long-lived process.
# A failing cloud-init stage does not stop the boot: like the real one, the final stage still writes
# /var/lib/cloud/instance/boot-finished and `cloud-init status` reports the error.
# Test knob: STANDIN_CLOUD_INIT_DELAY=N sleeps N seconds before cloud-init on the first boot (a slow
# first boot, so that a multipass --timeout elapses while the instance keeps provisioning).
set -u

SSHD_PID=""
DOCKERD_PID=""

say() { echo "standin-boot: $*"; }

# /run is not a tmpfs in a container: clear what a reboot would have cleared (for `docker start`).
forget_previous_boot() {
  rm -rf /run/cloud-init /run/sshd /run/sshd.pid /var/run/docker.pid /var/run/docker.sock
}

# systemd mounts securityfs on a VM; a container gets none, and /sys/kernel/security/lsm (the active LSMs) with it.
mount_securityfs() {
  [ -r /sys/kernel/security/lsm ] || mount -t securityfs securityfs /sys/kernel/security || say "cannot mount securityfs"
}

# Docker mounts the cgroup v1 hierarchies read-only; the inner dockerd needs them writable.
# Each read-only cgroup mount is unmounted and mounted again read-write (already rw: left alone).
remount_cgroups() {
  local mp fstype opts name
  while read -r mp fstype opts; do
    case ",$opts," in *,ro,*) ;; *) continue ;; esac
    umount "$mp" || { say "cannot unmount $mp"; continue; }
    name=${mp#/sys/fs/cgroup/}
    if [ "$fstype" = cgroup2 ]; then
      mount -t cgroup2 -o rw,nosuid,nodev,noexec cgroup2 "$mp"
    elif [ "$name" = systemd ]; then
      mount -t cgroup -o rw,nosuid,nodev,noexec,none,name=systemd cgroup "$mp"
    else
      mount -t cgroup -o "rw,nosuid,nodev,noexec,$name" cgroup "$mp"
    fi || say "cannot mount $mp read-write"
  done < <(awk '$2 ~ "^/sys/fs/cgroup/" && ($3 == "cgroup" || $3 == "cgroup2") { print $2, $3, $4 }' /proc/self/mounts)
  # The tmpfs holding the hierarchies stays as Docker made it.
}

# run_stage ARGS...: one cloud-init stage. Its own config tees the output into
# /var/log/cloud-init-output.log; the container log gets it too. Runs in the background so that
# `docker stop` (SIGTERM) is handled at once.
run_stage() {
  say "cloud-init $*"
  cloud-init "$@" &
  wait $! || say "cloud-init $* exited with $? (the boot goes on)"
}

start_sshd() {
  mkdir -p /run/sshd
  chmod 0755 /run/sshd
  if ! ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1; then
    say "no host keys from cloud-init: generating some"
    ssh-keygen -A
  fi
  /usr/sbin/sshd -D -e &
  SSHD_PID=$!
  say "sshd started (pid $SSHD_PID)"
}

start_dockerd() {
  rm -f /var/run/docker.pid
  dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
  DOCKERD_PID=$!
  local i
  for i in $(seq 1 60); do
    if [ -S /var/run/docker.sock ] && docker version >/dev/null 2>&1; then
      say "dockerd up after ${i}s (pid $DOCKERD_PID)"
      return
    fi
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  say "dockerd did not come up; last lines of /var/log/dockerd.log:"
  tail -n 20 /var/log/dockerd.log
}

shutdown() {
  say "shutting down"
  [ -n "$SSHD_PID" ] && kill -TERM "$SSHD_PID" 2>/dev/null
  if [ -n "$DOCKERD_PID" ] && kill -TERM "$DOCKERD_PID" 2>/dev/null; then
    local i
    for i in $(seq 1 20); do
      kill -0 "$DOCKERD_PID" 2>/dev/null || break
      sleep 0.5
    done
  fi
  exit 0
}

main() {
  trap shutdown TERM INT
  forget_previous_boot
  remount_cgroups
  mount_securityfs
  local delay=${STANDIN_CLOUD_INIT_DELAY:-0}
  # Only the first boot is slow: a `docker start` later (multipass start) boots at normal speed.
  if [ "$delay" -gt 0 ] 2>/dev/null && [ ! -e /var/lib/cloud/instance ]; then
    say "STANDIN_CLOUD_INIT_DELAY: sleeping ${delay}s before cloud-init"
    sleep "$delay" &
    wait $!
  fi
  run_stage init --local
  run_stage init
  start_sshd
  start_dockerd
  run_stage modules --mode=config
  run_stage modules --mode=final
  say "boot done"
  while kill -0 "$SSHD_PID" 2>/dev/null; do
    wait "$SSHD_PID"
  done
  say "sshd exited"
  shutdown
}

main "$@"
