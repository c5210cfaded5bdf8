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

keep_modules() {
	for m in $MODULES; do
		cp "$x/lib/modules/$kver/kernel/$m" "$tmp/modules/" || die "$m missing from $pkg"
	done
}

. "$(dirname "$0")/../../tools/l1/debian-kernel.sh"
debian_kernel linux-image-cloud-amd64 l1-kernel keep_modules
