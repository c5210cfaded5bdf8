#!/bin/sh
# The cached part of the level-1 initramfs: busybox-static, the KVM modules
# from l1-kernel.sh and /init (l1-init).  An uncompressed newc cpio, so a
# per-run overlay cpio can simply be appended to it.  Cached as
#   ${HUSK_CACHE:-/var/cache/husk}/l1-base-<key>.cpio ; prints that path.
# Usage: l1-base.sh <l1-kernel-dir>
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${HUSK_CACHE:-/var/cache/husk}
die() { echo "tests/nested/l1-base.sh: $*" >&2; exit 1; }
[ $# -eq 1 ] && [ -d "$1/modules" ] || die "usage: l1-base.sh <l1-kernel-dir>"
kdir=$1

busybox=/bin/busybox
# static = an ELF without a program interpreter (readelf: binutils; no
# dependency on file(1), which a fresh Debian does not have)
readelf -lW "$busybox" >/dev/null 2>&1 && ! readelf -lW "$busybox" | grep -q INTERP ||
	die "$busybox missing or not static: apt-get install busybox-static"
bbver=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)
key=$( { echo "busybox=$bbver kernel=$(cat "$kdir/package")"; cat "$here/l1-init" "$here/l1-base.sh"; } |
	sha256sum | cut -c1-16)
out=$cache/l1-base-$key.cpio
if [ -f "$out" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/l1-base.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
mkdir -p bin sbin usr/bin usr/sbin dev proc sys tmp etc lib/modules
cp "$busybox" bin/busybox
for applet in $("$busybox" --list-full); do
	[ -e "$applet" ] || ln -s /bin/busybox "$applet"
done
cp "$kdir"/modules/*.ko lib/modules/
cp "$here/l1-init" init
chmod 755 init
if [ "$(id -u)" = 0 ]; then
	mknod -m 600 dev/console c 5 1
	mknod -m 666 dev/null c 1 3
fi
find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0 > "$tmp.cpio"
mv "$tmp.cpio" "$out"
echo "$out"
