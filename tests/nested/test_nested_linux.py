"""Real Linux guests through nested KVM: level 1 is a QEMU TCG machine with
AMD-V, the inner VMM runs inside it (tests/nested/run.sh does the work).

HUSK_BIN names the husk binary (default: $HUSK_BUILD/husk, HUSK_BUILD
defaulting to build/ at the top of the tree, as tools/test sets it).
The *_qemu_inner tests run QEMU as the inner VMM: they check the harness
itself (level-1 kernel, KVM modules, guest kernel, rootfs) independent of husk.
"""
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent
HUSK = Path(os.environ.get("HUSK_BIN")
            or Path(os.environ.get("HUSK_BUILD", TOP / "build")) / "husk")
QEMU = shutil.which("qemu-system-x86_64")

pytestmark = [
    pytest.mark.skipif(QEMU is None,
                       reason="qemu-system-x86_64 missing (apt-get install qemu-system-x86)"),
    pytest.mark.skipif(not list(Path("/usr/src").glob("linux-source-*.tar.xz")),
                       reason="no kernel source to build the guest (apt-get install linux-source)"),
]
needs_husk = pytest.mark.skipif(not HUSK.exists(), reason=f"{HUSK} not built")


def rootfs_image():
    """The rootfs image run.sh copies in (rootfs/build.sh is cached)."""
    out = subprocess.run([str(TOP / "rootfs" / "build.sh")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.strip()
    return Path(out) / "rootfs.ext4"


def run_nested(vmm, env=None, *vmm_args):
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([str(HERE / "run.sh"), str(vmm), *vmm_args],
                          env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          errors="replace", timeout=900)
    return proc.returncode, proc.stdout


def run_level1_script(vmm, script, env=None, *vmm_args):
    """Run `script` as level 1's test instead of run.sh's default; it sees
    $VMM_CMD (the VMM command run.sh would run) and curl (for the API)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
        f.write(script)
        f.flush()
        full_env = {"HUSK_NESTED_TEST": f.name,
                    "HUSK_NESTED_FILES": shutil.which("curl") or ""}
        for k, v in (env or {}).items():
            full_env[k] = f"{full_env[k]} {v}".strip() if k == "HUSK_NESTED_FILES" else v
        return run_nested(vmm, full_env, *vmm_args)


def test_harness_qemu_inner_initrd():
    rc, out = run_nested(QEMU, {"HUSK_NESTED_RUN": "echo l2-userspace-ok"})
    assert "husk-nested: l1 ready" in out, out
    assert "husk-rootfs: init reached" in out, out
    assert "l2-userspace-ok" in out, out
    assert "husk-nested: vmm exit=0" in out, out
    assert rc == 0, out


def test_harness_qemu_inner_disk_root_two_cpus():
    rc, out = run_nested(QEMU, {
        "HUSK_NESTED_ROOT": "disk",
        "HUSK_NESTED_VCPUS": "2",
        "HUSK_NESTED_SHOW_FILES": "root/from-l2",
        "HUSK_NESTED_RUN": "cat /sys/devices/system/cpu/online > /root/from-l2"})
    assert "husk-rootfs: init reached" in out, out
    assert "husk-nested: disk root/from-l2: 0-1" in out, out
    assert rc == 0, out


def test_harness_qemu_inner_net_ping():
    rc, out = run_nested(QEMU, {
        "HUSK_NESTED_TAP": "1",
        "HUSK_NESTED_RUN": "echo mac=$(cat /sys/class/net/eth0/address); "
                           "ip addr add 172.16.0.2/24 dev eth0 && ip link set eth0 up && "
                           "ping -c 1 -W 5 172.16.0.1"})
    assert "mac=06:00:ac:10:00:02" in out, out
    assert "1 packets received" in out, out
    assert "husk-rootfs: run exit=0" in out, out
    assert rc == 0, out


@needs_husk
def test_husk_linux_guest_reaches_init_and_exits_0():
    rc, out = run_nested(HUSK, {"HUSK_NESTED_RUN": "echo l2-userspace-ok"})
    assert "husk-nested: l1 ready" in out, out
    assert "husk-rootfs: init reached" in out, out
    assert "l2-userspace-ok" in out, out
    assert "Guest-boot-time" in out, out
    assert "husk-nested: vmm exit=0" in out, out
    assert rc == 0, out


@needs_husk
def test_husk_linux_guest_sees_two_vcpus():
    rc, out = run_nested(HUSK, {
        "HUSK_NESTED_VCPUS": "2",
        "HUSK_NESTED_RUN": "echo cpus-online=$(cat /sys/devices/system/cpu/online)"})
    assert "cpus-online=0-1" in out, out
    assert "husk-nested: vmm exit=0" in out, out
    assert rc == 0, out


@needs_husk
def test_husk_linux_guest_ext4_root_on_virtio_blk():
    sectors = rootfs_image().stat().st_size // 512
    rc, out = run_nested(HUSK, {
        "HUSK_NESTED_ROOT": "disk",
        "HUSK_NESTED_SHOW_FILES": "root/from-l2",
        # No root= from run.sh in husk mode: ",root" must make husk add it.
        "HUSK_NESTED_RUN": "dmesg | grep -E 'virtio|vda|VFS|EXT4'; "
                           "echo l2-root=$(grep ' / ' /proc/mounts | cut -d' ' -f3,4); "
                           "echo written-by-l2 > /root/from-l2"},
        "--drive", "path=/l2/rootfs.ext4,root")
    assert "root=/dev/vda" in out.split("Command line:", 1)[-1].splitlines()[0], out
    assert "virtio-mmio: Registering device virtio-mmio.0 at 0xd0001000-0xd0001fff, IRQ 5." in out, out
    assert f"[vda] {sectors} 512-byte logical blocks" in out, out
    assert "EXT4-fs (vda): mounted filesystem" in out, out
    assert "VFS: Mounted root (ext4 filesystem)" in out, out
    assert "l2-root=ext4 rw" in out, out
    assert "Guest-boot-time" in out, out
    assert "husk-rootfs: run exit=0" in out, out
    assert "husk-nested: vmm exit=0" in out, out
    # read back by level 1 from the image after husk exited
    assert "husk-nested: disk root/from-l2: written-by-l2" in out, out
    assert rc == 0, out


@needs_husk
def test_husk_linux_guest_virtio_net_mac_and_ping():
    rc, out = run_nested(HUSK, {
        "HUSK_NESTED_TAP": "1",
        "HUSK_NESTED_RUN": "echo mac=$(cat /sys/class/net/eth0/address); "
                           "ip addr add 172.16.0.2/24 dev eth0 && ip link set eth0 up && "
                           "ping -c 1 -W 5 172.16.0.1"},
        "--net", "tap=tap0,mac=06:00:ac:10:00:02")
    assert "husk-nested: tap0 setup failed" not in out, out
    assert "mac=06:00:ac:10:00:02" in out, out
    assert "64 bytes from 172.16.0.1" in out, out
    assert "1 packets received" in out, out
    assert "husk-rootfs: run exit=0" in out, out
    assert "husk-nested: vmm exit=0" in out, out
    assert rc == 0, out


needs_curl = pytest.mark.skipif(shutil.which("curl") is None,
                                reason="curl missing (apt-get install curl)")


@needs_husk
@needs_curl
def test_level1_script_runs_curl_and_husk_in_background():
    # The shape of the coming API test: start the VMM in the background,
    # drive it with curl --unix-socket, wait for it.  Here curl talks to a
    # socket nobody listens on (exit 7: could not connect).
    rc, out = run_level1_script(HUSK, """
echo "l1-curl: $(curl --version | head -n 1 | cut -d' ' -f1,2)"
eval "$VMM_CMD" &
vmm=$!
curl -s --unix-socket /tmp/no-such.sock http://localhost/
echo "l1-curl-exit=$?"
wait $vmm
echo "husk-nested: vmm exit=$?"
""", {"HUSK_NESTED_RUN": "echo l2-from-background-husk"})
    assert re.search(r"l1-curl: curl \d+\.\d+", out), out
    assert "l1-curl-exit=7" in out, out
    assert "l2-from-background-husk" in out, out
    assert "husk-nested: vmm exit=0" in out, out
    assert rc == 0, out


@pytest.fixture(scope="module")
def vsock_probe(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler for tests/nested/vsock-probe.c (apt-get install gcc)")
    out = tmp_path_factory.mktemp("probe") / "vsock-probe"
    subprocess.run([cc, "-static", "-Os", "-Wall", "-Wextra", "-Werror", "-o", str(out),
                    str(HERE / "vsock-probe.c")], check=True)
    return out


@needs_husk
def test_husk_linux_guest_vsock_both_directions(vsock_probe):
    # Guest to host: husk connects to <uds>_6000 in level 1.  Host to guest:
    # level 1 connects to <uds> and sends "CONNECT 5000".  Waiting loops look
    # for the listeners' "listening" lines, bounded; no fixed sleeps.
    probe = str(vsock_probe)
    rc, out = run_level1_script(HUSK, f"""
{probe} listen-unix /tmp/v.sock_6000 > /tmp/l1-listener.log 2>&1 &
listener=$!
until grep -q listening /tmp/l1-listener.log 2>/dev/null; do sleep 0.05; done
eval "$VMM_CMD" > /tmp/vmm.log 2>&1 &
vmm=$!
n=0
until grep -q 'vsock-probe: listening on 5000' /tmp/vmm.log 2>/dev/null || [ $n -ge 2400 ]; do
	sleep 0.05; n=$((n+1))
done
{probe} connect-unix /tmp/v.sock 5000 hello-from-l1
echo "l1-connect-exit=$?"
wait $vmm
echo "husk-nested: vmm exit=$?"
wait $listener
echo "l1-listener-exit=$?"
cat /tmp/l1-listener.log /tmp/vmm.log
""", {"HUSK_NESTED_FILES": probe,
      "HUSK_NESTED_L2_FILES": probe,
      "HUSK_NESTED_RUN": "vsock-probe connect-vsock 6000 hello-from-l2; "
                         "vsock-probe listen-vsock 5000"},
        "--vsock", "cid=3,uds=/tmp/v.sock")
    # guest -> host
    assert "vsock-probe: served 'hello-from-l2'" in out, out
    assert "pong:hello-from-l2" in out, out
    assert "l1-listener-exit=0" in out, out
    # host -> guest, Firecracker's handshake
    assert re.search(r"vsock-probe: handshake OK \d+", out), out
    assert "vsock-probe: served 'hello-from-l1'" in out, out
    assert "pong:hello-from-l1" in out, out
    assert "l1-connect-exit=0" in out, out
    assert "husk-rootfs: run exit=0" in out, out
    assert "husk-nested: vmm exit=0" in out, out
    assert rc == 0, out


@needs_husk
def test_husk_linux_guest_all_devices_two_vcpus():
    # Disk root, net, vsock and rng together: four virtio-mmio slots with
    # their own GSIs, each found by the guest's driver, on 2 vCPUs.
    rc, out = run_nested(HUSK, {
        "HUSK_NESTED_ROOT": "disk",
        "HUSK_NESTED_TAP": "1",
        "HUSK_NESTED_VCPUS": "2",
        "HUSK_NESTED_SHOW_FILES": "root/all-devices",
        "HUSK_NESTED_RUN": "dmesg | grep virtio-mmio; "
                           "echo cpus=$(cat /sys/devices/system/cpu/online); "
                           "echo rng=$(cat /sys/class/misc/hw_random/rng_current) "
                           "rng-bytes=$(head -c 16 /dev/hwrng | wc -c); "
                           "test -c /dev/vsock && echo vsock-dev=yes; "
                           "echo mac=$(cat /sys/class/net/eth0/address); "
                           "ip addr add 172.16.0.2/24 dev eth0 && ip link set eth0 up && "
                           "ping -c 1 -W 5 172.16.0.1 && echo all-ok > /root/all-devices"},
        "--drive", "path=/l2/rootfs.ext4,root",
        "--net", "tap=tap0,mac=06:00:ac:10:00:02",
        "--vsock", "cid=3,uds=/tmp/v.sock", "--rng")
    for slot in range(4):
        base = 0xd0001000 + slot * 0x1000
        assert (f"virtio-mmio: Registering device virtio-mmio.{slot} at "
                f"{base:#x}-{base + 0xfff:#x}, IRQ {5 + slot}.") in out, out
    assert "cpus=0-1" in out, out
    assert "rng=virtio_rng.0 rng-bytes=16" in out, out
    assert "vsock-dev=yes" in out, out
    assert "mac=06:00:ac:10:00:02" in out, out
    assert "1 packets received" in out, out
    assert "husk-nested: vmm exit=0" in out, out
    assert "husk-nested: disk root/all-devices: all-ok" in out, out
    assert rc == 0, out


needs_iperf3 = pytest.mark.skipif(shutil.which("iperf3") is None,
                                  reason="iperf3 missing (apt-get install iperf3)")


@needs_husk
@needs_iperf3
def test_husk_linux_guest_iperf3_across_the_tap():
    # iperf3 server in level 1 on tap0, client in the level-2 guest. Both
    # levels are emulated here, so the rate says nothing about husk: the
    # test asserts that TCP data crossed virtio-net and the tap both ways.
    iperf3 = shutil.which("iperf3")
    rc, out = run_level1_script(HUSK, """
tunctl -t tap0 >/dev/null && ip addr add 172.16.0.1/24 dev tap0 && ip link set tap0 up
iperf3 -s -D -B 172.16.0.1
eval "$VMM_CMD"
echo "husk-nested: vmm exit=$?"
""", {"HUSK_NESTED_FILES": iperf3, "HUSK_NESTED_L2_FILES": iperf3,
      "HUSK_NESTED_RUN": "ip addr add 172.16.0.2/24 dev eth0 && ip link set eth0 up && "
                         "iperf3 -c 172.16.0.1 -t 2 -f m -O 0 && "
                         "iperf3 -c 172.16.0.1 -t 2 -f m -R"},
        "--net", "tap=tap0,mac=06:00:ac:10:00:02")
    rates = re.findall(r"([\d.]+) Mbits/sec\s+\d*\s*(sender|receiver)", out)
    receivers = [float(r) for r, kind in rates if kind == "receiver"]
    assert len(receivers) == 2 and min(receivers) > 0, out  # guest->host, then -R host->guest
    assert "husk-rootfs: run exit=0" in out, out
    assert "husk-nested: vmm exit=0" in out, out
    assert rc == 0, out
