"""The Firecracker-compatible API over husk's Unix socket: a full boot of
the test guest, every error path answered with 400 and a
fault_message while the VM is unaffected, the socket's life cycle, and
clients that misbehave next to one that does not."""
import json
import os
import re
import pathlib
import socket
import stat
import subprocess
import time

import pytest

from api_client import Conn, Husk, fault, metrics_totals
from net_helpers import netns  # noqa: F401 (fixture)


def configure(h, kernel, boot_args="console=ttyS0", vcpus=1, mem=64):
    assert h.request("PUT", "/machine-config", {"vcpu_count": vcpus, "mem_size_mib": mem}) == (204, None)
    assert h.request("PUT", "/boot-source", {"kernel_image_path": kernel, "boot_args": boot_args}) == (204, None)


def test_boot_sequence_boots_guest(husk, guest):
    h = husk("--id", "vm-42", "--level", "Info")
    version = h.request("GET", "/version")
    assert version == (200, {"firecracker_version": "1.16.0", "husk_version": version[1]["husk_version"]})
    assert h.request("GET", "/") == (200, {"id": "vm-42", "state": "Not started", "vmm_version": "1.16.0",
                                          "app_name": "husk", "husk_version": version[1]["husk_version"],
                                          "started": False})
    configure(h, guest("pvh_hello"), "console=ttyS0 marker=api-boot")
    status, cfg = h.request("GET", "/vm/config")
    assert status == 200 and cfg["machine-config"]["mem_size_mib"] == 64
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    code, out, err = h.wait()  # the guest resets at the end: husk exits 0
    assert code == 0, err
    assert "husk-guest: pvh ok" in out
    assert "marker=api-boot" in out
    assert "API PUT /actions -> 204" in err
    assert not os.path.exists(h.sock_path), "socket left behind"


def test_error_paths_leave_vm_bootable(husk, guest, tmp_path):
    h = husk()
    assert fault(h.request("GET", "/nowhere")) == "Invalid request method and/or path: GET nowhere."
    assert fault(h.request("DELETE", "/machine-config")) == "Invalid request method and/or path: DELETE machine-config."
    assert fault(h.request("PUT", "/machine-config", b"{\"vcpu_count\": ")).startswith(
        "An error occurred when deserializing the json body of a request: ")
    assert "unknown field `vcpus`" in fault(h.request("PUT", "/machine-config", {"vcpus": 2, "mem_size_mib": 64}))
    assert "vcpu_count" in fault(h.request("PUT", "/machine-config", {"vcpu_count": 99, "mem_size_mib": 64}))
    assert "mem_size_mib" in fault(h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": "64"}))
    assert "kernel_image_path" in fault(h.request("PUT", "/boot-source", {"kernel_image_path": str(tmp_path / "no")}))
    # InstanceStart with no kernel: refused, nothing built
    assert "kernel_image_path" in fault(h.request("PUT", "/actions", {"action_type": "InstanceStart"}))
    assert "amount_mib" in fault(h.request("PUT", "/balloon", {"amount_mib": 100000, "deflate_on_oom": False}))
    assert "network_interfaces" in fault(h.request("PUT", "/mmds/config", {"version": "V2"}))
    # a body over 51200 bytes: 400, and the server closes that connection
    big = Conn(h.sock_path)
    big.send_raw(Conn.encode("PUT", "/boot-source", b"x" * 51201))
    status, body, headers = big.read_response()
    assert status == 400 and "51200" in body["fault_message"]
    assert big.read_response() is None
    big.close()
    assert h.request("GET", "/machine-config")[1]["vcpu_count"] == 1  # defaults untouched
    assert h.request("GET", "/")[1]["state"] == "Not started"
    # the VM still boots after all that
    configure(h, guest("pvh_hello"))
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    code, out, err = h.wait()
    assert code == 0, err
    assert "husk-guest: pvh ok" in out


def test_post_boot_rules_pause_resume(husk, guest):
    h = husk()
    # a long cmdline keeps the guest printing for a while (each character
    # is a port write, emulated here), so a pause lands in the middle
    filler = "x" * 1500
    configure(h, guest("pvh_hello"), f"console=ttyS0 hold {filler}")
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    assert h.request("GET", "/")[1]["state"] == "Running"
    before = h.read_serial(until="pvh ok")
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    # the pause returns once every vCPU is out of KVM_RUN: what the guest
    # wrote is already in the pipe, and nothing more may come
    before += h.read_serial(timeout=0.01)
    assert "husk-guest: holding" not in before, "the pause came too late to prove anything"
    assert h.read_serial(timeout=1.0) == ""
    assert h.request("GET", "/")[1]["state"] == "Paused"
    assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
    after = h.read_serial(until="husk-guest: holding")
    assert "husk-guest: holding" in after
    assert filler in before + after
    assert fault(h.request("PUT", "/actions", {"action_type": "InstanceStart"})) == \
        "The requested operation is not supported after starting the microVM."
    assert "after starting" in fault(h.request("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 64}))
    assert "after starting" in fault(h.request("PUT", "/boot-source", {"kernel_image_path": guest("pvh_hello")}))
    assert h.request("GET", "/machine-config")[1]["vcpu_count"] == 1
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert h.request("GET", "/")[1]["state"] == "Paused"
    assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
    assert h.request("GET", "/")[1]["state"] == "Running"
    assert h.request("PUT", "/actions", {"action_type": "SendCtrlAltDel"}) == (204, None)
    assert "not initialized" in fault(h.request("PUT", "/actions", {"action_type": "FlushMetrics"}))
    code, out, err = h.stop()
    assert "husk-guest: holding" in out
    assert "husk-guest: ram" in out
    assert not os.path.exists(h.sock_path)


def test_socket_mode_stale_file_and_removal(husk_bin, tmp_path):
    path = tmp_path / "api.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # bound, never listening: what a killed husk leaves
    stale.close()
    h = Husk(husk_bin, path)
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert h.request("GET", "/")[0] == 200
    h.stop()
    assert not path.exists()
    # a regular file there is not ours to delete
    path.write_text("keep me")
    r = __import__("subprocess").run([husk_bin, "--api-sock", str(path)], capture_output=True, text=True,
                                     timeout=10)
    assert r.returncode == 1
    assert path.read_text() == "keep me"


def test_keepalive_and_pipelining(husk):
    h = husk()
    c = Conn(h.sock_path)
    c.send_raw(Conn.encode("GET", "/") + Conn.encode("PATCH", "/machine-config", {"mem_size_mib": 96})
               + Conn.encode("GET", "/machine-config"))
    r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    assert r1[0] == 200 and r1[1]["state"] == "Not started"
    assert r2[0] == 204
    assert r3[0] == 200 and r3[1]["mem_size_mib"] == 96
    assert r3[2]["connection"] == "keep-alive"
    c.close()


def test_slow_and_broken_clients_do_not_block_others(husk):
    h = husk()
    slow = Conn(h.sock_path)
    slow.send_raw(b"PUT /machine-config HTTP/1.1\r\nContent-Length: 40\r\n\r\n{\"vcpu")  # and stalls
    garbage = Conn(h.sock_path)
    garbage.send_raw(b"\x16\x03\x01 not http at all\r\n\r\n")
    dropped = Conn(h.sock_path)
    dropped.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n")  # then goes away
    dropped.close()
    t0 = time.monotonic()
    assert h.request("GET", "/")[0] == 200
    assert time.monotonic() - t0 < 2.0
    status, body, _ = garbage.read_response()
    assert status == 400 and "malformed" in body["fault_message"]
    assert garbage.read_response() is None
    # the stalled client can still finish its request
    slow.send_raw(b"_count\": 2, \"mem_size_mib\": 128}" + b" " * 6)
    status, body, _ = slow.read_response()
    assert status == 204, body
    assert h.request("GET", "/machine-config")[1]["vcpu_count"] == 2


def last_count(serial):
    return max(int(n) for n in re.findall(r"^n=(\d+)$", serial, re.M))


def test_failed_snapshot_create_keeps_the_previous_snapshot(husk_bin, guest, tmp_path):
    """A create that fails part-way (here: the state file cannot be
    written, after the memory was) leaves the previous snapshot at the same
    paths byte for byte and no temporary files; that snapshot still loads
    and its guest goes on from its own point, not the failed one's."""
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    h = Husk(husk_bin, tmp_path / "a.sock")
    configure(h, guest("snapshot_counter/snap_guest"))
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    h.read_serial(until="n=3\n")
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    full = {"snapshot_type": "Full", "snapshot_path": str(state), "mem_file_path": str(mem)}
    assert h.request("PUT", "/snapshot/create", full) == (204, None)
    kept = (state.read_bytes(), mem.read_bytes())
    assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
    seen = h.read_serial(until="n=")
    later = last_count(h.read_serial(until=f"n={last_count(h.serial) + 200}\n"))
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    failing = dict(full, snapshot_path=str(tmp_path / "no-such-dir" / "vm.state"))
    assert fault(h.request("PUT", "/snapshot/create", failing)).startswith(
        "Create snapshot error: Cannot perform open on the snapshot backing file: No such file or directory (os error 2)")
    assert (state.read_bytes(), mem.read_bytes()) == kept
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    h.stop()
    h = Husk(husk_bin, tmp_path / "b.sock")
    assert h.request("PUT", "/snapshot/load", {
        "snapshot_path": str(state), "mem_backend": {"backend_type": "File", "backend_path": str(mem)},
        "resume_vm": True}) == (204, None)
    out = ""
    while not re.search(r"^n=\d+\n", out, re.M):  # the first whole line (the pause may have split one)
        chunk = h.read_serial(until="\n", timeout=30)
        assert chunk, out
        out += chunk
    first = int(re.search(r"^n=(\d+)\n", out, re.M).group(1))
    assert first < later, (first, later, seen[-200:])
    h.stop()


def test_failed_diff_leaves_its_pages_to_the_next_diff(husk_bin, guest, tmp_path):
    """KVM's dirty log is cleared as a Diff reads it: a Diff that fails
    (here its state file cannot be written) hands the pages it took to the
    next Diff, so the base merged with that one restores the guest where
    the second Diff was taken, not with the memory of the base."""
    merge = pathlib.Path(husk_bin).parent / "tools" / "snapshot-merge" / "snapshot-merge"
    h = Husk(husk_bin, tmp_path / "a.sock")
    configure(h, guest("snapshot_counter/snap_guest"))
    assert h.request("PATCH", "/machine-config", {"track_dirty_pages": True}) == (204, None)
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    h.read_serial(until="n=3\n")
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    base_s, base_m = tmp_path / "base.state", tmp_path / "base.mem"
    assert h.request("PUT", "/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(base_s),
                                                 "mem_file_path": str(base_m)}) == (204, None)
    assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
    h.read_serial(until="n=")
    later = last_count(h.read_serial(until=f"n={last_count(h.serial) + 200}\n"))
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    diff_s, diff_m = tmp_path / "diff.state", tmp_path / "diff.mem"
    failing = {"snapshot_type": "Diff", "snapshot_path": str(tmp_path / "no-such-dir" / "d.state"),
               "mem_file_path": str(diff_m)}
    assert fault(h.request("PUT", "/snapshot/create", failing)).startswith(
        "Create snapshot error: Cannot perform open on the snapshot backing file: No such file or directory (os error 2)")
    # still paused: the guest dirtied nothing since; the pages are the failed Diff's
    assert h.request("PUT", "/snapshot/create", {"snapshot_type": "Diff", "snapshot_path": str(diff_s),
                                                 "mem_file_path": str(diff_m)}) == (204, None)
    h.stop()
    merged = tmp_path / "merged.mem"
    merged.write_bytes(base_m.read_bytes())
    r = subprocess.run([str(merge), str(merged), str(diff_m)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    h = Husk(husk_bin, tmp_path / "b.sock")
    assert h.request("PUT", "/snapshot/load", {
        "snapshot_path": str(diff_s), "mem_backend": {"backend_type": "File", "backend_path": str(merged)},
        "resume_vm": True}) == (204, None)
    out = ""
    while not re.search(r"^n=\d+\n", out, re.M):
        chunk = h.read_serial(until="\n", timeout=30)
        assert chunk, out
        out += chunk
    first = int(re.search(r"^n=(\d+)\n", out, re.M).group(1))
    assert first > later, (first, later)
    h.stop()


def test_snapshot_load_after_boot_configuration_is_refused(husk_bin, guest, tmp_path):
    """As in Firecracker, a load after the boot path was configured (here:
    machine, kernel and a drive) is refused in its words, and the
    configuration stays as it was, so the InstanceStart that follows boots
    what was configured and not half of the snapshot."""
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    h = Husk(husk_bin, tmp_path / "a.sock")
    configure(h, guest("pvh_hello"), "console=ttyS0 hold", mem=64)
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    h.read_serial(until="husk-guest: holding")
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert h.request("PUT", "/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(state),
                                                 "mem_file_path": str(mem)}) == (204, None)
    h.stop()
    disk = tmp_path / "data.img"
    disk.write_bytes(b"\0" * (1 << 20))
    h = Husk(husk_bin, tmp_path / "b.sock")
    configure(h, guest("pvh_hello"), "console=ttyS0 hold", vcpus=2, mem=96)
    assert h.request("PUT", "/drives/data", {"drive_id": "data", "path_on_host": str(disk),
                                             "is_root_device": False}) == (204, None)
    before = h.request("GET", "/vm/config")[1]
    assert fault(h.request("PUT", "/snapshot/load", {
        "snapshot_path": str(state), "mem_backend": {"backend_type": "File", "backend_path": str(mem)}})) == \
        "Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources."
    assert h.request("GET", "/vm/config")[1] == before
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    assert "husk-guest: holding" in h.read_serial(until="husk-guest: holding")
    h.stop()
    # the logger and metrics are not boot configuration: the load goes on
    h = Husk(husk_bin, tmp_path / "c.sock")
    assert h.request("PUT", "/logger", {"log_path": str(tmp_path / "log"), "level": "Info"}) == (204, None)
    assert h.request("PUT", "/metrics", {"metrics_path": str(tmp_path / "metrics")}) == (204, None)
    assert h.request("PUT", "/snapshot/load", {
        "snapshot_path": str(state), "mem_backend": {"backend_type": "File", "backend_path": str(mem)},
        "resume_vm": True}) == (204, None)
    assert h.request("GET", "/")[1]["state"] == "Running"
    h.stop()


@pytest.mark.parametrize("engine", ["Sync", "Async"])
def test_drive_swap_after_boot(husk, guest, tmp_path, engine):
    """Async: the swap also replaces the file the restricted io_uring ring
    has registered, from the vmm thread under its seccomp filter."""
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    a.write_bytes(b"\0" * 1024 * 1024)
    b.write_bytes(b"\0" * 2 * 1024 * 1024)
    h = husk()
    configure(h, guest("pvh_hello"), "console=ttyS0 hold")
    drive = {"drive_id": "data", "path_on_host": str(a), "is_root_device": False, "io_engine": engine}
    assert "before starting" in fault(h.request("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": str(b)}))
    assert h.request("PUT", "/drives/data", drive) == (204, None)
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    assert "after starting" in fault(h.request("PUT", "/drives/data", drive))
    assert "path_on_host" in fault(h.request("PATCH", "/drives/data", {"drive_id": "data",
                                                                       "path_on_host": str(tmp_path / "none")}))
    assert h.request("GET", "/vm/config")[1]["drives"][0]["path_on_host"] == str(a)
    assert h.request("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": str(b)}) == (204, None)
    assert h.request("GET", "/vm/config")[1]["drives"][0]["path_on_host"] == str(b)
    assert "no drive" in fault(h.request("PATCH", "/drives/other", {"drive_id": "other", "path_on_host": str(b)}))
    assert h.request("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": str(a)}) == (204, None)
    code, _, err = h.stop()
    assert code == 128 + 15, err  # an orderly stop, not killed by seccomp on the swap


def test_logger_and_metrics(husk, guest, tmp_path):
    log, metrics = tmp_path / "husk.log", tmp_path / "metrics.json"
    h = husk()
    assert h.request("PUT", "/logger", {"log_path": str(log), "level": "Info", "show_level": True}) == (204, None)
    assert h.request("PUT", "/metrics", {"metrics_path": str(metrics)}) == (204, None)
    assert fault(h.request("PUT", "/metrics", {"metrics_path": str(metrics)})) == \
        "Metrics error: Cannot initialize the metrics system due to bad user input: " \
        "Reinitialization of metrics not allowed."
    configure(h, guest("pvh_hello"))
    assert h.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
    line = json.loads(metrics.read_text().splitlines()[0])
    # Firecracker's keys; the counting is the API's, not the flush's
    assert line["put_api_requests"]["machine_cfg_count"] == 1
    assert line["put_api_requests"]["metrics_count"] == 2
    assert line["put_api_requests"]["metrics_fails"] == 1
    assert line["husk"]["api_responses"]["metrics"]["4xx"] == 1
    assert line["api_server"]["process_startup_time_us"] > 0
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    code, out, err = h.wait()
    assert code == 0
    text = log.read_text()
    assert "API PUT /boot-source -> 204" in text
    assert "Guest-boot-time" in text
    # a last line is written on exit, with the guest's boot time
    last = json.loads(metrics.read_text().splitlines()[-1])
    assert last["husk"]["guest_boot_time_us"] > 0
    # the guest printed over COM1 (port I/O) and wrote the boot timer (MMIO)
    assert last["vcpu"]["exit_io_out"] > 100
    assert last["vcpu"]["exit_mmio_write"] >= 1


def test_version_in_firecrackers_shape(husk, husk_bin):
    """--version's first line is "<name> v<semver>" with the Firecracker
    version whose API husk follows (Kata parses it and wants >= 0.21.1);
    husk's own version is on the second line and in GET /version."""
    r = subprocess.run([husk_bin, "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()[:2]
    m = re.fullmatch(r"\S+ v(\d+)\.(\d+)\.(\d+)", first)
    assert m, first
    assert tuple(map(int, m.groups())) >= (0, 21, 1), first
    h = husk()
    status, v = h.request("GET", "/version")
    assert status == 200 and v["firecracker_version"] == ".".join(m.groups()), v
    assert re.search(rf"\bhusk {re.escape(v['husk_version'])}\b", second), (second, v)
    assert h.request("GET", "/")[1]["vmm_version"] == v["firecracker_version"]



def test_version_anywhere_among_the_arguments(husk_bin, tmp_path):
    """As Firecracker's argument parser: --version anywhere before a "--"
    prints the version and exits 0 before any other argument is read,
    even a bad one or one whose value it takes the place of; --help or -h
    anywhere wins over it; after "--" it is no flag of husk's."""
    sock = str(tmp_path / "never.sock")
    want = subprocess.run([husk_bin, "--version"], capture_output=True, text=True, timeout=10).stdout
    assert want.startswith("husk v"), want
    for args in (["--api-sock", sock, "--version"], ["--id", "a", "--no-such-flag", "--version"],
                 ["--api-sock", "--version"], ["--version", "--level"], ["extra", "--version"]):
        r = subprocess.run([husk_bin, *args], capture_output=True, text=True, timeout=10)
        assert (r.returncode, r.stdout, r.stderr) == (0, want, ""), args
    assert not os.path.exists(sock)
    for args in (["--version", "--help"], ["-h", "--version"]):
        r = subprocess.run([husk_bin, *args], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and r.stdout.startswith("usage: "), (args, r.stdout)
    r = subprocess.run([husk_bin, "--api-sock", sock, "--", "--version"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode != 0 and r.stdout == "", r.stdout

def test_firecracker_launch_flags(husk, husk_bin, guest, tmp_path):
    """Flags a Firecracker launch script passes: the payload limit is
    enforced and named in the refusal, the MMDS limit is enforced, the
    jailer's CPU start time and --module are accepted; the snapshot
    version flags print what --describe-snapshot reads back from a file."""
    h = husk("--http-api-max-payload-size", "200", "--mmds-size-limit", "4096",
             "--parent-cpu-time-us", "12", "--start-time-cpu-us", "34", "--module", "api_server")
    assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}) == (204, None)
    big = {"kernel_image_path": "k" * 300}
    assert "is larger than the limit of 200 allowed by server." in fault(h.request("PUT", "/boot-source", big))
    h.stop()
    h = husk("--mmds-size-limit", "30")
    assert h.request("PUT", "/mmds", {"k": "0123456789"}) == (204, None)
    assert "limit of 30 bytes" in fault(h.request("PATCH", "/mmds", {"more": "0123456789"}))
    assert h.request("GET", "/mmds") == (200, {"k": "0123456789"})
    h.stop()
    for bad in (["--http-api-max-payload-size", "0"], ["--mmds-size-limit", "x"]):
        r = subprocess.run([husk_bin, *bad], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and bad[0] in r.stderr, r.stderr
    r = subprocess.run([husk_bin, "--snapshot-version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and re.fullmatch(r"v\d+\.0\.0\n", r.stdout), r.stdout
    version = r.stdout
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    h = Husk(husk_bin, tmp_path / "b.sock")
    configure(h, guest("pvh_hello"), "console=ttyS0 hold")
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    h.read_serial(until="husk-guest: holding")
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert h.request("PUT", "/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(state),
                                                 "mem_file_path": str(mem)}) == (204, None)
    h.stop()
    r = subprocess.run([husk_bin, "--describe-snapshot", str(state)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout == version, (r.stdout, r.stderr)
    r = subprocess.run([husk_bin, "--describe-snapshot", str(mem)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "not a husk snapshot" in r.stderr, r.stderr


def test_serial_out_path(husk, guest, tmp_path):
    """PUT /serial before boot sends COM1 to a file, as Firecracker's
    serial_out_path; after boot it is refused."""
    out = tmp_path / "serial.txt"
    h = husk()
    configure(h, guest("pvh_hello"), "console=ttyS0 hold")
    assert h.request("PUT", "/serial", {"serial_out_path": str(out)}) == (204, None)
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    deadline = time.monotonic() + 60
    while "husk-guest: holding" not in (out.read_text() if out.exists() else ""):
        assert time.monotonic() < deadline, "the guest's output never reached the file"
        time.sleep(0.05)  # polling a file the guest writes; the condition is the sync
    assert "after starting" in fault(h.request("PUT", "/serial", {"serial_out_path": str(out)}))
    _, stdout, _ = h.stop()
    assert "husk-guest: pvh ok" in out.read_text() and "husk-guest: pvh ok" not in stdout


def test_serial_rate_limiter_drops_what_exceeds_it(husk, guest, tmp_path):
    """PUT /serial's rate_limiter, Firecracker's token bucket of bytes:
    output past it is dropped at once (the guest never waits for its
    console) and counted in uart.rate_limiter_dropped_bytes; a bucket
    without its refill_time is a 400 naming it."""
    out, metrics = tmp_path / "serial.txt", tmp_path / "metrics.json"
    h = husk()
    configure(h, guest("pvh_hello"), "console=ttyS0 hold")
    code, body = h.request("PUT", "/serial", {"rate_limiter": {"size": 64}})
    assert code == 400 and "refill_time" in body["fault_message"], body
    # 64 bytes, refilled once an hour: the boot's later lines are over it
    assert h.request("PUT", "/serial", {"serial_out_path": str(out),
                                        "rate_limiter": {"size": 64, "refill_time": 3600000}}) == (204, None)
    assert h.request("PUT", "/metrics", {"metrics_path": str(metrics)}) == (204, None)
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    uart, dropped = {}, 0
    deadline = time.monotonic() + 60
    while dropped == 0:
        assert time.monotonic() < deadline, f"nothing was dropped: {uart}"
        assert h.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
        uart = metrics_totals(metrics)["uart"]
        dropped = uart["rate_limiter_dropped_bytes"]
    # the bucket is empty once a byte was dropped: exactly its size got out
    assert uart["write_count"] == 64 and uart["missed_write_count"] == 0, uart
    assert out.stat().st_size == 64
    assert h.request("GET", "/")[1]["state"] == "Running"
    h.stop()


def test_snapshot_create_and_load(husk_bin, guest, tmp_path):
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    h = Husk(husk_bin, tmp_path / "a.sock")
    assert h.request("PUT", "/metrics", {"metrics_path": str(tmp_path / "a.metrics")}) == (204, None)
    configure(h, guest("pvh_hello"), "console=ttyS0 hold")
    # a drive's state is saved too, by the vmm thread under its seccomp filter
    assert h.request("PUT", "/drives/data", {"drive_id": "data", "path_on_host": str(disk),
                                             "is_root_device": False}) == (204, None)
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    h.read_serial(until="husk-guest: holding")
    snap = {"snapshot_type": "Full", "snapshot_path": str(state), "mem_file_path": str(mem)}
    assert fault(h.request("PUT", "/snapshot/create", snap)) == "Create snapshot error: Cannot save the microVM " \
        "state: Operation not allowed: save/restore unavailable while running"
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert h.request("PUT", "/snapshot/create", snap) == (204, None)
    assert mem.stat().st_size == (64 << 20) + 4096  # + the trailer page (mem_file.h)
    # each latency twice, as Firecracker measures it: the API's whole
    # request, and the action on the vmm thread, which is part of it
    assert h.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
    lat = metrics_totals(tmp_path / "a.metrics")["latencies_us"]
    for action in ("pause_vm", "full_create_snapshot"):
        assert 0 < lat["vmm_" + action] <= lat[action], lat
    h.stop()

    h = Husk(husk_bin, tmp_path / "b.sock")
    load = {"snapshot_path": str(state), "mem_backend": {"backend_type": "File", "backend_path": str(mem)},
            "resume_vm": False}
    assert "backend_type" in fault(h.request("PUT", "/snapshot/load", {**load, "mem_backend": {
        "backend_type": "Disk", "backend_path": str(mem)}}))
    assert h.request("PUT", "/metrics", {"metrics_path": str(tmp_path / "b.metrics")}) == (204, None)
    assert h.request("PUT", "/snapshot/load", load) == (204, None)
    assert h.request("GET", "/")[1]["state"] == "Paused"
    assert h.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
    lat = metrics_totals(tmp_path / "b.metrics")["latencies_us"]
    assert 0 < lat["vmm_load_snapshot"] <= lat["load_snapshot"], lat
    assert h.request("GET", "/machine-config")[1]["mem_size_mib"] == 64
    assert h.request("GET", "/vm/config")[1]["drives"][0]["path_on_host"] == str(disk)
    assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
    assert h.request("GET", "/")[1]["state"] == "Running"
    assert fault(h.request("PUT", "/snapshot/load", load)) == \
        "The requested operation is not supported after starting the microVM."
    h.stop()

    # an override for an interface the snapshot does not have: refused, nothing started
    h = Husk(husk_bin, tmp_path / "c.sock")
    msg = fault(h.request("PUT", "/snapshot/load", {**load, "network_overrides": [
        {"iface_id": "eth9", "host_dev_name": "tap9"}]}))
    assert "eth9" in msg or "override" in msg, msg
    assert h.request("GET", "/")[1]["state"] == "Not started"
    h.stop()


def test_snapshot_every_device_under_seccomp(husk_bin, guest, tmp_path, netns):
    """Full and Diff snapshots of a VM with every device kind, taken and
    loaded by the vmm thread under its seccomp filter (on by default): a
    syscall missing from the allowlist kills husk with SIGSYS here."""
    prefix = ("ip", "netns", "exec", netns)
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    limiter = {"bandwidth": {"size": 1 << 20, "refill_time": 100}}
    h = Husk(husk_bin, tmp_path / "a.sock", prefix=prefix)
    configure(h, guest("pvh_hello"), "console=ttyS0 hold")
    assert h.request("PATCH", "/machine-config", {"track_dirty_pages": True}) == (204, None)
    for path, body in (("/drives/data", {"drive_id": "data", "path_on_host": str(disk), "is_root_device": False,
                                         "io_engine": "Async", "rate_limiter": limiter}),
                       ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "htap0",
                                                     "guest_mac": "06:00:ac:10:00:02",
                                                     "rx_rate_limiter": limiter}),
                       ("/vsock", {"guest_cid": 3, "uds_path": str(tmp_path / "v.sock")}),
                       ("/entropy", {"rate_limiter": limiter})):
        assert h.request("PUT", path, body) == (204, None), path
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    h.read_serial(until="husk-guest: holding")
    state, mem = tmp_path / "full.state", tmp_path / "full.mem"
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert h.request("PUT", "/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(state),
                                                 "mem_file_path": str(mem)}) == (204, None)
    assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert h.request("PUT", "/snapshot/create", {"snapshot_type": "Diff",
                                                 "snapshot_path": str(tmp_path / "diff.state"),
                                                 "mem_file_path": str(tmp_path / "diff.mem")}) == (204, None)
    assert h.proc.poll() is None
    code, _, err = h.stop()
    assert code == 128 + 15, err  # an orderly stop on SIGTERM, not -31 (SIGSYS)

    h = Husk(husk_bin, tmp_path / "b.sock", prefix=prefix)
    assert h.request("PUT", "/snapshot/load", {
        "snapshot_path": str(state), "mem_backend": {"backend_type": "File", "backend_path": str(mem)},
        "network_overrides": [{"iface_id": "eth0", "host_dev_name": "htap1"}],
        "resume_vm": True}) == (204, None)
    assert h.request("GET", "/")[1]["state"] == "Running"
    config = h.request("GET", "/vm/config")[1]
    assert config["network-interfaces"][0]["host_dev_name"] == "htap1"
    assert config["drives"][0]["io_engine"] == "Async"
    assert h.proc.poll() is None
    code, _, err = h.stop()
    assert code == 128 + 15, err


def test_failed_instance_start(husk, tmp_path):
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"\x7fELF" + b"\0" * 4096)
    h = husk()
    assert h.request("PUT", "/boot-source", {"kernel_image_path": str(bad)}) == (204, None)
    assert fault(h.request("PUT", "/actions", {"action_type": "InstanceStart"})).startswith("Start microvm error: ")
    assert h.request("GET", "/")[1]["state"] == "Not started"
    assert "failed half-way" in fault(h.request("PUT", "/actions", {"action_type": "InstanceStart"}))
    assert "after starting" in fault(h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}))
    code, out, err = h.stop()
    assert "not a loadable ELF or bzImage" in err


def test_firecracker_curl_sequence(husk, guest, tmp_path):
    """The getting-started sequence as Firecracker documents it, with curl."""
    import shutil
    import subprocess
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("no curl on this host")
    disk = tmp_path / "rootfs.ext4"
    disk.write_bytes(b"\0" * (1 << 20))
    h = husk()

    def put(path, body, method="PUT"):
        r = subprocess.run([curl, "-sS", "--unix-socket", h.sock_path, "-i", "-X", method,
                            f"http://localhost{path}", "-H", "Accept: application/json",
                            "-H", "Content-Type: application/json", "-d", json.dumps(body)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return int(r.stdout.split()[1]), r.stdout

    # a body over 1 KiB makes curl send "Expect: 100-continue" and wait for us
    long_args = "console=ttyS0 " + "pad=" + "p" * 1200
    assert put("/boot-source", {"kernel_image_path": guest("pvh_hello"), "boot_args": long_args})[0] == 204
    assert put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})[0] == 204
    assert put("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(disk), "is_root_device": True,
                                  "is_read_only": False})[0] == 204
    status, text = put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 64, "extra": 1})
    assert status == 400 and "unknown field `extra`" in text
    assert put("/actions", {"action_type": "InstanceStart"})[0] == 204
    code, out, err = h.wait()
    assert code == 0, err
    assert "husk-guest: pvh ok" in out
    assert "root=/dev/vda" in out  # the drive reached the guest's cmdline


def test_snapshot_create_cli_through_the_api(husk_bin, guest, tmp_path):
    """`husk snapshot create` pauses a running husk over its socket, snapshots
    it and resumes it; `husk snapshot load` takes the files."""
    state, mem, sock = tmp_path / "vm.state", tmp_path / "vm.mem", tmp_path / "a.sock"
    h = Husk(husk_bin, sock)
    configure(h, guest("pvh_hello"), "console=ttyS0 hold")
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    h.read_serial(until="husk-guest: holding")
    cli = [husk_bin, "snapshot", "create", "--api-sock", str(sock), "--snapshot", str(state),
           "--mem-file", str(mem)]
    r = subprocess.run(cli, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert state.stat().st_size > 0 and mem.stat().st_size == (64 << 20) + 4096
    assert h.request("GET", "/")[1]["state"] == "Running"
    # a refused create is reported with the API's reason, and the VM resumed
    r = subprocess.run(cli[:-4] + ["--snapshot", str(tmp_path / "no/such/dir/s"), "--mem-file", str(mem),
                                   "--type", "Full"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "HTTP 400" in r.stderr, r.stderr
    assert h.request("GET", "/")[1]["state"] == "Running"
    h.stop()
    r = subprocess.run(cli[:3] + ["--api-sock", str(tmp_path / "none.sock"), "--snapshot", "s", "--mem-file", "m"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "cannot connect" in r.stderr
    assert subprocess.run(cli[:3] + ["--type", "Half"], capture_output=True, timeout=30).returncode == 2
    # the files load into a fresh process, which runs the held guest on
    p = subprocess.Popen([husk_bin, "snapshot", "load", "--snapshot", str(state), "--mem-file", str(mem),
                          "--resume", "--level", "Info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = b""
        while b"snapshot: running at" not in line:
            line = p.stderr.readline()
            assert line, "husk snapshot load ended early"
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()


def _bench_seconds(h, timeout=60):
    """Seconds between the blk guest's 'bench start' and 'bench done' lines."""
    h.read_serial(until="blk-guest: bench start", timeout=timeout)
    t0 = time.monotonic()
    out = h.read_serial(until="blk-guest: bench done", timeout=timeout)
    assert "bench done" in out and "bench failed" not in out, out
    return time.monotonic() - t0


def test_drive_rate_limiter_over_the_api(husk_bin, guest, tmp_path):
    """A drive's ops limit from PUT /drives paces the guest's load
    generator (200 ops/s: 100 reads, 20 of them from the initial bucket,
    take >= 0.4 s), and PATCH /drives lifts it on the running VM, leaving
    the bucket it does not name as it was."""
    disk = tmp_path / "load.img"
    with open(disk, "wb") as f:
        f.truncate(16 << 20)
    kernel = str(pathlib.Path(guest("pvh_hello")).parent / "virtio_blk" / "blk_guest.elf")
    # a bandwidth bucket too wide to matter, to show that a PATCH of the
    # ops bucket alone leaves it as it is
    wide = {"size": 1 << 30, "one_time_burst": 0, "refill_time": 100}
    limit = {"ops": {"size": 20, "refill_time": 100}, "bandwidth": wide}
    h = Husk(husk_bin, tmp_path / "a.sock")
    configure(h, kernel, "console=ttyS0 blk_bench=2 blk_bs_kib=4 blk_count=100")
    assert h.request("PUT", "/drives/load", {"drive_id": "load", "path_on_host": str(disk),
                                               "is_root_device": True, "is_read_only": False,
                                               "rate_limiter": limit}) == (204, None)
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    limited = _bench_seconds(h)
    assert limited >= 0.4 * 0.9, limited
    # lifting the limit on the running VM (size 0: "no limit", as in
    # Firecracker) is accepted, keeps the VM alive, and /vm/config shows
    # what is in force: the bandwidth bucket the PATCH left out, no ops
    assert h.request("PATCH", "/drives/load", {"drive_id": "load", "rate_limiter": {
        "ops": {"size": 0, "refill_time": 100}}}) == (204, None)
    assert h.request("GET", "/")[1]["state"] == "Running"
    assert h.request("GET", "/vm/config")[1]["drives"][0]["rate_limiter"] == {"bandwidth": wide}
    h.stop()

    # the same load without a limit is much faster: the limiter set the pace
    h = Husk(husk_bin, tmp_path / "b.sock")
    configure(h, kernel, "console=ttyS0 blk_bench=2 blk_bs_kib=4 blk_count=100")
    assert h.request("PUT", "/drives/load", {"drive_id": "load", "path_on_host": str(disk),
                                               "is_root_device": True, "is_read_only": False}) == (204, None)
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    assert _bench_seconds(h) < limited / 2
    h.stop()
