#!/bin/sh
# The level-1 kernel: Debian's generic linux-image-amd64 (apt-get download +
# dpkg-deb -x, nothing installed).  Unlike the cloud kernel of tests/nested it
# has 9p, overlay, veth and bridge as modules.  Keeps vmlinuz and the modules
# level 1 loads with everything they depend on (read from each module's
# .modinfo, as there is no depmod on a fresh machine), in load order.
# Cached in ${HUSK_CACHE:-/var/cache/husk}/l1g-kernel-<package>-<version>/
#   vmlinuz  modules/*.ko  modules/order  package
# Prints that directory.  Offline, the newest cached copy is used.
set -eu

cache=${HUSK_CACHE:-/var/cache/husk}
die() { echo "tools/l1/kernel.sh: $*" >&2; exit 1; }
# What level 1 needs: the 9p root, the overlay on it, KVM, and what the
# tests make (taps, veth pairs, bridges, loop devices).
WANT="virtio_pci 9pnet_virtio 9p overlay kvm_amd tun veth bridge loop"

# module name (dashes as underscores) -> file, in the extracted package
module_file() { awk -v m="$1" '$1 == m { print $2; exit }' "$tmp/index"; }
# Depth first: a module's dependencies are loaded before it.
add_module() {
	grep -qx "$1" "$tmp/modules/order" 2>/dev/null && return 0
	f=$(module_file "$1")
	[ -n "$f" ] || die "module $1 not in $pkg"
	for d in $(objcopy -O binary --only-section=.modinfo "$f" /dev/stdout |
			tr '\0' '\n' | sed -n 's/^depends=//p' | tr , ' '); do
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
	rm -f "$tmp/index"
}

. "$(dirname "$0")/debian-kernel.sh"
debian_kernel linux-image-amd64 l1g-kernel keep_modules
