#!/bin/sh
# clone-probe.sh MIN_UPTIME GENID_ADDR: the level-2 side of the clone-safety
# test (test_nested_linux.py). busybox sh, runs as husk.run in the guest.
#
#  1. Wait until the guest has been up MIN_UPTIME seconds: before ~120 s
#     Linux reseeds its CRNG every max(1 s, uptime/2) by itself, and clones
#     would differ by luck.
#  2. Force one reseed now (getrandom-probe --reseed), so the next one of
#     Linux's own is a minute away, and print "clone-probe: ready" with the
#     VMGenID the guest sees, then a second line: level 1 snapshots the
#     guest once the second has begun, so the first is whole.
#  3. A restore changes the generation id (husk draws a new one on every
#     restore, announced through ACPI or not): poll the id until it
#     changes, then give the kernel's notification (ACPI GED -> vmgenid
#     driver) up to 2 s to log "crng reseeded due to virtual machine fork"
#     (it comes within milliseconds where it comes at all), and print 32
#     bytes of getrandom(2) with the new id and whether the kernel reseeded.
min=$1
addr=$2

genid() {
	# busybox devmem reads 0xFFFFFFFF for a decimal address this high: hex
	for off in 0 4 8 12; do devmem "$(printf '0x%x' $((addr + off)))" 32; done | tr -d '\n'
}
uptime_s() { cut -d. -f1 /proc/uptime; }
reseeds() { dmesg | grep -c 'crng reseeded due to virtual machine fork'; }

while [ "$(uptime_s)" -lt "$min" ]; do sleep 1; done
getrandom-probe --reseed >/dev/null || exit 1
before=$(genid)
echo "clone-probe: ready uptime=$(uptime_s) genid=$before"
# Level 1 snapshots on this next line, not on "ready": the console is a
# byte-at-a-time UART, so a line is in husk's output only once the next
# one has begun, and a snapshot taken mid-line would cut it.
echo "clone-probe: waiting for a restore"
while [ "$(genid)" = "$before" ]; do sleep 0.05; done
n=0
while [ "$(reseeds)" = 0 ] && [ $n -lt 40 ]; do sleep 0.05; n=$((n + 1)); done
echo "clone-probe: restored genid=$(genid) kernel-reseeds=$(reseeds) getrandom=$(getrandom-probe)"
echo "clone-probe: done"
