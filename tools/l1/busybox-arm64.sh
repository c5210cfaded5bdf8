#!/bin/sh
# The arm64 busybox of the aarch64 level-1 machine: Debian's
# busybox-static:arm64 (apt-get download + dpkg-deb -x, nothing installed:
# it would replace the host's busybox-static).  Statically linked, so it runs
# in level 1 although the host root it sees holds x86 programs only.
# Cached in ${HUSK_CACHE:-/var/cache/husk}/l1a-busybox-<version>/busybox;
# prints that file.  Offline, the newest cached copy is used.
set -eu
cache=${HUSK_CACHE:-/var/cache/husk}
die() { echo "tools/l1/busybox-arm64.sh: $*" >&2; exit 1; }

ver=$(apt-cache policy busybox-static:arm64 2>/dev/null | sed -n 's/^ *Candidate: //p')
if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
	old=$(ls -1d "$cache"/l1a-busybox-*/ 2>/dev/null | sort -V | tail -n 1)
	[ -n "$old" ] || die "no busybox-static:arm64 (tools/deps --arm64 adds the arm64 architecture)"
	echo "${old%/}/busybox"
	exit 0
fi
out=$cache/l1a-busybox-$(echo "$ver" | tr : _)
[ -f "$out/busybox" ] && { echo "$out/busybox"; exit 0; }
mkdir -p "$cache"
tmp=$(mktemp -d "$out.XXXXXX")
# apt-get download writes into the current directory; _apt cannot write a
# root-owned temp dir, which only costs a warning.
(cd "$tmp" && apt-get download -q "busybox-static:arm64=$ver" >&2) ||
	die "apt-get download busybox-static:arm64=$ver failed"
dpkg-deb -x "$tmp"/*.deb "$tmp/x"
mkdir -p "$tmp/out"
cp "$tmp/x/bin/busybox" "$tmp/out/busybox"
rm -rf "$out"
mv "$tmp/out" "$out"
rm -rf "$tmp"
echo "$out/busybox"
