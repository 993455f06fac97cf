#!/bin/sh
# Runs inside the stand-in's root filesystem (chroot) at image build time.
set -eu
# Each instance gets its host keys from cloud-init (ssh_keys) or generates its own.
rm -f /etc/ssh/ssh_host_*
# pam_loginuid cannot always write /proc/self/loginuid in a container: do not fail the login over it.
sed -i 's/^session\s\+required\s\+pam_loginuid\.so/session optional pam_loginuid.so/' /etc/pam.d/sshd
# cloud-init's locale module sets en_US.UTF-8: have it generated already.
sed -i 's/^# *\(en_US\.UTF-8 UTF-8\)/\1/' /etc/locale.gen
locale-gen >/dev/null
mkdir -p /var/lib/cloud/seed/nocloud
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
