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

lists=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
stamp=$cache/l1g-kernel.resolved
pkg= ver=
if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$lists" ]; then
	read -r _ pkg ver < "$stamp"
else
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1)
	[ -n "$pkg" ] && ver=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
	if [ -n "$pkg" ] && [ -n "$ver" ] && [ "$ver" != "(none)" ]; then
		mkdir -p "$cache"
		echo "$lists $pkg $ver" > "$stamp.$$" && mv "$stamp.$$" "$stamp"
	fi
fi
if [ -z "$pkg" ] || [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
	old=$(ls -1d "$cache"/l1g-kernel-*/ 2>/dev/null | sort -V | tail -n 1)
	[ -n "$old" ] || die "cannot resolve linux-image-amd64 (run apt-get update)"
	echo "${old%/}"
	exit 0
fi

out=$cache/l1g-kernel-$pkg-$ver
[ -f "$out/modules/order" ] && { echo "$out"; exit 0; }
mkdir -p "$cache"
exec 9>"$out.lock"
flock 9
[ -f "$out/modules/order" ] && { echo "$out"; exit 0; }

tmp=$out.tmp
rm -rf "$tmp"
mkdir -p "$tmp/deb" "$tmp/modules"
(cd "$tmp/deb" && apt-get download -q "$pkg=$ver" >&2) || die "apt-get download $pkg=$ver failed"
dpkg-deb -x "$tmp/deb"/*.deb "$tmp/x"
kver=${pkg#linux-image-}
cp "$tmp/x/boot/vmlinuz-$kver" "$tmp/vmlinuz"
mdir=$tmp/x/lib/modules/$kver/kernel

# module name (dashes as underscores) -> file
find "$mdir" -name '*.ko' -printf '%f %p\n' |
	awk '{ sub(/\.ko$/, "", $1); gsub(/-/, "_", $1); print }' > "$tmp/index"
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
for m in $WANT; do add_module "$m"; done
echo "$pkg $ver" > "$tmp/package"
rm -rf "$tmp/deb" "$tmp/x" "$tmp/index"
rm -rf "$out"
mv "$tmp" "$out"
echo "$out"
