# Shell helpers for the aarch64 suite's level-1 scripts (busybox sh in
# tools/l1/run --arch aarch64), put in front of each script by l1.py.
# tests/nested/l1-api.sh's helpers (wait_for, wait_sock, start_husk,
# configure_linux, snapshot_and_kill, load_snapshot, show_consoles,
# show_disk) with api() through tests/aarch64/api-probe (no curl here).
#
# From the environment (l1.py): HUSK_ARM (the static arm64 husk),
# ARM_KERNEL (Image), ARM_INITRD, ARM_ROOTFS (ext4 image), ARM_PROBES (the
# static arm64 api-probe and vsock-probe).
#   run_l2 [HUSK ARGS]   husk run with the Linux guest (initrd root unless
#                        the args give a drive) and $L2_RUN as husk.run=;
#                        prints "husk-arm: vmm exit=N"

VMM=$HUSK_ARM L2_KERNEL=$ARM_KERNEL L2_INITRD=$ARM_INITRD
L2_CMDLINE="console=ttyS0 panic=1 quiet nokaslr cryptomgr.notests 8250.nr_uarts=1"
PATH=$ARM_PROBES:$PATH
. tests/nested/l1-api.sh

api() {
	resp=$(api-probe "$SOCK" "$@")
	code=${resp%% *}
	echo "l1-api: $1 $2 -> $resp"
}

# configure_linux's disk is /l2/rootfs.ext4: a writable copy
mkdir -p /l2
cp "$ARM_ROOTFS" /l2/rootfs.ext4

run_l2() {
	initrd="--initrd $L2_INITRD"
	case " $* " in *" --drive "*root*) initrd= ;; esac
	timeout 240 "$VMM" run --kernel "$L2_KERNEL" $initrd \
		--cmdline "$L2_CMDLINE${L2_RUN:+ husk.run=\"$L2_RUN\"}" "$@"
	echo "husk-arm: vmm exit=$?"
}
