"""Firecracker API details a control plane sends in its normal flow
(issue 17 section 4): a network interface's mtu reaches the guest and
/vm/config; /vm/config shows the logger and metrics in force; logger
levels Trace and Off; a rate-limiter bucket of size or refill_time 0 on
PUT is no limit; drive and interface ids take Firecracker's characters."""
import pytest

from api_client import fault
from net_helpers import netns  # noqa: F401 (fixture)

MAC = "06:00:ac:10:00:02"


def net(mtu=None, iface="eth0"):
    body = {"iface_id": iface, "host_dev_name": "htap0", "guest_mac": MAC}
    if mtu is not None:
        body["mtu"] = mtu
    return body


def test_mtu_reaches_the_guest_and_vm_config(husk, guest, netns):
    """VIRTIO_NET_F_MTU with the value in the config space: the test guest
    prints what it read there."""
    h = husk(prefix=("ip", "netns", "exec", netns))
    assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}) == (204, None)
    assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("virtio_net/net_guest64"),
                                             "boot_args": "console=ttyS0 ip=172.16.0.2"}) == (204, None)
    assert h.request("PUT", "/network-interfaces/eth0", net(9000)) == (204, None)
    assert h.request("GET", "/vm/config")[1]["network-interfaces"][0]["mtu"] == 9000
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    out = h.read_serial(until="net-guest: ready")
    up = [line for line in out.splitlines() if "net-guest: net up" in line]
    assert up and up[0].endswith(" mtu=9000"), out


def test_no_mtu_is_not_offered(husk, guest, netns):
    h = husk(prefix=("ip", "netns", "exec", netns))
    assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}) == (204, None)
    assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("virtio_net/net_guest64"),
                                             "boot_args": "console=ttyS0 ip=172.16.0.2"}) == (204, None)
    assert h.request("PUT", "/network-interfaces/eth0", net()) == (204, None)
    assert h.request("GET", "/vm/config")[1]["network-interfaces"][0]["mtu"] is None
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    out = h.read_serial(until="net-guest: ready")
    up = [line for line in out.splitlines() if "net-guest: net up" in line]
    assert up and "mtu=" not in up[0], out


@pytest.mark.parametrize("mtu", [67, 65536, -1, "1500", 1500.5, True])
def test_bad_mtu_is_refused_by_name(husk, mtu):
    h = husk()
    assert "mtu" in fault(h.request("PUT", "/network-interfaces/eth0", net(mtu)))
    assert h.request("GET", "/vm/config")[1]["network-interfaces"] == []


@pytest.mark.parametrize("mtu", [68, 1500, 65535])
def test_mtu_range_is_firecrackers(husk, mtu):
    h = husk()
    assert h.request("PUT", "/network-interfaces/eth0", net(mtu)) == (204, None)
    assert h.request("GET", "/vm/config")[1]["network-interfaces"][0]["mtu"] == mtu


def test_vm_config_shows_logger_and_metrics_in_force(husk, tmp_path):
    h = husk()
    cfg = h.request("GET", "/vm/config")[1]
    assert cfg["logger"] is None and cfg["metrics"] is None
    log, metrics = tmp_path / "husk.log", tmp_path / "metrics.json"
    assert h.request("PUT", "/logger", {"log_path": str(log), "level": "Trace", "show_level": True,
                                        "show_log_origin": False}) == (204, None)
    assert h.request("PUT", "/metrics", {"metrics_path": str(metrics)}) == (204, None)
    cfg = h.request("GET", "/vm/config")[1]
    assert cfg["logger"] == {"log_path": str(log), "level": "Trace", "show_level": True,
                             "show_log_origin": False}
    assert cfg["metrics"] == {"metrics_path": str(metrics)}
    # a level alone changes only the level
    assert h.request("PUT", "/logger", {"level": "Off"}) == (204, None)
    assert h.request("GET", "/vm/config")[1]["logger"]["level"] == "Off"
    assert "level" in fault(h.request("PUT", "/logger", {"level": "Verbose"}))


def test_logger_off_writes_nothing_and_trace_writes_debug_lines(husk, tmp_path):
    """A refused request logs a Warning line: at Warning it is there, at
    Off nothing is; Trace lets Debug lines through (husk has none finer)."""
    logs = {}
    for level in ("Warning", "Off", "Trace"):
        logs[level] = tmp_path / f"{level}.log"
        h = husk()
        assert h.request("PUT", "/logger", {"log_path": str(logs[level]), "level": level}) == (204, None)
        fault(h.request("PUT", "/boot-source", {"kernel_image_path": str(tmp_path / "none")}))
        h.stop()
    assert "[Warning] API PUT /boot-source -> 400" in logs["Warning"].read_text()
    assert "[Debug]" not in logs["Warning"].read_text()
    assert logs["Off"].read_text() == ""
    h = husk("--log-path", str(tmp_path / "cli.log"), "--level", "Trace")
    h.stop()
    assert "[Debug]" in (tmp_path / "cli.log").read_text()


def test_zero_buckets_on_put_mean_no_limit(husk, tmp_path):
    """size 0 or refill_time 0 in a PUT is "no limit", as in Firecracker:
    accepted, and /vm/config shows only the bucket that limits."""
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    h = husk()
    limiter = {"bandwidth": {"size": 0, "refill_time": 100}, "ops": {"size": 10, "refill_time": 0}}
    assert h.request("PUT", "/drives/d0", {"drive_id": "d0", "path_on_host": str(disk), "is_root_device": False,
                                           "is_read_only": True, "rate_limiter": limiter}) == (204, None)
    assert h.request("GET", "/vm/config")[1]["drives"][0]["rate_limiter"] is None
    limiter["ops"]["refill_time"] = 50
    assert h.request("PUT", "/network-interfaces/eth0", dict(net(), tx_rate_limiter=limiter)) == (204, None)
    assert h.request("GET", "/vm/config")[1]["network-interfaces"][0]["tx_rate_limiter"] == {
        "ops": {"size": 10, "one_time_burst": 0, "refill_time": 50}}


@pytest.mark.parametrize("good", ["drive_0", "A9", "_"])
def test_ids_with_firecrackers_characters_are_taken(husk, tmp_path, good):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    h = husk()
    assert h.request("PUT", f"/drives/{good}", {"drive_id": good, "path_on_host": str(disk),
                                                "is_root_device": False, "is_read_only": True}) == (204, None)


@pytest.mark.parametrize("bad", ["a-b", "a.b", "a b", "é"])
def test_ids_outside_firecrackers_characters_are_refused(husk, tmp_path, bad):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    h = husk()
    msg = fault(h.request("PUT", "/drives/x", {"drive_id": bad, "path_on_host": str(disk),
                                               "is_root_device": False, "is_read_only": True}))
    assert msg == "API Resource IDs can only contain alphanumeric characters and underscores. (drive_id)", msg
    msg = fault(h.request("PUT", "/network-interfaces/x", dict(net(), iface_id=bad)))
    assert msg == "API Resource IDs can only contain alphanumeric characters and underscores. (iface_id)", msg
    assert "drive_id" in fault(h.request("PUT", "/drives/x", {
        "drive_id": "", "path_on_host": str(disk), "is_root_device": False, "is_read_only": True}))
    assert h.request("GET", "/vm/config")[1]["drives"] == []


@pytest.mark.parametrize("bad", ["a/b", "a_b", "", "x" * 65, "vm.1"])
def test_instance_id_takes_firecrackers_characters(husk_bin, tmp_path, bad):
    """--id as Firecracker's validate_instance_id: 1..64 letters, digits
    or '-'; anything else is a usage error before a socket exists."""
    import subprocess
    r = subprocess.run([husk_bin, "--api-sock", str(tmp_path / "s"), "--id", bad], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "--id must be 1..64 letters, digits or '-'" in r.stderr, r.stderr
    assert not (tmp_path / "s").exists()


def test_instance_id_with_dashes_is_taken(husk):
    h = husk("--id", "vm-42-A")
    assert h.request("GET", "/")[1]["id"] == "vm-42-A"


def test_default_log_level_is_firecrackers_info(husk, tmp_path):
    """Without --level or a logger level, Info lines are written (as
    Firecracker's default), Debug lines are not."""
    log = tmp_path / "default.log"
    h = husk("--log-path", str(log))
    assert h.request("GET", "/")[0] == 200
    h.stop()
    text = log.read_text()
    assert "[Info] API GET / -> 200" in text, text
    assert "[Debug]" not in text, text
