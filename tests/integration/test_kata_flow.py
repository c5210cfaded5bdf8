"""Kata Containers' Firecracker driver (src/runtime/virtcontainers/fc.go),
replayed with husk and husk-jailer as its Firecracker and jailer: the
version check on `--version`, the jailer's exact argv (uid 0, the old
--node, --daemonize, --netns, then --config-file), the config document it
writes (a read-only non-root rootfs, eight 0-byte placeholder drives,
logger and metrics FIFOs, vsock "root" with cid 3, an interface with a
bandwidth-only rate limiter and an empty one, acpi=off pci=off, the old
ht_enabled), the poll of GET / until the VM is started, the later PATCH
of a placeholder drive, and the metrics lines read from the FIFO."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from api_client import Conn, wait_socket
from net_helpers import netns  # noqa: F401 (fixture)
from test_jailer import HUSK_STATIC, JAILER, remove_cgroup

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the jailer needs root")

# fc.go: fcMinSupportedVersion, fcDiskPoolSize, defaultGuestVSockCID
MIN_VERSION = (0, 21, 1)
DISK_POOL = 8
GUEST_CID = 3
# fcKernelParams after commonVirtioblkKernelRootParams, as its debug mode
# joins them (console=ttyS0); the test guest takes "hold" to keep running
KERNEL_PARAMS = ("root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 "
                 "pci=off reboot=k panic=1 iommu=off net.ifnames=0 random.trust_cpu=on acpi=off "
                 "console=ttyS0 hold")
# the groups of Kata's FirecrackerMetrics struct (rtc is aarch64-only in
# Firecracker; Go leaves a missing group zero)
KATA_METRICS = ("api_server", "block", "get_api_requests", "i8042", "latencies_us", "logger", "mmds",
                "net", "patch_api_requests", "put_api_requests", "seccomp", "signals", "uart", "vcpu",
                "vmm", "vsock")


def kata_version(out):
    """fc.go parseVersion + checkVersion: the first line's second field,
    without its 'v', as a semver."""
    fields = out.split("\n")[0].split(" ")
    assert len(fields) > 1, out
    core = fields[1].strip().removeprefix("v").split("-")[0]
    return tuple(int(x) for x in core.split("."))


def kata_config(tx_bytes_per_s):
    """The document StartVM marshals (types.FcConfig; go-swagger's field
    names; pointers left nil are omitted, an empty RateLimiter is {})."""
    drives = [{"drive_id": "rootfs", "is_read_only": True, "is_root_device": False,
               "path_on_host": "/rootfs"}]
    drives += [{"drive_id": f"drive_{i}", "is_read_only": False, "is_root_device": False,
                "path_on_host": f"/drive_{i}"} for i in range(DISK_POOL)]
    return {
        "boot-source": {"boot_args": KERNEL_PARAMS, "kernel_image_path": "/vmlinux"},
        "machine-config": {"ht_enabled": False, "mem_size_mib": 64, "vcpu_count": 1},
        "drives": drives,
        "vsock": {"guest_cid": GUEST_CID, "uds_path": "/kata.hvsock", "vsock_id": "root"},
        "network-interfaces": [{"guest_mac": "06:00:ac:10:00:02", "host_dev_name": "htap0",
                                "iface_id": "eth0", "rx_rate_limiter": {},
                                "tx_rate_limiter": {"bandwidth": {"refill_time": 1000,
                                                                  "size": tx_bytes_per_s}}}],
        "logger": {"level": "Error", "log_path": "/logs.fifo"},
        "metrics": {"metrics_path": "/metrics.fifo"},
    }


def open_fifo(path):
    """fcListenToFifo: made and opened for reading before husk starts."""
    os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


def metrics_line_where(fd, predicate, timeout=30):
    """The first whole JSON line from the FIFO for which predicate holds."""
    got = b""
    deadline = time.monotonic() + timeout
    while True:
        *lines, got = got.split(b"\n")
        for line in lines:
            doc = json.loads(line)
            if predicate(doc):
                return doc
        assert time.monotonic() < deadline, got
        try:
            got += os.read(fd, 1 << 16)
        except BlockingIOError:
            time.sleep(0.01)  # Kata's reader polls too; the line is the condition


def wait_started(sock_path, proc, timeout=10):
    """waitVMMRunning: GET / every 10 ms until started (fc.go's fcTimeout
    is 10 s)."""
    conn = Conn(sock_path, sock=wait_socket(sock_path, proc))
    deadline = time.monotonic() + timeout
    while True:
        code, info = conn.request("GET", "/")
        if code == 200 and info.get("started"):
            return conn, info
        assert time.monotonic() < deadline, info
        time.sleep(0.01)


def test_kata_flow(tmp_path, guest, netns):
    if not (JAILER.exists() and HUSK_STATIC.exists()):
        pytest.skip("needs husk-jailer and the static husk")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm")
    exec_file = tmp_path / "bin" / "husk"
    exec_file.parent.mkdir()
    shutil.copy(HUSK_STATIC, exec_file)
    version = subprocess.run([str(exec_file), "--version"], capture_output=True, text=True, check=True)
    assert kata_version(version.stdout) >= MIN_VERSION, version.stdout

    # setPaths / fcInitConfiguration: <chroot base>/<exec name>/<id>/root
    # with run/ for the socket; Kata bind-mounts its assets in, this test
    # copies them (the jail sees the same files either way)
    # short: the socket path must fit sun_path (108 bytes), which is why
    # Kata truncates its ids
    sandbox = "kata01"
    base = tmp_path / "k"
    root = base / "husk" / sandbox / "root"
    (root / "run").mkdir(parents=True)
    shutil.copy(guest("linux64_check"), root / "vmlinux")
    (root / "rootfs").write_bytes(b"\0" * (1 << 20))
    for i in range(DISK_POOL):
        (root / f"drive_{i}").touch()  # createJailedDrive: 0 bytes
    logs, metrics = open_fifo(root / "logs.fifo"), open_fifo(root / "metrics.fifo")
    tx_rate = 125000
    (root / "fcConfig.json").write_text(json.dumps(kata_config(tx_rate), indent="\t"))

    argv = [str(JAILER), "--id", sandbox, "--node", "0", "--exec-file", str(exec_file),
            "--uid", "0", "--gid", "0", "--chroot-base-dir", str(base), "--daemonize",
            "--netns", f"/var/run/netns/{netns}", "--", "--config-file", "/fcConfig.json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    conn = None
    try:
        # the default socket, /run/firecracker.socket inside the jail
        conn, info = wait_started(str(root / "run" / "firecracker.socket"), proc)
        assert info["id"] == sandbox and info["state"] == "Running", info
        # --daemonize: stdio went to /dev/null; the warning came before
        warn = proc.stderr.read().decode()
        assert "husk-jailer: warning: --uid 0 --gid 0 keeps the jail as root" in warn, warn
        assert os.readlink(f"/proc/{proc.pid}/fd/1") == "/dev/null"

        cfg = conn.request("GET", "/vm/config")[1]
        assert [(d["drive_id"], d["is_read_only"], d["is_root_device"]) for d in cfg["drives"]] == \
            [("rootfs", True, False)] + [(f"drive_{i}", False, False) for i in range(DISK_POOL)]
        assert cfg["vsock"]["guest_cid"] == GUEST_CID
        nic = cfg["network-interfaces"][0]
        assert nic["rx_rate_limiter"] is None, nic
        assert nic["tx_rate_limiter"] == {"bandwidth": {"size": tx_rate, "one_time_burst": 0,
                                                        "refill_time": 1000}}, nic
        assert "acpi=off" in cfg["boot-source"]["boot_args"] and "pci=off" in cfg["boot-source"]["boot_args"]
        assert cfg["logger"]["log_path"] == "/logs.fifo" and cfg["logger"]["level"] == "Error"

        # hotplugBlockDevice: the placeholder's path now holds the real
        # disk (Kata bind-mounts it there), and PATCH names only the path
        disk = root / "drive_0.new"
        disk.write_bytes(b"\x5a" * (2 << 20))
        os.replace(disk, root / "drive_0")
        assert conn.request("PATCH", "/drives/drive_0",
                            {"drive_id": "drive_0", "path_on_host": "/drive_0"}) == (204, None)
        assert conn.request("GET", "/")[1]["state"] == "Running"

        # the metrics FIFO carries Firecracker's schema (updateMetrics)
        assert conn.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
        line = metrics_line_where(metrics, lambda m: m["patch_api_requests"]["drive_count"] == 1)
        missing = [g for g in KATA_METRICS if g not in line]
        assert not missing, missing
    finally:
        if conn:
            conn.close()
        # fcEnd: SIGTERM to the pid Kata started (the jailer exec'd husk)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        os.close(logs)
        os.close(metrics)
    remove_cgroup(sandbox)
    assert proc.returncode == 128 + signal.SIGTERM
    assert pathlib.Path(root / "run" / "firecracker.socket").exists() is False
