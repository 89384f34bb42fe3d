#!/bin/sh
# Runs inside the debootstrapped root (chroot) before it becomes the lab's node image.
# Each step turns the rootfs into something that boots as a systemd "VM" in podman.
set -eu

# debootstrap copies the build machine's /etc/hosts; a node starts with a clean one.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts

# Debian's sources as on a cloud image; the nodes reach them through the lab's apt cache.
cat > /etc/apt/sources.list <<SOURCES
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES

# Every node must get its own identity at first boot, not share the image's.
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
mkdir -p /etc/systemd/system/ssh.service.d
cat > /etc/systemd/system/ssh.service.d/lab-host-keys.conf <<UNIT
[Service]
# Host keys are removed from the image so each node generates its own at first boot;
# generate them before Debian's config test (sshd -t), which needs them.
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
systemctl enable ssh.service

# Ansible logs in as root with the lab's key only.
mkdir -p /root/.ssh
chmod 0700 /root/.ssh
sed -i 's/^#\?PasswordAuthentication.*/PasswordAuthentication no/' /etc/ssh/sshd_config
passwd -l root

# Nodes sit on an --internal network: give them a default route to the gateway so
# services find a "default" address (Ansible's ansible_default_ipv4, corosync,
# Galera). The lab writes the gateway to /etc/lab/gateway when it creates a node.
mkdir -p /etc/lab
cat > /etc/systemd/system/lab-default-route.service <<UNIT
[Unit]
Description=Default route of a lab node via the lab network's gateway
After=network.target
ConditionPathExists=/etc/lab/gateway

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'ip route replace default via "\$(cat /etc/lab/gateway)"'

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable lab-default-route.service

# Units that have no job in a container, and would only fail or wait.
systemctl mask getty@tty1.service console-getty.service systemd-remount-fs.service \
  systemd-udevd.service systemd-udev-trigger.service systemd-modules-load.service \
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
  systemd-firstboot.service 2>/dev/null || true

# Keep the image small: package lists are fetched again by every converge anyway.
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /tmp/* /var/tmp/*
