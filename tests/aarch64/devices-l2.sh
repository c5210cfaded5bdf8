#!/bin/sh
# The level-2 side of test_arm_devices.py (busybox sh in the arm64 guest):
# each device the level-1 script configured, used once, one "l2-..." line
# each; then it waits for level 1 to say "done" through MMDS (level 1
# queries husk's API in between).
ip addr add 172.16.0.2/24 dev eth0 && ip link set eth0 up
ip route add 169.254.169.254 dev eth0

# the body of GET /latest/meta-data/$1 from MMDS (busybox's wget needs an
# /etc this initramfs has not: raw HTTP through nc)
mmds_get() {
	printf 'GET /latest/meta-data/%s HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n' "$1" |
		nc -w 5 169.254.169.254 80 | tail -n 1
}

echo "l2-rng: $(cat /sys/class/misc/hw_random/rng_current) $(head -c 4096 /dev/hwrng | wc -c) bytes"
# level 1 wrote a marker at the start of each disk: read it, put ours there
# and read the whole disk (the rate limiter's bucket is smaller)
for d in vda vdb; do
	echo "l2-blk: $d reads $(head -c 13 /dev/$d) $(cat /dev/$d | wc -c) bytes"
	printf "l2-wrote-$d" | dd of=/dev/$d conv=fsync 2>/dev/null
done
echo "l2-balloon: $(ls /sys/bus/virtio/drivers/virtio_balloon | grep -c virtio) device"
ping -c 1 -W 5 172.16.0.1 | grep -o '64 bytes from 172.16.0.1' | sed 's/^/l2-net: /'
echo "l2-mmds: id $(mmds_get id)"
echo "l2: waiting for l1"
# bounded by time: each try can wait for nc's timeout when MMDS is down
n=0 start=$(date +%s)
until [ "$(mmds_get done)" = yes ]; do
	n=$((n + 1))
	if [ $(($(date +%s) - start)) -ge 60 ]; then
		echo "l2: no word from level 1 after $n polls"
		exit 1
	fi
	sleep 0.1
done
echo "l2: level 1 says done after $n polls"
