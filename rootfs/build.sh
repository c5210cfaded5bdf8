#!/bin/sh
# Build husk's default guest root from the busybox-static package
# (rootfs/build.sh [x86_64]) or Debian's arm64 busybox-static
# (rootfs/build.sh arm64: downloaded by tools/l1/busybox-arm64.sh):
#   initramfs.cpio     uncompressed newc cpio (for nesting: cheap to copy)
#   initramfs.cpio.gz  the same, gzip'd (the usual --initrd)
#   rootfs.ext4        ext4 image of the same tree (mkfs.ext4 -d, no mounts;
#                      copy it before giving it to a guest that writes)
# The init (rootfs/init) signals the boot timer, prints
# "husk-rootfs: init reached", runs husk.run=... from the cmdline, reboots.
# Cached in ${HUSK_CACHE:-/var/cache/husk}/rootfs-<key>/, key = hash of the
# init, this script and the busybox; prints that directory.
# Env: HUSK_CACHE, HUSK_ROOTFS_MB (ext4 size, default 64).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${HUSK_CACHE:-/var/cache/husk}
size_mb=${HUSK_ROOTFS_MB:-64}

die() { echo "rootfs/build.sh: $*" >&2; exit 1; }

case "${1:-x86_64}" in
x86_64) busybox=/bin/busybox ;;
arm64) busybox=$("$here/../tools/l1/busybox-arm64.sh") || die "no arm64 busybox" ;;
*) die "unknown architecture $1 (x86_64 or arm64)" ;;
esac
# static = an ELF without a program interpreter (readelf: binutils; no
# dependency on file(1), which a fresh Debian does not have)
[ -x "$busybox" ] && readelf -lW "$busybox" >/dev/null 2>&1 &&
	! readelf -lW "$busybox" | grep -q INTERP ||
	die "$busybox missing or not static: apt-get install busybox-static"
for tool in cpio gzip mkfs.ext4 sha256sum; do
	command -v $tool >/dev/null 2>&1 || die "missing $tool: apt-get install cpio gzip e2fsprogs"
done

key=$( { echo "busybox=$(sha256sum < "$busybox") size=$size_mb"; cat "$here/init" "$here/build.sh"; } |
	sha256sum | cut -c1-16)
out=$cache/rootfs-$key
if [ -f "$out/rootfs.ext4" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/rootfs-$key.lock"
flock 9
if [ -f "$out/rootfs.ext4" ]; then
	echo "$out"
	exit 0
fi

tmp=$out.tmp
rm -rf "$tmp"
stage=$tmp/stage
mkdir -p "$stage"
cd "$stage"
mkdir -p bin sbin usr/bin usr/sbin dev proc sys tmp mnt root etc
cp "$busybox" bin/busybox
# One symlink per applet, where busybox would install it.  The list is the
# host busybox's: the arm64 one cannot run here, and it is the same Debian
# version with the same configuration.
for applet in $(/bin/busybox --list-full); do
	[ -e "$applet" ] || ln -s /bin/busybox "$applet"
done
cp "$here/init" init
chmod 755 init
ln -sf /init sbin/init
echo "root:x:0:0:root:/root:/bin/sh" > etc/passwd
echo "root:x:0:" > etc/group
# The kernel opens /dev/console for init before devtmpfs is mounted.
if [ "$(id -u)" = 0 ]; then
	mknod -m 600 dev/console c 5 1
	mknod -m 666 dev/null c 1 3
fi

find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc --owner=0:0 > "$tmp/initramfs.cpio"
gzip -9 -n -c "$tmp/initramfs.cpio" > "$tmp/initramfs.cpio.gz"
cd "$tmp"
truncate -s "${size_mb}M" rootfs.ext4
mkfs.ext4 -q -F -L huskroot -E root_owner=0:0 -d "$stage" rootfs.ext4
rm -rf "$stage"

rm -rf "$out"
mv "$tmp" "$out"
echo "$out"
