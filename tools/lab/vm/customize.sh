#!/bin/sh
# Runs inside the debootstrapped root (chroot, /proc mounted, http_proxy set to the
# lab's apt cache) before it becomes the VM lab's guest image. The lab copies this
# directory to /tmp/sclab-vm in the root and reads /tmp/sclab-vm/image-facts back.
set -eu
recipe=/tmp/sclab-vm
export DEBIAN_FRONTEND=noninteractive

# debootstrap copies the build machine's /etc/hosts and resolv.conf; a guest starts
# with clean ones (no DNS in the lab: apt goes through the lab's proxy by name).
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts
printf '# The lab has no DNS: node names are in /etc/hosts.\n' > /etc/resolv.conf
echo sclab-vm > /etc/hostname

cat > /etc/apt/sources.list <<SOURCES
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES

# No daemon may start in the build chroot: mariadb, postgresql, corosync would run
# on the build machine. Removed again at the end, so packages the roles install in
# a guest start as Debian starts them.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d

# The initramfs must mount a virtio root on ext4 (Debian's MODULES=most has these;
# listed so a change of default cannot drop them).
mkdir -p /etc/initramfs-tools
printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\n' >> /etc/initramfs-tools/modules

apt-get update
grep -v '^[[:space:]]*#' "$recipe/packages.txt" | xargs apt-get install -y --no-install-recommends

# One kernel, booted from outside the guest (QEMU -kernel/-initrd copies of it): its
# modules (DRBD among them) must stay the ones on the root disk, so it is held.
kver=$(ls /lib/modules)
[ "$(echo "$kver" | wc -w)" = 1 ] || { echo "expected one kernel in /lib/modules, found: $kver" >&2; exit 1; }
apt-mark hold linux-image-amd64 "linux-image-$kver"
for pair in virtio_pci:VIRTIO_PCI virtio_blk:VIRTIO_BLK virtio_net:VIRTIO_NET ext4:EXT4_FS; do
    module=${pair%%:*}
    option=${pair#*:}
    if grep -qx "CONFIG_$option=y" "/boot/config-$kver"; then
        continue
    fi
    if ! lsinitramfs "/boot/initrd.img-$kver" | grep -q "/$module\.ko"; then
        echo "the initramfs of $kver lacks $module" >&2
        exit 1
    fi
done
drbd=$(modinfo -k "$kver" -F version drbd)
printf 'kernel=%s\ndrbd=%s\n' "$kver" "$drbd" > "$recipe/image-facts"

# Every node gets its identity from its seed disk at each boot (sclab-seed), the ssh
# host key included: the image has none, and no first-boot generation either.
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
install -m 0755 "$recipe/sclab-seed" /usr/local/sbin/sclab-seed
install -m 0644 "$recipe/sclab-seed.service" /etc/systemd/system/sclab-seed.service
systemctl enable sclab-seed.service
mkdir -p /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/sclab.conf <<SSHD
# The lab's guests: the host key from the seed disk only, root with the lab's key only.
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
UseDNS no
SSHD
systemctl enable ssh.service systemd-networkd.service
mkdir -p /root/.ssh
chmod 0700 /root/.ssh
passwd -l root

echo 'LABEL=sclab-root / ext4 errors=remount-ro 0 1' > /etc/fstab

# Installed for the roles, not running: the roles decide what starts.
# (logd is cluster-glue's log daemon, which resource-agents pulls in.)
for unit in mariadb.service postgresql.service corosync.service pacemaker.service drbd.service logd.service; do
    if [ -e "/lib/systemd/system/$unit" ]; then
        systemctl disable "$unit"
    fi
done

# Jobs with no place in a short-lived lab guest, or that would wait at the console
# (systemd-firstboot prompts on a first boot; the image has an empty machine-id).
systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-pstore.service \
    getty@tty1.service systemd-firstboot.service

# Keep the image small: package lists are fetched again by every converge anyway.
apt-get clean
rm -f /usr/sbin/policy-rc.d
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/tmp/*
