"""A snapshot/create that fails part-way (the disk fills up, husk is
killed) leaves the previous snapshot loadable and its guest goes on
exactly where it stopped; the VM that failed to snapshot runs on; a Diff
taken after a failed Diff still holds every page since the last good one.

The guest is snapshot_counter/snap_guest with snap_fill: it fills 48 MiB
of RAM with a pattern that has no zero page, so a Full snapshot writes
that much and a create has a long memory write to fail or be killed in.
The small filesystem is a tmpfs the test mounts and shrinks to what its
files already use (remount), so the next create runs out of space."""
import hashlib
import os
import re
import select
import signal
import subprocess
import time

import pytest

from api_client import Husk
from conftest import BUILD

MERGE = BUILD / "tools" / "snapshot-merge" / "snapshot-merge"
FILL_MIB = 48
MEM_MIB = 128
PAGE = 4096


@pytest.fixture(autouse=True)
def need_kvm():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm")


class SmallFs:
    """A tmpfs mounted at `path`; shrink() caps it at what it holds now."""

    def __init__(self, path):
        self.path = path
        path.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(path)], check=True)

    def __truediv__(self, name):
        return self.path / name

    def shrink(self):
        st = os.statvfs(self.path)
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        subprocess.run(["mount", "-o", f"remount,size={used + PAGE}", str(self.path)], check=True)


@pytest.fixture
def small_fs(tmp_path):
    fs = SmallFs(tmp_path / "small")
    yield fs
    subprocess.run(["umount", str(fs.path)], check=True)


def digest(*paths):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def drain(h):
    """What the guest printed up to now. After PATCH /vm Paused answers,
    the vCPUs are stopped and their output is already in the pipe."""
    fd = h.proc.stdout.fileno()
    os.set_blocking(fd, False)
    got = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        got += chunk
    os.set_blocking(fd, True)
    h.serial = getattr(h, "serial", "") + got.decode(errors="replace")
    return h.serial


def counts(text):
    return [int(n) for n in re.findall(r"^n=(\d+)\n", text, re.M)]


def wait_count(h, more):
    """Let the guest count `more` further steps."""
    last = counts(drain(h))[-1]
    h.read_serial(until=f"n={last + more}\n")


def boot(husk_bin, guest, sock, dirty=False):
    h = Husk(husk_bin, sock)
    assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": MEM_MIB,
                                                "track_dirty_pages": dirty}) == (204, None)
    assert h.request("PUT", "/boot-source", {
        "kernel_image_path": guest("snapshot_counter/snap_guest"),
        "boot_args": f"console=ttyS0 snap_fill={FILL_MIB}"}) == (204, None)
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    h.read_serial(until="n=3\n", timeout=120)
    return h


def pause(h):
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    return drain(h)


def create(h, kind, state, mem):
    return h.request("PUT", "/snapshot/create", {"snapshot_type": kind, "snapshot_path": str(state),
                                                 "mem_file_path": str(mem)})


def goes_on_from(husk_bin, sock, state, mem, before):
    """Load (state, mem) into a fresh husk: the guest's first lines continue
    `before` (the output up to the snapshot) with no step lost or repeated."""
    h = Husk(husk_bin, sock)
    try:
        assert h.request("PUT", "/snapshot/load", {
            "snapshot_path": str(state), "mem_backend": {"backend_type": "File", "backend_path": str(mem)},
            "resume_vm": True}) == (204, None)
        last = counts(before)[-1]
        after = h.read_serial(until=f"n={last + 3}\n")
        c = counts(before + after)
        i = c.index(last)
        assert c[i:i + 4] == [last, last + 1, last + 2, last + 3], (before[-200:], after[:200])
    finally:
        h.stop()


def merge(base, *diffs, out):
    out.write_bytes(base.read_bytes())
    for d in diffs:
        r = subprocess.run([str(MERGE), str(out), str(d)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    return out


def test_full_that_runs_out_of_space_keeps_the_previous_full(husk_bin, guest, tmp_path, small_fs):
    state, mem = small_fs / "vm.state", small_fs / "vm.mem"
    h = boot(husk_bin, guest, tmp_path / "a.sock")
    try:
        before = pause(h)
        assert create(h, "Full", state, mem) == (204, None)
        good = digest(state, mem)
        assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
        wait_count(h, 5)
        pause(h)
        small_fs.shrink()
        code, body = create(h, "Full", state, mem)
        assert code == 400 and "No space left" in body["fault_message"], (code, body)
        assert digest(state, mem) == good
        assert sorted(p.name for p in small_fs.path.iterdir()) == ["vm.mem", "vm.state"]  # no temp left
        # the VM that failed to snapshot runs on
        assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
        wait_count(h, 3)
        c = counts(h.serial)
        assert c == list(range(c[0], c[0] + len(c))), c
    finally:
        h.stop()
    goes_on_from(husk_bin, tmp_path / "b.sock", state, mem, before)


def test_diff_that_runs_out_of_space_keeps_the_previous_diff_and_gives_its_pages_to_the_next(
        husk_bin, guest, tmp_path, small_fs):
    base_s, base_m = tmp_path / "base.state", tmp_path / "base.mem"
    d1_s, d1_m = small_fs / "d.state", small_fs / "d.mem"
    h = boot(husk_bin, guest, tmp_path / "a.sock", dirty=True)
    try:
        pause(h)
        assert create(h, "Full", base_s, base_m) == (204, None)
        assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
        wait_count(h, 5)
        at_d1 = pause(h)
        assert create(h, "Diff", d1_s, d1_m) == (204, None)
        good = digest(d1_s, d1_m)
        assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
        wait_count(h, 5)
        at_d3 = pause(h)
        small_fs.shrink()
        code, body = create(h, "Diff", d1_s, d1_m)
        assert code == 400 and "No space left" in body["fault_message"], (code, body)
        assert digest(d1_s, d1_m) == good
        # still paused: the next Diff must hold what the failed one took
        d3_s, d3_m = tmp_path / "d3.state", tmp_path / "d3.mem"
        f3_s, f3_m = tmp_path / "f3.state", tmp_path / "f3.mem"
        assert create(h, "Diff", d3_s, d3_m) == (204, None)
        assert create(h, "Full", f3_s, f3_m) == (204, None)
    finally:
        h.stop()
    goes_on_from(husk_bin, tmp_path / "b.sock", d1_s, merge(base_m, d1_m, out=tmp_path / "m1.mem"),
                 at_d1)
    merged = merge(base_m, d1_m, d3_m, out=tmp_path / "m3.mem")
    guest_bytes = MEM_MIB << 20
    with open(merged, "rb") as a, open(f3_m, "rb") as b:
        assert hashlib.sha256(a.read(guest_bytes)).digest() == hashlib.sha256(b.read(guest_bytes)).digest()
    goes_on_from(husk_bin, tmp_path / "c.sock", d3_s, merged, at_d3)


def test_kill_during_create_keeps_the_previous_snapshot(husk_bin, guest, tmp_path):
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    h = boot(husk_bin, guest, tmp_path / "a.sock")
    try:
        before = pause(h)
        assert create(h, "Full", state, mem) == (204, None)
        good = digest(state, mem)
        assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
        wait_count(h, 5)
        pause(h)
        h.conn.send_raw(h.conn.encode("PUT", "/snapshot/create", {
            "snapshot_type": "Full", "snapshot_path": str(state), "mem_file_path": str(mem)}))
        tmp = tmp_path / "vm.mem.tmp"
        deadline = time.monotonic() + 30
        while not tmp.exists() and time.monotonic() < deadline:
            pass  # spin: the kill must land while the memory is being written
        h.proc.send_signal(signal.SIGKILL)
        assert tmp.exists(), "the kill did not land while the memory was being written"
    finally:
        h.stop()
    assert digest(state, mem) == good
    goes_on_from(husk_bin, tmp_path / "b.sock", state, mem, before)


def test_diff_right_after_restore_holds_the_vsock_transport_reset(husk_bin, guest, tmp_path):
    """A restore writes guest memory itself: the vsock device puts a
    TRANSPORT_RESET event into a buffer of the guest's event queue (and
    its used ring). A Diff taken right after the restore, before the guest
    ran a single instruction, must hold those pages, or its merge onto the
    snapshot it came from differs from a Full taken at the same point."""
    s1, m1 = tmp_path / "s1.state", tmp_path / "s1.mem"
    h = Husk(husk_bin, tmp_path / "a.sock")
    try:
        assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}) == (204, None)
        assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("virtio_net/net_guest64"),
                                                 "boot_args": "console=ttyS0"}) == (204, None)
        assert h.request("PUT", "/vsock", {"guest_cid": 3, "uds_path": str(tmp_path / "v.sock")}) == (204, None)
        assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
        h.read_serial(until="net-guest: ready")
        assert "net-guest: vsock up" in h.serial
        pause(h)
        assert create(h, "Full", s1, m1) == (204, None)
    finally:
        h.stop()
    h = Husk(husk_bin, tmp_path / "b.sock")
    try:
        assert h.request("PUT", "/snapshot/load", {
            "snapshot_path": str(s1), "mem_backend": {"backend_type": "File", "backend_path": str(m1)},
            "enable_diff_snapshots": True, "resume_vm": False}) == (204, None)
        d, dm, f, fm = (tmp_path / n for n in ("d.state", "d.mem", "f.state", "f.mem"))
        assert create(h, "Diff", d, dm) == (204, None)
        assert create(h, "Full", f, fm) == (204, None)
    finally:
        h.stop()
    merged = merge(m1, dm, out=tmp_path / "merged.mem")
    with open(merged, "rb") as a, open(fm, "rb") as b, open(m1, "rb") as c:
        size = 64 << 20
        want, got, old = b.read(size), a.read(size), c.read(size)
    assert want != old, "the restore wrote nothing into guest memory: nothing to track"
    assert got == want
