"""Two vCPUs against one virtio device (tests/guests/racer.c).

Race: vCPU 0 submits requests while vCPU 1 rewrites, without pause, what
the device reads of them (request headers and types, discard/write-zeroes
segment lists, descriptor addresses, lengths and flags, virtio-net and
vsock packet headers). A device must copy each of those once, check the
copy and use only the copy. husk must stay up and exit 0 when the guest
resets after its rounds; for blk the backing file keeps its size and every
byte outside the range the guest was allowed. Every value the device
meets is one vCPU 1 left there, so its checks are exercised on any
machine; a device that checks one read and acts on a second is caught
where the vCPUs and the VMM thread run at the same time (a second read of
the discard list changed bytes outside the range in a level-1 machine of
two CPUs, not in one of one CPU).

Limiter: the guest's reads have their type flipped between FLUSH (free)
and IN: the bytes read may not exceed the drive's bandwidth limit. A VMM
that charges from one read of the type and acts on another fails this
only where the two vCPUs and the VMM thread run at the same time (seen:
about 1.3x the limit with a level-1 machine of two CPUs); on one CPU the
two reads follow each other too closely for vCPU 1 to get between them.
The races above still check every value the device meets, there too.

Flood: the guest hands every buffer back to the device the moment it is
used, forever. GET / still answers, and PATCH /vm Paused takes effect
(nothing the guest does shows in the metrics any more), each within
API_BOUND_S. Each chain is 64 KiB in 256 pieces, so that a device without
a per-round budget never gets to the end of the ring even where it and
the vCPU take turns on one CPU: with the budget taken out of rng or net
tx, the API stops answering (seen in a level-1 machine of one CPU). A
vsock chain costs only its descriptor walk: a missing budget there was
not caught on one CPU; it takes the VMM thread and the vCPU running at
the same time."""
import hashlib
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import threading
import time

import pytest

from api_client import Husk as ApiHusk, metrics_totals
from net_helpers import netns  # noqa: F401  (fixture)

# Rounds of requests per race (each round: 6-8 requests in flight while
# vCPU 1 rewrites them). The device meets a descriptor pointing outside
# RAM in about one round in ten (and must ask for a reset), the other
# rewrites far more often; 5-10 s each in the level-1 machine.
RACE_ROUNDS = int(os.environ.get("HUSK_RACE_ROUNDS", "600"))
RACE_TIMEOUT_S = 240

SECTOR = 512
DISK_BYTES = 16 << 20        # the guest refuses disks of 0xff00 sectors or more (racer.c hostile32)
ALLOW_SECTOR = 8192          # the guest may change [4 MiB, 4 MiB + 32 KiB) ...
ALLOW_SECTORS = 64           # ... and nothing else

# Generous: the level-1 machine emulates everything (QEMU TCG), the VMM
# included, and shares two host cores with other work. A VMM that never
# lets go of a flooded queue misses it by far (the API never answers).
API_BOUND_S = 5.0
# After the pause took effect, nothing may change for this long.
QUIET_S = 2.0
# Between two looks at the metrics: the level-1 machine has one CPU, and
# a poll that never yields would slow the VMM it watches.
POLL_S = 0.05


def racer_out(r):
    return r.stdout + "\n--- stderr ---\n" + r.stderr[-4000:]


def assert_clean_exit(r, name):
    """husk ran the whole race and exited 0 on the guest's reset."""
    out = racer_out(r)
    assert r.returncode == 0, out
    m = re.search(rf"husk-guest: race {name} done rounds=(\d+) resets=(\d+) ok=(\d+) ioerr=(\d+) "
                  rf"unsupp=(\d+) other=(\d+) flips=(\d+)", r.stdout)
    assert m, out
    assert " BAD " not in r.stdout, out
    assert "husk-guest: reset" in r.stdout, out
    assert "VM exited: guest reset" in r.stderr, out
    assert "AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr, out
    tally = dict(zip(("rounds", "resets", "ok", "ioerr", "unsupp", "other", "flips"),
                     map(int, m.groups())))
    assert tally["rounds"] == RACE_ROUNDS, tally
    # vCPU 1 really raced: it rewrote the requests all along, and the
    # device met its rewrites (a descriptor pointed outside RAM now and
    # then: the device asked for a reset and the guest gave it one)
    assert tally["flips"] > RACE_ROUNDS, tally
    assert tally["resets"] > 0, tally
    print(f"race {name}: {tally}")
    return tally


def run_racer(husk_bin, guest, mode, *args, prefix=(), extra_cmdline=""):
    cmdline = f"console=ttyS0 race={mode} race_n={RACE_ROUNDS} {extra_cmdline}".strip()
    return subprocess.run([*prefix, husk_bin, "run", "--kernel", guest("racer"), "--vcpus", "2",
                           "--mem", "128", "--cmdline", cmdline, *args],
                          capture_output=True, text=True, timeout=RACE_TIMEOUT_S)


# ---- blk ----

def regions(path):
    """sha256 of the bytes before and after the allowed range, and the size."""
    data = path.read_bytes()
    lo, hi = ALLOW_SECTOR * SECTOR, (ALLOW_SECTOR + ALLOW_SECTORS) * SECTOR
    return len(data), hashlib.sha256(data[:lo]).hexdigest(), hashlib.sha256(data[hi:]).hexdigest()


@pytest.fixture
def race_disk(tmp_path):
    """16 MiB of distinctive bytes (no run of zeroes a hole punch or a
    write of zeroes could leave unnoticed), the allowed range zeroed."""
    path = tmp_path / "race.img"
    block = hashlib.sha256(b"husk race").digest() * (1 << 15)  # 1 MiB
    data = bytearray(block * (DISK_BYTES // len(block)))
    lo, hi = ALLOW_SECTOR * SECTOR, (ALLOW_SECTOR + ALLOW_SECTORS) * SECTOR
    data[lo:hi] = bytes(hi - lo)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("engine", ["sync", "async"])
def test_blk_race_stays_in_range(husk_bin, guest, race_disk, engine):
    before = regions(race_disk)
    r = run_racer(husk_bin, guest, "blk", "--drive", f"path={race_disk},id=racer,engine={engine}",
                  extra_cmdline=f"race_sector={ALLOW_SECTOR} race_sectors={ALLOW_SECTORS}")
    tally = assert_clean_exit(r, "blk")
    # requests of every outcome: done, refused (a hostile sector or
    # segment, a length that is no whole sector) and unsupported (a type
    # flipped to one virtio-blk does not have)
    assert tally["ok"] > 0 and tally["ioerr"] > 0 and tally["unsupp"] > 0, tally
    size, head, tail = regions(race_disk)
    assert size == before[0], "the backing file changed size"
    assert head == before[1], "bytes before the allowed range changed"
    assert tail == before[2], "bytes after the allowed range changed"


# ---- net tx, vsock tx, rng ----

def test_net_race(husk_bin, guest, netns):  # noqa: F811
    r = run_racer(husk_bin, guest, "net", "--net", "tap=htap0", prefix=("ip", "netns", "exec", netns))
    assert_clean_exit(r, "net")


class Sink:
    """A Unix listener that accepts every connection and reads each to
    EOF, in a thread: where the guest's vsock connections land."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.wake_r, self.wake_w = os.pipe()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.sel.register(self.wake_r, selectors.EVENT_READ)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            for key, _ in self.sel.select():
                if key.fileobj == self.wake_r:
                    return
                if key.fileobj is self.sock:
                    conn, _ = self.sock.accept()
                    conn.setblocking(False)
                    self.sel.register(conn, selectors.EVENT_READ)
                    continue
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(key.fileobj)
                    key.fileobj.close()

    def close(self):
        os.write(self.wake_w, b"x")
        self.thread.join(timeout=30)
        for key in list(self.sel.get_map().values()):
            if isinstance(key.fileobj, socket.socket):
                key.fileobj.close()
        self.sel.close()
        os.close(self.wake_r)
        os.close(self.wake_w)


def test_vsock_race(husk_bin, guest, tmp_path):
    uds = str(tmp_path / "v.sock")
    port = 1234
    sink = Sink(f"{uds}_{port}")
    try:
        r = run_racer(husk_bin, guest, "vsock", "--vsock", f"cid=3,uds={uds}",
                      extra_cmdline=f"race_port={port}")
    finally:
        sink.close()
    assert_clean_exit(r, "vsock")


def test_rng_race(husk_bin, guest):
    r = run_racer(husk_bin, guest, "rng", "--rng")
    assert_clean_exit(r, "rng")


# ---- with the API: the blk limiter and the floods ----

def start_api(husk_bin, tmp_path, guest_path, boot_args, vcpus, devices, prefix=()):
    """husk with the API and a config file that boots at once; returns
    (husk, metrics reader)."""
    metrics = tmp_path / "metrics.json"
    cfg = {
        "boot-source": {"kernel_image_path": guest_path, "boot_args": boot_args},
        "machine-config": {"vcpu_count": vcpus, "mem_size_mib": 128},
        "metrics": {"metrics_path": str(metrics)},
        **devices,
    }
    (tmp_path / "vm.json").write_text(json.dumps(cfg))
    h = ApiHusk(husk_bin, tmp_path / "api.sock", ("--config-file", str(tmp_path / "vm.json")),
                prefix=prefix)

    def read_metrics():
        assert h.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
        return metrics_totals(metrics)
    return h, read_metrics


def stop_api(h):
    rc, out, err = h.stop()
    assert rc == 128 + signal.SIGTERM, err[-3000:]
    assert "AddressSanitizer" not in err and "runtime error" not in err, err[-3000:]
    return out


# A bandwidth limit far below what the same reads do unlimited.
LIMIT_BYTES = 16 << 10       # bucket ...
LIMIT_REFILL_MS = 250        # ... refilled every 250 ms: 64 KiB/s
LIMIT_RATE = LIMIT_BYTES * 1000 // LIMIT_REFILL_MS
LIMIT_WINDOW_S = 6.0
LIMIT_IN_FLIGHT = 6 * 4096   # one round of the guest's reads, charged before the window
# A token bucket never lets more through than its rate over the time plus
# what it held at the start (and what was paid for before): the slack is
# only for rounding.
LIMIT_SLACK = 1.02


def test_blk_limiter_charges_the_flipped_type(husk_bin, guest, race_disk, tmp_path):
    h, read_metrics = start_api(
        husk_bin, tmp_path, guest("racer"),
        f"console=ttyS0 race=blklimit race_n=100000000 race_sector={ALLOW_SECTOR} "
        f"race_sectors={ALLOW_SECTORS}", 2,
        {"drives": [{"drive_id": "racer", "path_on_host": str(race_disk), "is_root_device": False,
                     "is_read_only": False,
                     "rate_limiter": {"bandwidth": {"size": LIMIT_BYTES,
                                                    "refill_time": LIMIT_REFILL_MS}}}]})
    try:
        assert "race blklimit started" in h.read_serial(until="race blklimit started", timeout=60)
        # the drive's own group has every leaf of Firecracker's block group
        first = read_metrics()
        assert sorted(first["block_racer"]) == sorted(first["block"]), first
        # the clock is read before the first look at the metrics and after
        # the last: the measured time covers the counted one even when
        # this process is slow to get its answer (one CPU, busy vCPUs)
        t0 = time.monotonic()
        m0 = read_metrics()["block_racer"]
        # the window is what is measured; nothing waits on it
        while time.monotonic() < t0 + LIMIT_WINDOW_S:
            time.sleep(POLL_S)
            m1 = read_metrics()["block_racer"]
            t1 = time.monotonic()
    finally:
        out = stop_api(h)
    assert " BAD " not in out, out
    read = m1["read_bytes"] - m0["read_bytes"]
    flushes = m1["flush_count"] - m0["flush_count"]
    allowed = LIMIT_RATE * (t1 - t0) * LIMIT_SLACK + LIMIT_BYTES + LIMIT_IN_FLIGHT
    print(f"blk limiter: {read} bytes read in {t1 - t0:.2f} s ({read / (t1 - t0):.0f} B/s, "
          f"limit {LIMIT_RATE} B/s), {flushes} flushes")
    # both types got through: the flips landed ...
    assert read > 0 and flushes > 0, (m0, m1)
    # ... and every byte read was paid for
    assert read <= allowed, (read, allowed, t1 - t0)


FLOOD_DEVICES = {
    "rng": lambda tmp_path: {"entropy": {}},
    "net": lambda tmp_path: {"network-interfaces": [{"iface_id": "eth0", "host_dev_name": "htap0"}]},
    "vsock": lambda tmp_path: {"vsock": {"guest_cid": 3, "uds_path": str(tmp_path / "v.sock")}},
}


def progress(m):
    """What moves while the guest runs: its serial output and exits, and
    what the net device sent."""
    net = m.get("net_eth0", {})
    return (m["uart"]["write_count"], sum(m["vcpu"].values()),
            net.get("tx_packets_count", 0) + net.get("tap_write_fails", 0))


def wait_for(what, cond, bound):
    """Poll cond() until it is true; seconds it took. Fails past bound."""
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < bound, f"{what}: not within {bound} s"
        time.sleep(POLL_S)
    return time.monotonic() - t0


@pytest.mark.parametrize("dev", ["rng", "net", "vsock"])
def test_flood_leaves_api_and_pause_working(husk_bin, guest, tmp_path, request, dev):
    prefix = ()
    if dev == "net":
        prefix = ("ip", "netns", "exec", request.getfixturevalue("netns"))
    h, read_metrics = start_api(husk_bin, tmp_path, guest("racer"), f"console=ttyS0 flood={dev}",
                                1, FLOOD_DEVICES[dev](tmp_path), prefix=prefix)
    try:
        # well into the flood: the guest has had four rings' worth of
        # buffers back (a line every ring), and goes on
        h.read_serial(until=f"husk-guest: flood {dev} 1024", timeout=120)
        assert f"husk-guest: flood {dev} started" in h.serial, h.serial
        last = progress(read_metrics())
        wait_for("the flood shows in the metrics",
                 lambda: progress(read_metrics()) != last, API_BOUND_S * 4)

        get_s = []
        for _ in range(5):
            t = time.monotonic()
            status, body = h.request("GET", "/")
            get_s.append(time.monotonic() - t)
            assert status == 200 and body["state"] == "Running", body
        t = time.monotonic()
        assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
        pause_s = time.monotonic() - t
        assert h.request("GET", "/")[1]["state"] == "Paused"

        # what was in flight settles (the device may finish the chains it
        # had), then nothing moves: the guest is stopped
        seen = [progress(read_metrics())]

        def settled():
            seen.append(progress(read_metrics()))
            return seen[-1] == seen[-2]
        settle_s = wait_for("progress stops after the pause", settled, API_BOUND_S)
        frozen, t = seen[-1], time.monotonic()
        while time.monotonic() - t < QUIET_S:
            time.sleep(POLL_S)
            assert progress(read_metrics()) == frozen, "the guest ran on while paused"
        print(f"flood {dev}: GET / max {max(get_s) * 1000:.0f} ms, pause {pause_s * 1000:.0f} ms, "
              f"progress stopped {settle_s * 1000:.0f} ms after the pause")
        assert max(get_s) < API_BOUND_S, get_s
        assert pause_s < API_BOUND_S, pause_s
    finally:
        out = stop_api(h)
    assert " BAD " not in out, out
