#!/bin/sh
# Build husk's small Linux guest kernel from Debian's linux-source
# package: tinyconfig + a fragment, every wanted symbol verified, then
#   guest-kernel/build.sh [x86_64]  husk.config: vmlinux (ELF with a PVH
#                                   note) and bzImage
#   guest-kernel/build.sh arm64     husk-arm64.config, cross-built with
#                                   gcc-aarch64-linux-gnu: Image (the arm64
#                                   boot image, uncompressed)
#
# Artifacts are cached outside the source tree in
#   ${HUSK_CACHE:-/var/cache/husk}/kernel-<key>/{vmlinux,bzImage|Image,config}
# where <key> hashes the fragment, the kernel source version and the recipe
# version below, so a rebuild happens only when one of those changes.
# The directory path is the only thing printed on stdout; progress goes to
# stderr.  Env: HUSK_CACHE, HUSK_JOBS (default 2), HUSK_KERNEL_TARBALL.
set -eu

RECIPE=1   # bump when this script changes what it produces

here=$(cd "$(dirname "$0")" && pwd)
cache=${HUSK_CACHE:-/var/cache/husk}
jobs=${HUSK_JOBS:-2}

die() { echo "guest-kernel/build.sh: $*" >&2; exit 1; }
say() { echo "guest-kernel: $*" >&2; }

# image: the boot image besides vmlinux, built by make target $image and
# found at $image_path in the object tree
case "${1:-x86_64}" in
x86_64)
	frag=$here/husk.config karch=x86_64 cross= gcc=gcc
	image=bzImage image_path=arch/x86/boot/bzImage ;;
arm64)
	frag=$here/husk-arm64.config karch=arm64 cross=aarch64-linux-gnu- gcc=aarch64-linux-gnu-gcc
	image=Image image_path=arch/arm64/boot/Image ;;
*) die "unknown architecture $1 (x86_64 or arm64)" ;;
esac

tarball=${HUSK_KERNEL_TARBALL:-$(ls -1 /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1)}
[ -n "$tarball" ] && [ -f "$tarball" ] ||
	die "no /usr/src/linux-source-*.tar.xz: run 'apt-get install linux-source'"
for tool in make $gcc flex bison bc readelf sha256sum; do
	command -v $tool >/dev/null 2>&1 ||
		die "missing $tool: tools/deps$([ -n "$cross" ] && echo ' --arm64')"
done

# The package version names the source exactly; fall back to size+mtime.
pkg=$(dpkg -S "$tarball" 2>/dev/null | cut -d: -f1 || true)
srcver=
[ -n "$pkg" ] && srcver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
[ -n "$srcver" ] || srcver=$(stat -c '%s-%Y' "$tarball")
key=$( { echo "recipe=$RECIPE"; echo "source=$(basename "$tarball") $srcver"; cat "$frag"; } |
	sha256sum | cut -c1-16)
out=$cache/kernel-$key

if [ -f "$out/vmlinux" ] && [ -f "$out/$image" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/kernel-$key.lock"
flock 9
if [ -f "$out/vmlinux" ] && [ -f "$out/$image" ]; then
	echo "$out"
	exit 0
fi

# Pristine extracted source, shared by every config (builds use O=).
srcname=$(basename "$tarball" .tar.xz)
src=$cache/src/$srcname-$srcver
if [ ! -f "$src/Makefile" ]; then
	say "extracting $tarball"
	rm -rf "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$src.tmp" -xf "$tarball"
	rm -rf "$src"
	mv "$src.tmp/$srcname" "$src"
	rmdir "$src.tmp"
fi

obj=$cache/kernel-$key.build
mkdir -p "$obj"
kmake() { make -C "$src" O="$obj" ARCH=$karch CROSS_COMPILE=$cross "$@" >&2; }

say "configuring in $obj"
kmake tinyconfig
# -m: merge only; olddefconfig below resolves dependencies.
(cd "$obj" && ARCH=$karch "$src/scripts/kconfig/merge_config.sh" -m -O "$obj" \
	"$obj/.config" "$frag" >&2)
kmake olddefconfig

# tinyconfig drops a symbol whose dependencies are off without a word:
# check every wanted value made it into the final .config.
missing=
for want in $(grep -E '^CONFIG_[A-Za-z0-9_]+=' "$frag"); do
	grep -qxF "$want" "$obj/.config" || missing="$missing $want"
done
for sym in $(sed -n 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1/p' "$frag"); do
	grep -qE "^$sym=[ym]" "$obj/.config" && missing="$missing $sym=n"
done
if [ -n "$missing" ]; then
	for want in $missing; do
		sym=${want%%=*}
		got=$(grep -E "^$sym=|^# $sym is not set" "$obj/.config" || echo "$sym absent")
		echo "  wanted $want, got: $got" >&2
	done
	die "config differs from $(basename "$frag") after olddefconfig (a parent is off, or a select forces a symbol on)"
fi
say "all $(grep -cE '^CONFIG_[A-Za-z0-9_]+=|^# CONFIG_.* is not set' "$frag") symbols of $(basename "$frag") as wanted"

say "building vmlinux and $image with -j$jobs"
start=$(date +%s)
kmake -j"$jobs" vmlinux $image
say "built in $(( $(date +%s) - start )) s"

if [ "$karch" = x86_64 ]; then
	# PVH entry: XEN_ELFNOTE_PHYS32_ENTRY is note type 18 (0x12), owner "Xen".
	readelf -n "$obj/vmlinux" | grep -E '^[[:space:]]+Xen[[:space:]].*\(0x0*12\)' >/dev/null ||
		die "$obj/vmlinux has no PVH note (Xen, type 0x12)"
else
	# the arm64 Image header's magic, "ARM\x64" at byte 56
	[ "$(od -An -c -j56 -N4 "$obj/$image_path" | tr -d ' ')" = 'ARMd' ] ||
		die "$obj/$image_path has no arm64 Image header"
fi

rm -rf "$out.tmp"
mkdir -p "$out.tmp"
cp "$obj/vmlinux" "$out.tmp/vmlinux"
cp "$obj/$image_path" "$out.tmp/$image"
cp "$obj/.config" "$out.tmp/config"
echo "$(basename "$tarball") $srcver" > "$out.tmp/source"
rm -rf "$out"
mv "$out.tmp" "$out"
# The object tree (~250 MB) is only worth keeping while a build fails.
rm -rf "$obj"
echo "$out"
