#!/bin/sh
# Fetch the level-1 kernel for the nested harness: Debian's
# linux-image-cloud-amd64 (apt-get download + dpkg-deb -x, no install), keep
# vmlinuz and the few modules level 1 loads.  Cached in
#   ${HUSK_CACHE:-/var/cache/husk}/l1-kernel-<package>-<version>/
#     vmlinuz  modules/{irqbypass,kvm,kvm-amd,tun,loop}.ko  (load in that order)
# Prints that directory.  Offline, the newest cached copy is used.
set -eu

cache=${HUSK_CACHE:-/var/cache/husk}
die() { echo "tests/nested/l1-kernel.sh: $*" >&2; exit 1; }
MODULES="virt/lib/irqbypass.ko arch/x86/kvm/kvm.ko arch/x86/kvm/kvm-amd.ko drivers/net/tun.ko drivers/block/loop.ko"

# apt-cache takes a second; its answer changes only when apt's lists do.
lists=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
stamp=$cache/l1-kernel.resolved
pkg= ver=
if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$lists" ]; then
	read -r _ pkg ver < "$stamp"
else
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1)
	[ -n "$pkg" ] && ver=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
	if [ -n "$pkg" ] && [ -n "$ver" ] && [ "$ver" != "(none)" ]; then
		mkdir -p "$cache"
		echo "$lists $pkg $ver" > "$stamp.$$" && mv "$stamp.$$" "$stamp"
	fi
fi
if [ -z "$pkg" ] || [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
	old=$(ls -1d "$cache"/l1-kernel-*/ 2>/dev/null | sort -V | tail -n 1)
	[ -n "$old" ] || die "cannot resolve linux-image-cloud-amd64 (run apt-get update)"
	echo "${old%/}"
	exit 0
fi

out=$cache/l1-kernel-$pkg-$ver
if [ -f "$out/vmlinuz" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$cache"
exec 9>"$out.lock"
flock 9
if [ -f "$out/vmlinuz" ]; then
	echo "$out"
	exit 0
fi

tmp=$out.tmp
rm -rf "$tmp"
mkdir -p "$tmp/deb" "$tmp/modules"
# apt-get download writes into the current directory; _apt cannot write a
# root-owned temp dir, which only costs a warning.
(cd "$tmp/deb" && apt-get download -q "$pkg=$ver" >&2) || die "apt-get download $pkg=$ver failed"
dpkg-deb -x "$tmp/deb"/*.deb "$tmp/x"
kver=${pkg#linux-image-}
cp "$tmp/x/boot/vmlinuz-$kver" "$tmp/vmlinuz"
for m in $MODULES; do
	cp "$tmp/x/lib/modules/$kver/kernel/$m" "$tmp/modules/" ||
		die "$m missing from $pkg"
done
echo "$pkg $ver" > "$tmp/package"
rm -rf "$tmp/deb" "$tmp/x"
rm -rf "$out"
mv "$tmp" "$out"
echo "$out"
