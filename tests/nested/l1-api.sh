# Shell helpers for level-1 test scripts that drive husk's API with curl
# (test_nested_linux.py puts this in front of such a script). busybox sh.
#
#   api METHOD PATH [JSON]   curl --unix-socket $SOCK; prints
#                            "l1-api: METHOD PATH -> CODE BODY", sets $code
#                            (000: no answer in 120 s; husk's threads shown)
#   wait_for FILE PATTERN [S]
#                            a wait for a line in a log, bounded by S s of
#                            level 1's clock (120); on a timeout it prints
#                            the log's last lines and husk's threads
#   show_threads             state, wait channel and CPU ticks of each of
#                            $HUSK's threads
#   wait_sock PATH           a bounded wait (20 s) for a socket to appear
#   json_str S               S escaped for a JSON string (the level-2
#                            cmdline carries husk.run="...")
#   start_husk OUT [ARGS]    husk --api-sock on a fresh socket, stdout and
#                            stderr to OUT; sets SOCK and HUSK (its pid)
#   configure_linux VCPUS initrd|disk [MACHINE_JSON_FIELDS]
#                            machine-config (128 MiB) and boot-source for the
#                            level-2 guest; disk: /l2/rootfs.ext4 as the
#                            root drive instead of the initrd
#   snapshot_and_kill TYPE STATE MEM
#                            pause, PUT /snapshot/create, kill -9 husk
#   load_snapshot STATE MEM_BACKEND_JSON [LOAD_JSON_FIELDS]
#                            PUT /snapshot/load with resume_vm; a refused
#                            load kills this husk (nothing to wait for)
#   show_consoles            /tmp/h1.out and /tmp/h2.out prefixed "h1| "
#                            and "h2| ", then both as one stream "hb| " (a
#                            line the pause cut in two is whole there)
#   show_disk FILE           FILE of /l2/rootfs.ext4, mounted read-only

# A request husk has not answered in 120 s of level 1's clock (a pause
# whose vCPU never parks, say) prints code 000 and husk's threads.
api() {
	if [ $# -ge 3 ]; then
		code=$(curl -s -m 120 -o /tmp/api.body -w '%{http_code}' --unix-socket "$SOCK" \
			-X "$1" -H 'Content-Type: application/json' --data "$3" "http://localhost$2")
	else
		code=$(curl -s -m 120 -o /tmp/api.body -w '%{http_code}' --unix-socket "$SOCK" \
			-X "$1" "http://localhost$2")
	fi
	echo "l1-api: $1 $2 -> $code $(cat /tmp/api.body 2>/dev/null)"
	[ "$code" != 000 ] || show_threads
}

# $HUSK's threads: a halted guest's vCPU sleeps in KVM, a running one is R
show_threads() {
	for t in /proc/${HUSK:-0}/task/*; do
		[ -r "$t/stat" ] || continue
		# stat's fields after the name, which may hold a space ("fc_vcpu 0")
		set -- $(sed 's/.*) //' "$t/stat")
		echo "l1-threads: $(cat "$t/comm") state=$1 wchan=$(cat "$t/wchan" 2>/dev/null) utime=${12} stime=${13}"
	done
}

l1_uptime() { cut -d. -f1 /proc/uptime; }

# bounded by level 1's clock: a count of sleeps runs long under emulation
wait_for() {
	end=$(( $(l1_uptime) + ${3:-120} ))
	until grep -q "$2" "$1" 2>/dev/null || [ "$(l1_uptime)" -ge $end ]; do sleep 0.05; done
	grep -q "$2" "$1" 2>/dev/null && return 0
	echo "l1-wait: timed out on '$2' in $1 after ${3:-120} s; its last lines:"
	tail -n 5 "$1" | sed 's/^/l1-wait:   /'
	show_threads
	return 1
}

wait_sock() {
	n=0
	until [ -S "$1" ] || [ $n -ge 400 ]; do sleep 0.05; n=$((n+1)); done
}

json_str() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }

husks=0
start_husk() {
	out=$1
	shift
	husks=$((husks + 1))
	SOCK=/tmp/api$husks.sock
	"$VMM" --api-sock "$SOCK" "$@" > "$out" 2>&1 &
	HUSK=$!
	wait_sock "$SOCK"
}

configure_linux() {
	api PUT /machine-config "{\"vcpu_count\": $1, \"mem_size_mib\": 128${3:+, $3}}"
	args="\"boot_args\": \"$(json_str "$L2_CMDLINE")\""
	if [ "$2" = disk ]; then
		api PUT /boot-source "{\"kernel_image_path\": \"$L2_KERNEL\", $args}"
		api PUT /drives/rootfs '{"drive_id": "rootfs", "path_on_host": "/l2/rootfs.ext4", "is_root_device": true, "is_read_only": false}'
	else
		api PUT /boot-source "{\"kernel_image_path\": \"$L2_KERNEL\", \"initrd_path\": \"$L2_INITRD\", $args}"
	fi
}

snapshot_and_kill() {
	api PATCH /vm '{"state": "Paused"}'
	api PUT /snapshot/create "{\"snapshot_type\": \"$1\", \"snapshot_path\": \"$2\", \"mem_file_path\": \"$3\"}"
	kill -9 "$HUSK"
	wait "$HUSK"
}

load_snapshot() {
	api PUT /snapshot/load "{\"snapshot_path\": \"$1\", \"mem_backend\": $2${3:+, $3}, \"resume_vm\": true}"
	[ "$code" = 204 ] || kill -9 "$HUSK"
}

show_consoles() {
	sed 's/^/h1| /' /tmp/h1.out
	sed 's/^/h2| /' /tmp/h2.out
	cat /tmp/h1.out /tmp/h2.out | sed 's/^/hb| /'
}

show_disk() {
	mkdir -p /mnt/disk && mount -o loop,ro,noload /l2/rootfs.ext4 /mnt/disk &&
		echo "husk-nested: disk $1: $(cat "/mnt/disk/$1" 2>&1)"
}

