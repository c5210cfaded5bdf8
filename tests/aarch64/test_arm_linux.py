"""The project's arm64 Linux guest (guest-kernel/build.sh arm64, rootfs/build.sh
arm64) under the cross-built static husk, inside the aarch64 level-1 machine
(real arm64 KVM, emulated by QEMU).  Each test is a busybox-sh script there,
with tests/aarch64/l2-lib.sh's helpers in front (run_l2, api, start_husk...)."""
import re

from l1 import HERE, run_arm_l1

L2_LIB = (HERE / "l2-lib.sh").read_text()


def run_l2_script(arm_env, script, cpus=1):
    return run_arm_l1(L2_LIB + script, env=arm_env, cpus=cpus)


def api_codes(out):
    """[(method, path, status)] of every l1-api line, in order."""
    return [(m, p, int(c)) for m, p, c in
            re.findall(r"^l1-api: (\S+) (\S+) -> (\d+)", out, re.M)]


def assert_all_in(out, *lines):
    """Each of lines is somewhere in out (the whole output shown if not)."""
    for line in lines:
        assert line in out, out


# husk's line when the guest's init writes the boot timer (rootfs/init,
# MMIO 0x40000000 on arm64): microseconds, then milliseconds
BOOT_TIME = re.compile(r"Guest-boot-time = (\d+) us (\d+) ms")


def ticks(out, prefix):
    return [int(t) for t in re.findall(rf"^{prefix}\| tick=(\d+)\r?$", out, re.M)]


def test_two_vcpus_to_userspace_and_system_reset_ends_husk_with_0(arm_env):
    # reboot -f in the guest is PSCI SYSTEM_RESET; the second CPU comes up
    # through PSCI CPU_ON
    rc, out = run_l2_script(arm_env, r"""
L2_RUN='echo arch=$(uname -m) cpus-online=$(cat /sys/devices/system/cpu/online); dmesg | grep -i -e psci -e smp:'
run_l2 --vcpus 2 --mem 128
""", cpus=2)
    assert_all_in(out, "husk-rootfs: init reached", "arch=aarch64 cpus-online=0-1",
                  "smp: Brought up 1 node, 2 CPUs", "husk-rootfs: rebooting", "husk-arm: vmm exit=0")
    assert re.search(r"psci: PSCIv\d+\.\d+ detected in firmware", out), out
    # the boot timer: init's devmem write reached husk once, and the time
    # is positive and within run_l2's 240 s (which would have cut it off)
    assert "husk-rootfs: boot timer write failed" not in out, out
    times = BOOT_TIME.findall(out)
    assert len(times) == 1, out
    us, ms = (int(t) for t in times[0])
    assert 0 < us < 240_000_000 and ms == us // 1000, out
    assert rc == 0, out


def test_system_off_ends_husk_with_0(arm_env):
    rc, out = run_l2_script(arm_env, r"""
L2_RUN='echo powering-off; poweroff -f; echo poweroff-returned'
run_l2
""")
    assert "powering-off" in out, out
    assert "poweroff-returned" not in out, out
    assert "husk-rootfs: rebooting" not in out, out
    assert "husk-arm: vmm exit=0" in out, out
    assert rc == 0, out


# no root= from the test: husk adds root=/dev/vda for the root drive (the
# guest would panic without a root fs)
def test_ext4_root_on_virtio_blk(arm_env):
    rc, out = run_l2_script(arm_env, r"""
L2_RUN='echo l2-root=$(grep -e ^/dev/root -e ^/dev/vda /proc/mounts | cut -d\  -f2-4); echo written-by-l2 > /root/from-l2'
run_l2 --drive path=/l2/rootfs.ext4,root
show_disk root/from-l2
""")
    assert "l2-root=/ ext4 rw" in out, out
    assert "husk-rootfs: run exit=0" in out, out
    assert "husk-arm: vmm exit=0" in out, out
    # read back by level 1 from the image after husk exited
    assert "husk-nested: disk root/from-l2: written-by-l2" in out, out
    assert rc == 0, out


def test_net_ping_through_a_tap(arm_env):
    rc, out = run_l2_script(arm_env, r"""
tunctl -t tap0 >/dev/null && ip addr add 172.16.0.1/24 dev tap0 && ip link set tap0 up || echo 'husk-arm: tap0 setup failed'
L2_RUN='echo mac=$(cat /sys/class/net/eth0/address); ip addr add 172.16.0.2/24 dev eth0 && ip link set eth0 up && ping -c 1 -W 5 172.16.0.1'
run_l2 --net tap=tap0,mac=06:00:ac:10:00:02
""")
    assert "husk-arm: tap0 setup failed" not in out, out
    assert "mac=06:00:ac:10:00:02" in out, out
    assert "64 bytes from 172.16.0.1" in out, out
    assert "husk-rootfs: run exit=0" in out, out
    assert "husk-arm: vmm exit=0" in out, out
    assert rc == 0, out


def test_vsock_both_directions(arm_env):
    # guest -> host: husk connects to <uds>_6000, where level 1 listens;
    # host -> guest: CONNECT 5000 on the uds reaches the guest's listener
    rc, out = run_l2_script(arm_env, r"""
vsock-probe listen-unix /tmp/v.sock_6000 > /tmp/l1-listen.out 2>&1 &
wait_for /tmp/l1-listen.out 'listening'
L2_RUN='vsock-probe connect-vsock 6000 hello-from-l2; vsock-probe listen-vsock 5000'
run_l2 --vsock cid=3,uds=/tmp/v.sock > /tmp/vmm.log 2>&1 &
vmm=$!
wait_for /tmp/vmm.log 'vsock-probe: listening on 5000'
vsock-probe connect-unix /tmp/v.sock 5000 hello-from-l1
wait $vmm
cat /tmp/l1-listen.out /tmp/vmm.log
""")
    assert_all_in(out, "vsock-probe: served 'hello-from-l2'", "pong:hello-from-l2",
                  "vsock-probe: served 'hello-from-l1'", "pong:hello-from-l1", "husk-arm: vmm exit=0")
    assert re.search(r"vsock-probe: handshake OK \d+", out), out
    assert rc == 0, out


def test_snapshot_round_trip_goes_on_where_it_stopped(arm_env):
    # A guest counting on its serial line is paused, snapshotted (Full),
    # husk killed; a fresh husk restores it and the count goes on from
    # where it was, with no reboot; a task pinned to the second vCPU runs
    # after the restore.
    rc, out = run_l2_script(arm_env, r"""
L2_CMDLINE="$L2_CMDLINE husk.run=\"i=0; while [ \$i -lt 30 ]; do echo tick=\$i; i=\$((i+1)); sleep 0.2; done; echo last-cpu=\$(taskset -c 1 cut -d' ' -f39 /proc/self/stat); echo restored-ok > /root/after-restore\""
start_husk /tmp/h1.out
configure_linux 2 disk
api PUT /actions '{"action_type": "InstanceStart"}'
wait_for /tmp/h1.out '^tick=5'
snapshot_and_kill Full /tmp/snap.state /tmp/snap.mem
start_husk /tmp/h2.out
load_snapshot /tmp/snap.state '{"backend_type": "File", "backend_path": "/tmp/snap.mem"}'
api GET /
wait $HUSK
echo "husk-arm: vmm exit=$?"
show_consoles
show_disk root/after-restore
""", cpus=2)
    codes = api_codes(out)
    assert ("PATCH", "/vm", 204) in codes, out
    assert ("PUT", "/snapshot/create", 204) in codes, out
    assert ("PUT", "/snapshot/load", 204) in codes, out
    assert re.search(r'l1-api: GET / -> 200 .*"state": ?"Running"', out), out
    assert len(ticks(out, "h1")) >= 6 and ticks(out, "h2"), out
    # one guest, one count: nothing repeated or lost across the restore
    assert ticks(out, "hb") == list(range(30)), out
    assert not re.search(r"^h2\| husk-rootfs: init reached", out, re.M), out
    assert re.search(r"^h2\| last-cpu=1\r?$", out, re.M), out
    assert "husk-arm: vmm exit=0" in out, out
    assert "husk-nested: disk root/after-restore: restored-ok" in out, out
    assert rc == 0, out
