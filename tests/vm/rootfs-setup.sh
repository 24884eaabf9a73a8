#!/bin/sh
# Runs once inside the freshly debootstrapped image (chroot), before it is cached.
# Part of the cache key: any change here builds a new image.
set -eu
passwd -d root >/dev/null
echo youki-vm > /etc/hostname
: > /etc/fstab
systemctl set-default multi-user.target >/dev/null
# Nothing on this image needs the network or a login prompt; they only slow the boot.
systemctl mask serial-getty@ttyS0.service getty@tty1.service systemd-networkd-wait-online.service \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
mkdir -p /vmtest
apt-get clean
rm -rf /var/lib/apt/lists/*
