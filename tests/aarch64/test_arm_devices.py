"""The devices and host-side features of husk on arm64 that the other
aarch64 modules leave out, with the project's arm64 Linux guest, in one
boot of the Arm level 1 and one level-2 VM: the VM comes from a config
file (--config-file, with the API socket open beside it), with
virtio-rng (entropy) and two virtio-blk drives, one on each I/O engine
(Sync, and Async: io_uring), each behind a bandwidth rate limiter slow
enough (what the guest reads needs about 1.5 s) that it must hold
requests back unless the guest is slower still; a balloon with
statistics; a net interface on a tap, with MMDS V1 on it. The guest side
is tests/aarch64/devices-l2.sh (in the initrd as /bin/devices-l2); level
1 queries the API while the guest waits, then tells it through MMDS to
finish. Metrics (--metrics-path, FlushMetrics) show what each device
did."""
import json
import re

import pytest

from l1 import HERE, run_arm_l1

L2_LIB = (HERE / "l2-lib.sh").read_text()

SCRIPT = r"""
tunctl -t tap0 >/dev/null && ip addr add 172.16.0.1/24 dev tap0 && ip link set tap0 up || echo 'husk-arm: tap0 setup failed'
for e in sync async; do
	dd if=/dev/zero of=/l2/$e.img bs=1M count=1 2>/dev/null
	printf "l1-$e-disk" | dd of=/l2/$e.img conv=notrunc 2>/dev/null
done
cat > /tmp/vm.json <<J
{"boot-source": {"kernel_image_path": "$L2_KERNEL", "initrd_path": "$L2_INITRD",
                 "boot_args": "$L2_CMDLINE husk.run=devices-l2"},
 "machine-config": {"vcpu_count": 2, "mem_size_mib": 128},
 "drives": [
   {"drive_id": "sync", "path_on_host": "/l2/sync.img", "is_root_device": false,
    "is_read_only": false, "io_engine": "Sync",
    "rate_limiter": {"bandwidth": {"size": 65536, "refill_time": 100}}},
   {"drive_id": "async", "path_on_host": "/l2/async.img", "is_root_device": false,
    "is_read_only": false, "io_engine": "Async",
    "rate_limiter": {"bandwidth": {"size": 65536, "refill_time": 100}}}],
 "entropy": {"rate_limiter": {"bandwidth": {"size": 256, "refill_time": 100}}},
 "balloon": {"amount_mib": 16, "deflate_on_oom": false, "stats_polling_interval_s": 1},
 "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0",
                         "guest_mac": "06:00:ac:10:00:02"}],
 "mmds-config": {"version": "V1", "network_interfaces": ["eth0"]}}
J
echo '{"latest": {"meta-data": {"id": "i-arm64"}}}' > /tmp/md.json
: > /tmp/metrics
start_husk /tmp/h1.out --config-file /tmp/vm.json --metadata /tmp/md.json --metrics-path /tmp/metrics
wait_for /tmp/h1.out 'l2: waiting for l1'
api GET /vm/config
api GET /balloon
n=0
until api GET /balloon/statistics | grep -q '"actual_mib": *16' || [ $n -ge 300 ]; do
	n=$((n + 1)); sleep 0.1
done
api GET /balloon/statistics
api PUT /actions '{"action_type": "SendCtrlAltDel"}'
api PUT /actions '{"action_type": "FlushMetrics"}'
api PATCH /mmds '{"latest": {"meta-data": {"done": "yes"}}}'
wait $HUSK
echo "husk-arm: vmm exit=$?"
sed 's/^/h1| /' /tmp/h1.out
for e in sync async; do echo "l1-disk $e: $(head -c 13 /l2/$e.img)"; done
sed 's/^/metrics| /' /tmp/metrics
"""


@pytest.fixture(scope="module")
def run(arm_env):
    rc, out = run_arm_l1(L2_LIB + SCRIPT, env=arm_env, cpus=2)
    assert rc == 0, out
    assert "husk-arm: tap0 setup failed" not in out, out
    return out


def api_body(out, method, path):
    """The JSON of the last answer to METHOD PATH."""
    bodies = re.findall(rf"^l1-api: {method} {re.escape(path)} -> 200 (.*)$", out, re.M)
    assert bodies, out
    return json.loads(bodies[-1])


def metrics(out):
    """Every counter of the metrics lines summed: {"group.leaf": total}."""
    total = {}
    for line in re.findall(r"^metrics\| (\{.*\})$", out, re.M):
        for group, leaves in json.loads(line).items():
            if isinstance(leaves, dict):
                for leaf, v in leaves.items():
                    if isinstance(v, int):
                        total[f"{group}.{leaf}"] = total.get(f"{group}.{leaf}", 0) + v
    assert total, out
    return total


def test_config_file_vm_runs_with_the_api_beside_it(run):
    cfg = api_body(run, "GET", "/vm/config")
    assert cfg["machine-config"]["vcpu_count"] == 2, run
    assert [d["io_engine"] for d in cfg["drives"]] == ["Sync", "Async"], run
    assert cfg["entropy"]["rate_limiter"]["bandwidth"]["size"] == 256, run
    assert "h1| husk-rootfs: run exit=0" in run, run
    # the guest's reboot (PSCI SYSTEM_RESET) ends husk with 0
    assert "husk-arm: vmm exit=0" in run, run


def test_send_ctrl_alt_del_is_refused_on_a_running_vm(run):
    # no i8042 on Arm: Firecracker's 400 and its words, the guest unharmed
    # (it goes on to finish, test_config_file_vm_runs_with_the_api_beside_it)
    assert re.search(r'^l1-api: PUT /actions -> 400 .*"fault_message": ?'
                     r'"SendCtrlAltDel does not supported on aarch64\."', run, re.M), run


def test_entropy_reaches_the_guest_through_its_rate_limiter(run):
    assert "h1| l2-rng: virtio_rng.0 4096 bytes" in run, run
    m = metrics(run)
    assert m["entropy.entropy_bytes"] >= 4096, m
    # 4096 bytes through a 256-byte bucket: held back at least once
    assert m["entropy.entropy_rate_limiter_throttled"] > 0, m


@pytest.mark.parametrize("drive", ["sync", "async"])
def test_blk_engine_reads_writes_and_is_rate_limited(run, drive):
    dev = {"sync": "vda", "async": "vdb"}[drive]
    assert f"h1| l2-blk: {dev} reads l1-{drive}-disk {1 << 20} bytes" in run, run
    # what the guest wrote is in the image after husk exited
    assert f"l1-disk {drive}: l2-wrote-{dev}" in run, run
    m = metrics(run)
    assert m[f"block_{drive}.read_bytes"] >= 1 << 20, m
    assert m[f"block_{drive}.write_count"] > 0, m
    # 1 MiB through a 64 KiB bucket refilled every 100 ms
    assert m[f"block_{drive}.rate_limiter_throttled_events"] > 0, m


def test_balloon_inflates_to_its_target(run):
    assert "h1| l2-balloon: 1 device" in run, run
    assert api_body(run, "GET", "/balloon")["amount_mib"] == 16, run
    stats = api_body(run, "GET", "/balloon/statistics")
    assert stats["target_mib"] == 16 and stats["actual_mib"] == 16, run


def test_net_and_mmds_v1_on_the_tap(run):
    assert "h1| l2-net: 64 bytes from 172.16.0.1" in run, run
    assert "h1| l2-mmds: id i-arm64" in run, run
    # the PATCH level 1 made reached the guest, which then finished
    assert ("PATCH", "/mmds", 204) in [(m, p, int(c)) for m, p, c in
                                       re.findall(r"^l1-api: (\S+) (\S+) -> (\d+)", run, re.M)], run
    assert re.search(r"^h1\| l2: level 1 says done after \d+ polls", run, re.M), run
