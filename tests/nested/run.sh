#!/bin/sh
# Boot the project's Linux guest (guest-kernel/ + rootfs/) under a VMM that
# runs inside a level-1 QEMU TCG machine with nested AMD-V (this host's own
# /dev/kvm cannot run stock Linux).  Prints the level-1 console, which
# carries the level-2 serial output; exits 0 when the level-2 init marker
# "husk-rootfs: init reached" was seen.
#
# Usage: run.sh <husk-binary | qemu-system-x86_64> [extra VMM args]
#   A qemu-system-* binary is run as the inner VMM instead of husk (it
#   validates the level-1 setup).
# Env:
#   HUSK_NESTED_RUN      shell command the level-2 init runs (husk.run=)
#   HUSK_NESTED_CMDLINE  extra level-2 kernel cmdline
#   HUSK_NESTED_VCPUS    level-2 vCPUs (default 1); HUSK_NESTED_MEM MiB (128)
#   HUSK_NESTED_L1_SMP   level-1 CPUs (default 1); HUSK_NESTED_L1_CMDLINE: more
#                        level-1 kernel cmdline
#   HUSK_NESTED_TIMEOUT  seconds for the whole outer machine (default 180)
#   HUSK_NESTED_STALL    seconds without level 1's pulse after which it is
#                        taken as frozen and stopped, exit 75 (default 90)
#   HUSK_NESTED_ROOT     initrd (default: rootfs initramfs as --initrd) or
#                        disk (rootfs.ext4 copied to /l2/rootfs.ext4, no
#                        initrd; QEMU mode attaches it and adds root=/dev/vda
#                        itself, husk needs --drive path=/l2/rootfs.ext4,root)
#   HUSK_NESTED_TAP=1    level 1 makes tap0 (172.16.0.1/24) before the VMM
#                        starts; QEMU mode attaches it with MAC
#                        06:00:ac:10:00:02 (husk: say so in the extra args)
#   HUSK_NESTED_FILES    host files to put into level 1: executables (curl ...)
#                        at their own path with their libraries, others
#                        (a config JSON ...) as /extra/<name>
#   HUSK_NESTED_L2_FILES host executables added to the level-2 initrd's
#                        /bin (dynamic ones with their libraries; initrd
#                        root only)
#   HUSK_NESTED_SHOW_FILES  with a disk root: files of the image that level 1
#                        prints after the VMM exits ("husk-nested: disk F: ...")
#   HUSK_NESTED_TEST     a script to run in level 1 instead of the default
#                        (sees $VMM, $L2_KERNEL, $L2_INITRD, $L2_CMDLINE and
#                        $VMM_CMD, the default VMM command with the extra
#                        args: `eval "$VMM_CMD" &` then drive it, e.g. with
#                        curl --unix-socket given by HUSK_NESTED_FILES)
#   HUSK_NESTED_KEEP=DIR keep the per-run files there
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
die() { echo "tests/nested/run.sh: $*" >&2; exit 2; }
say() { echo "husk-nested: $*" >&2; }

[ $# -ge 1 ] || die "usage: run.sh <husk-binary|qemu-system-x86_64> [extra VMM args]"
vmm=$(command -v "$1" || true)
[ -n "$vmm" ] && [ -x "$vmm" ] || die "$1: not an executable"
vmm=$(readlink -f "$vmm")
shift
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: apt-get install qemu-system-x86"
qboot=/usr/share/qemu/qboot.rom
[ -f "$qboot" ] || die "$qboot missing (qemu-system-data)"

t0=$(date +%s.%N)
kdir=$("$top/guest-kernel/build.sh")
rdir=$("$top/rootfs/build.sh")
l1k=$("$here/l1-kernel.sh")
base=$("$here/l1-base.sh" "$l1k")
t1=$(date +%s.%N)

work=${HUSK_NESTED_KEEP:-}
if [ -n "$work" ]; then
	rm -rf "$work"; mkdir -p "$work"
else
	work=$(mktemp -d /tmp/husk-nested.XXXXXX)
	trap 'rm -rf "$work"' EXIT
fi
ov=$work/overlay
mkdir -p "$ov/l2" "$ov/vmm"

# The VMM and every shared library it needs, at the paths ldd names (the
# dynamic loader included), so it runs unchanged inside level 1.
copy_with_libs() { # DEST-ROOT FILE
	mkdir -p "$1$(dirname "$2")"
	cp -L "$2" "$1$2"
	for lib in $(ldd "$2" 2>/dev/null | grep -oE '/[^ ]+' ); do
		[ -f "$1$lib" ] && continue
		mkdir -p "$1$(dirname "$lib")"
		cp -L "$lib" "$1$lib"
	done
}
is_dynamic_elf() {
	[ -x "$1" ] && [ "$(head -c 4 "$1" | tail -c 3)" = ELF ] && ldd "$1" >/dev/null 2>&1
}
copy_with_libs "$ov" "$vmm"
for f in ${HUSK_NESTED_FILES:-}; do
	[ -f "$f" ] || die "HUSK_NESTED_FILES: $f is not a file"
	if [ -x "$f" ] && [ "$(head -c 4 "$f" | tail -c 3)" = ELF ]; then
		copy_with_libs "$ov" "$(readlink -f "$f")"
	else
		mkdir -p "$ov/extra"
		cp -L "$f" "$ov/extra/"
	fi
done

cp "$kdir/vmlinux" "$ov/l2/vmlinux"
cp "$rdir/initramfs.cpio" "$ov/l2/initrd"
if [ -n "${HUSK_NESTED_L2_FILES:-}" ]; then
	# The kernel unpacks concatenated newc archives in order: a second one
	# adds files to the cached rootfs initramfs without rebuilding it.
	mkdir -p "$work/l2extra/bin"
	for f in $HUSK_NESTED_L2_FILES; do
		[ -f "$f" ] || die "HUSK_NESTED_L2_FILES: $f is not a file"
		if is_dynamic_elf "$f"; then
			# with its libraries at their own paths, run as /bin/NAME
			copy_with_libs "$work/l2extra" "$(readlink -f "$f")"
			[ -e "$work/l2extra/bin/$(basename "$f")" ] ||
				ln -s "$(readlink -f "$f")" "$work/l2extra/bin/$(basename "$f")"
		else
			cp -L "$f" "$work/l2extra/bin/"
		fi
	done
	(cd "$work/l2extra" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc --owner=0:0) >> "$ov/l2/initrd"
fi
root=${HUSK_NESTED_ROOT:-initrd}
case "$root" in
initrd) ;;
disk) cp "$rdir/rootfs.ext4" "$ov/l2/rootfs.ext4" ;;
*) die "HUSK_NESTED_ROOT must be initrd or disk" ;;
esac

# Level-2 cmdline: husk's default plus what saves seconds under emulation.
l2cmd="console=ttyS0 panic=1 pci=off nomodule 8250.nr_uarts=1 i8042.noaux i8042.nomux i8042.dumbkbd"
l2cmd="$l2cmd quiet no_timer_check lpj=5000000 tsc=reliable mitigations=off nokaslr cryptomgr.notests"
run=${HUSK_NESTED_RUN:-}
case "$run" in *'"'*) die "HUSK_NESTED_RUN cannot hold a double quote (it travels in husk.run=\"...\" on the cmdline)" ;; esac
[ -n "$run" ] && l2cmd="$l2cmd husk.run=\"$run\""
l2cmd="$l2cmd ${HUSK_NESTED_CMDLINE:-}"
vcpus=${HUSK_NESTED_VCPUS:-1}
mem=${HUSK_NESTED_MEM:-128}

case "$(basename "$vmm")" in
qemu-system-*)
	# QEMU as the inner VMM: microvm (qboot writes an MP table), reset via
	# triple fault since microvm has no i8042.
	mkdir -p "$ov/vmm/share"
	for f in bios-microvm.bin qboot.rom linuxboot_dma.bin pvh.bin; do
		[ -f /usr/share/qemu/$f ] && cp /usr/share/qemu/$f "$ov/vmm/share/"
	done
	vmm_cmd="\"$vmm\" -L /vmm/share -M microvm,acpi=off -accel kvm -cpu host -smp $vcpus -m $mem -nodefaults -nographic -no-reboot -serial stdio -kernel /l2/vmlinux -append \"\$L2_CMDLINE\""
	if [ "$root" = disk ]; then
		vmm_cmd="$vmm_cmd -drive file=/l2/rootfs.ext4,if=none,format=raw,id=root -device virtio-blk-device,drive=root"
	else
		vmm_cmd="$vmm_cmd -initrd /l2/initrd"
	fi
	[ "${HUSK_NESTED_TAP:-0}" = 1 ] &&
		vmm_cmd="$vmm_cmd -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-device,netdev=n0,mac=06:00:ac:10:00:02"
	[ "$root" = disk ] && l2cmd="$l2cmd root=/dev/vda rw rootfstype=ext4"
	l2cmd="$l2cmd reboot=t"
	;;
*)
	# With a disk root, the extra args attach /l2/rootfs.ext4, and say it
	# is the root (--drive path=/l2/rootfs.ext4,root): husk then adds
	# root=/dev/vda to the cmdline itself, which the disk tests rely on.
	vmm_cmd="\"$vmm\" run --kernel /l2/vmlinux --cmdline \"\$L2_CMDLINE\" --vcpus $vcpus --mem $mem"
	[ "$root" = initrd ] && vmm_cmd="$vmm_cmd --initrd /l2/initrd"
	l2cmd="$l2cmd reboot=k"
	;;
esac
for a in "$@"; do
	vmm_cmd="$vmm_cmd '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"
done

{
	echo "VMM='$vmm'"
	echo "L2_KERNEL=/l2/vmlinux L2_INITRD=/l2/initrd"
	echo "L2_CMDLINE='$(printf '%s' "$l2cmd" | sed "s/'/'\\\\''/g")'"
	echo "VMM_CMD='$(printf '%s' "$vmm_cmd" | sed "s/'/'\\\\''/g")'"
	echo "export VMM L2_KERNEL L2_INITRD L2_CMDLINE VMM_CMD"
	if [ "${HUSK_NESTED_TAP:-0}" = 1 ]; then
		echo "tunctl -t tap0 >/dev/null && ip addr add 172.16.0.1/24 dev tap0 && ip link set tap0 up || echo 'husk-nested: tap0 setup failed'"
	fi
	if [ -n "${HUSK_NESTED_TEST:-}" ]; then
		cat "$HUSK_NESTED_TEST"
	else
		echo "start=\$(cut -d' ' -f1 /proc/uptime)"
		echo "timeout 150 $vmm_cmd"
		echo "rc=\$?"
		echo "echo \"husk-nested: vmm exit=\$rc after \$(cut -d' ' -f1 /proc/uptime) - \$start s\""
		if [ "$root" = disk ] && [ -n "${HUSK_NESTED_SHOW_FILES:-}" ]; then
			echo "mkdir -p /mnt/disk && mount -o loop,ro,noload /l2/rootfs.ext4 /mnt/disk || echo 'husk-nested: cannot mount the disk'"
			for f in $HUSK_NESTED_SHOW_FILES; do
				echo "echo \"husk-nested: disk $f: \$(cat /mnt/disk/$f 2>&1)\""
			done
		fi
		echo "exit \$rc"
	fi
} > "$ov/test.sh"

(cd "$ov" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0) > "$work/overlay.cpio"
cat "$base" "$work/overlay.cpio" > "$work/l1.cpio"
t2=$(date +%s.%N)

say "artifacts: kernel $kdir, rootfs $rdir, l1 $l1k"
say "prepare $(echo "$t1 - $t0" | bc) s (cached builds) + $(echo "$t2 - $t1" | bc) s (overlay)"
# Level 1's /init writes its uptime to a second serial port (the pulse
# file) every 5 s. A level 1 that stops doing so for HUSK_NESTED_STALL s
# (90) has frozen: seen here about once in 30 level-1 runs, in the middle
# of tests that do unrelated things, with its own clock-bounded loops
# never ending, so the emulation (TCG's nested SVM) and not the test is
# what stopped. It is stopped at once, and run.sh exits 75 so that the
# caller can run it again instead of waiting for the timeout.
: > "$work/pulse"
timeout "${HUSK_NESTED_TIMEOUT:-180}" qemu-system-x86_64 -accel tcg -cpu EPYC,-xsave -m 2048 \
	-smp "${HUSK_NESTED_L1_SMP:-1}" -nographic -no-reboot -nodefaults -serial stdio \
	-serial file:"$work/pulse" \
	-bios "$qboot" -kernel "$l1k/vmlinuz" -initrd "$work/l1.cpio" \
	-append "console=ttyS0 panic=-1 quiet mitigations=off nokaslr no_timer_check tsc=reliable cryptomgr.notests lpj=5000000 ${HUSK_NESTED_L1_CMDLINE:-}" </dev/null > "$work/console.log" 2> "$work/qemu.err" &
qemu=$!
stalled=
while kill -0 $qemu 2>/dev/null; do
	sleep 2
	[ -s "$work/pulse" ] || continue # not beating yet: booting
	quiet=$(( $(date +%s) - $(stat -c %Y "$work/pulse") ))
	if [ $quiet -ge "${HUSK_NESTED_STALL:-90}" ]; then
		stalled="no pulse for $quiet s, the last at its uptime $(tail -n 1 "$work/pulse" | tr -d '\r') s"
		kill $qemu 2>/dev/null || true
		break
	fi
done
wait $qemu || true
t3=$(date +%s.%N)
cat "$work/console.log"
if [ -n "$stalled" ]; then
	say "level 1 stalled: $stalled; stopped after $(echo "$t3 - $t2" | bc) s"
	exit 75
fi
# -cpu EPYC names features TCG lacks; QEMU warns about each one.
grep -v "warning: TCG doesn't support requested feature" "$work/qemu.err" >&2 || true
say "outer machine $(echo "$t3 - $t2" | bc) s"
grep -q "husk-rootfs: init reached" "$work/console.log"
