#!/bin/sh
# The level-2 side of test_husk_linux_guest_reads_mmds_with_curl: a real
# Linux guest routes the MMDS address to eth0 and asks with curl. With
# mmds_phase=v2 on the cmdline husk serves V2 (tokens required), else V1.
ip addr add 172.16.0.2/24 dev eth0 && ip link set eth0 up
ip route add 169.254.169.254 dev eth0
M=http://169.254.169.254

# "l2-mmds: WHAT -> CODE BODY" (the body on one line)
get() {
	what=$1
	shift
	code=$(curl -s -m 20 -o /tmp/body -w '%{http_code}' "$@")
	echo "l2-mmds: $what -> $code $(tr '\n' ',' < /tmp/body)"
}

token=$(curl -s -m 20 -X PUT -H 'X-metadata-token-ttl-seconds: 60' $M/latest/api/token)
echo "l2-mmds: token length ${#token}"
if grep -q mmds_phase=v2 /proc/cmdline; then
	get v2-no-token $M/latest/meta-data/id
	get v2-wrong-token -H "X-metadata-token: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" \
		$M/latest/meta-data/id
	get v2-token -H "X-metadata-token: $token" $M/latest/meta-data/id
	exit 0
fi
get v1 $M/latest/meta-data/id
get v1-list $M/latest/meta-data/
get v1-json -H 'Accept: application/json' $M/latest/meta-data
get v1-with-token -H "X-metadata-token: $token" $M/latest/meta-data/id
# a head that announces a body MMDS never reads: answered at once
get v1-body -X GET -H 'Content-Length: 100' -d 'some body' $M/
# level 1 PATCHes the store when it sees this line; the next GET sees it
echo "l2-mmds: patch now"
n=0
while [ $n -lt 300 ]; do
	v=$(curl -s -m 20 $M/latest/meta-data/id)
	[ "$v" = i-after ] && break
	n=$((n + 1))
	sleep 0.1
done
echo "l2-mmds: after patch -> $v"
