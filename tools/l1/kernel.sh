#!/bin/sh
# The level-1 kernel: Debian's generic linux-image-amd64, or with the
# argument aarch64 linux-image-arm64:arm64 (apt-get download + dpkg-deb -x,
# nothing installed).  Unlike the cloud kernels (tests/nested) they have 9p,
# overlay, veth and bridge as modules.  Keeps vmlinuz and the modules level 1
# loads with everything they depend on (read from each module's .modinfo, as
# there is no depmod on a fresh machine), in load order.
# Cached in ${HUSK_CACHE:-/var/cache/husk}/l1g-kernel-<modules>-<package>-<version>/
# (x86_64) or l1a-kernel-<modules>-<package>-<version>/ (aarch64), <modules>
# a hash of the module list below:
#   vmlinuz  modules/*.ko  modules/order  package
# Prints that directory.  Offline, the newest cached copy is used.
set -eu

cache=${HUSK_CACHE:-/var/cache/husk}
die() { echo "tools/l1/kernel.sh: $*" >&2; exit 1; }
# What level 1 needs: the 9p root, the overlay on it, KVM, and what the
# tests make (taps, veth pairs, bridges, loop devices).  arm64's KVM is built
# in; its command's output goes through a virtio console (-M virt has one
# UART, level 1's own console); its ext4 (for a guest's disk image on a
# loop device) is a module, and needs crc32c loaded first: without modprobe
# nothing loads it on demand.
case "${1:-x86_64}" in
x86_64)
	META=linux-image-amd64 NAME=l1g-kernel OBJCOPY=objcopy
	WANT="virtio_pci 9pnet_virtio 9p overlay kvm_amd tun veth bridge loop" ;;
aarch64)
	META=linux-image-arm64:arm64 NAME=l1a-kernel OBJCOPY=aarch64-linux-gnu-objcopy
	command -v $OBJCOPY >/dev/null || die "$OBJCOPY missing: tools/deps --arm64"
	WANT="virtio_pci 9pnet_virtio 9p overlay virtio_console tun veth bridge loop crc32c_generic ext4" ;;
*) die "unknown architecture $1 (x86_64 or aarch64)" ;;
esac

# module name (dashes as underscores) -> file, in the extracted package
module_file() { awk -v m="$1" '$1 == m { print $2; exit }' "$tmp/index"; }
# Depth first: a module's dependencies are loaded before it.
add_module() {
	grep -qx "$1" "$tmp/modules/order" 2>/dev/null && return 0
	f=$(module_file "$1")
	[ -n "$f" ] || die "module $1 not in $pkg"
	# into a file: objcopy renames its output into place, so given
	# /dev/stdout it replaces that symlink with a regular file
	$OBJCOPY -O binary --only-section=.modinfo "$f" "$tmp/modinfo"
	for d in $(tr '\0' '\n' < "$tmp/modinfo" | sed -n 's/^depends=//p' | tr , ' '); do
		add_module "$d"
	done
	f=$(module_file "$1")
	cp "$f" "$tmp/modules/$1.ko"
	echo "$1" >> "$tmp/modules/order"
}
keep_modules() {
	find "$x/lib/modules/$kver/kernel" -name '*.ko' -printf '%f %p\n' |
		awk '{ sub(/\.ko$/, "", $1); gsub(/-/, "_", $1); print }' > "$tmp/index"
	for m in $WANT; do add_module "$m"; done
	rm -f "$tmp/index" "$tmp/modinfo"
}

. "$(dirname "$0")/debian-kernel.sh"
debian_kernel "$META" "$NAME-$(echo "$WANT" | sha256sum | cut -c1-8)" keep_modules
