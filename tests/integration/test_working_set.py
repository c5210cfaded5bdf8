"""husk-only working-set prefetch (vmm/snapshot/working_set.h): a restore
with working_set {"file", "record_ms"} learns which pages the guest
touches in its first ms into the file; the next restore from the same
snapshot with {"file"} installs them before the vCPUs run (Uffd:
UFFDIO_COPY, so the handler serves fewer faults; File: populated ranges),
and the guest goes on counting where it stopped. A file that is not a
working set, belongs to another snapshot, is cut short or padded is
refused with a 400 naming it, before anything is applied."""
import os
import time

import pytest

from api_client import Husk, metrics_totals
from test_snapshot_failures import counts, create, pause

MEM_MIB = 64
RECORD_MS = 400


@pytest.fixture(scope="module")
def snapshots(husk_bin, guest, tmp_path_factory):
    """Two snapshots of one snap_guest run: (state, mem, serial before) at
    n=3 and a second one a few steps later (another memory-file id)."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm")
    d = tmp_path_factory.mktemp("ws")
    h = Husk(husk_bin, d / "boot.sock")
    try:
        assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": MEM_MIB}) == (204, None)
        assert h.request("PUT", "/boot-source", {
            "kernel_image_path": guest("snapshot_counter/snap_guest"),
            "boot_args": "console=ttyS0 snap_fill=4"}) == (204, None)
        assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
        h.read_serial(until="n=3\n", timeout=120)
        before = pause(h)
        assert create(h, "Full", d / "a.state", d / "a.mem") == (204, None)
        assert h.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
        h.read_serial(until=f"n={counts(before)[-1] + 2}\n")
        before_b = pause(h)
        assert create(h, "Full", d / "b.state", d / "b.mem") == (204, None)
    finally:
        h.stop()
    return {"a": (d / "a.state", d / "a.mem", before), "b": (d / "b.state", d / "b.mem", before_b)}


def load(husk_bin, sock, state, backend, path, metrics, ws=None):
    h = Husk(husk_bin, sock)
    assert h.request("PUT", "/metrics", {"metrics_path": str(metrics)}) == (204, None)
    h.log = metrics.with_suffix(".log")
    assert h.request("PUT", "/logger", {"log_path": str(h.log), "level": "Debug"}) == (204, None)
    body = {"snapshot_path": str(state), "resume_vm": True,
            "mem_backend": {"backend_type": backend, "backend_path": str(path)}}
    if ws is not None:
        body["working_set"] = ws
    return h, h.request("PUT", "/snapshot/load", body)


def goes_on(h, before, steps=3):
    last = counts(before)[-1]
    if f"n={last + steps}\n" not in getattr(h, "serial", ""):
        h.read_serial(until=f"n={last + steps}\n", timeout=60)
    after = h.serial  # all the restored guest printed (also while waiting for the file)
    c = counts(before + after)
    i = c.index(last)
    assert c[i:i + steps + 1] == list(range(last, last + steps + 1)), (before[-200:], after[:200])


def working_set_metrics(h, metrics):
    assert h.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
    return metrics_totals(metrics)["husk"]["working_set"]


def wait_for_file(path, h, timeout=30):
    """The file appears record_ms after the restore, renamed into place
    whole; the husk must stay up meanwhile."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert h.proc.poll() is None, h.proc.stderr.read()
        assert time.monotonic() < deadline, f"{path} was not written"
        h.read_serial(timeout=0.05)


def learn(husk_bin, tmp_path, snap, backend, mem_path, ws_file, **extra):
    state, mem, before = snap
    h, r = load(husk_bin, tmp_path / "learn.sock", state, backend, mem_path, tmp_path / "learn.metrics",
                {"file": str(ws_file), "record_ms": RECORD_MS, **extra})
    try:
        assert r == (204, None)
        wait_for_file(ws_file, h)
        goes_on(h, before)
        recorded = working_set_metrics(h, tmp_path / "learn.metrics")["recorded_pages"]
    finally:
        h.stop()
    log = h.log.read_text()
    assert f"working set: learned {recorded} pages" in log
    assert "pages at memory-file offset 0x" in log  # which pages, at Debug
    return recorded


def test_learn_then_prefetch_through_uffd(husk_bin, snapshots, tmp_path, uffd_handler):
    state, mem, before = snapshots["a"]
    ws_file = tmp_path / "a.ws"
    handler = uffd_handler(mem, "learn-uffd.sock")
    recorded = learn(husk_bin, tmp_path, snapshots["a"], "Uffd", handler.sock, ws_file,
                     mem_file_path=str(mem))
    lazy, _, _ = handler.counts()
    # what the handler served is what the guest touched: the working set
    # is that (after RECORD_MS), with its 4 KiB pages in the file
    assert 0 < recorded <= lazy, (recorded, lazy)
    assert os.path.getsize(ws_file) >= recorded * 4096

    handler = uffd_handler(mem, "prefetch-uffd.sock")
    h, r = load(husk_bin, tmp_path / "p.sock", state, "Uffd", handler.sock, tmp_path / "p.metrics",
                {"file": str(ws_file)})
    try:
        assert r == (204, None)
        goes_on(h, before)
        m = working_set_metrics(h, tmp_path / "p.metrics")
        assert m["prefetched_pages"] == recorded and m["recorded_pages"] == 0, m
    finally:
        h.stop()
    assert f"working set: prefetched {recorded} pages" in h.log.read_text()
    served, _, out = handler.counts()
    print(f"Uffd: {lazy} pages served lazily; with prefetch {served} (+{recorded} prefetched)")
    # the prefetched pages were there before the guest ran: the handler
    # served only what the guest touched outside them
    assert served < lazy, out


def test_learn_then_prefetch_from_file(husk_bin, snapshots, tmp_path):
    state, mem, before = snapshots["a"]
    ws_file = tmp_path / "file.ws"
    recorded = learn(husk_bin, tmp_path, snapshots["a"], "File", mem, ws_file)
    assert recorded > 0
    h, r = load(husk_bin, tmp_path / "p.sock", state, "File", mem, tmp_path / "p.metrics",
                {"file": str(ws_file)})
    try:
        assert r == (204, None)
        goes_on(h, before)
        m = working_set_metrics(h, tmp_path / "p.metrics")
        assert m["prefetched_pages"] == recorded, m
    finally:
        h.stop()


def refused(husk_bin, tmp_path, snap, ws, name):
    """A load with this working_set answers 400 naming why; the husk stays up."""
    state, mem, _ = snap
    h, (code, body) = load(husk_bin, tmp_path / f"{name}.sock", state, "File", mem,
                           tmp_path / f"{name}.metrics", ws)
    try:
        assert code == 400, body
        assert h.request("GET", "/")[0] == 200
        return body["fault_message"]
    finally:
        h.stop()


def test_hostile_working_set_files_are_refused(husk_bin, snapshots, tmp_path):
    ws_a = tmp_path / "a.ws"
    learn(husk_bin, tmp_path, snapshots["a"], "File", snapshots["a"][1], ws_a)
    good = ws_a.read_bytes()
    a = snapshots["a"]

    def bad(name, data):
        p = tmp_path / name
        p.write_bytes(data)
        return refused(husk_bin, tmp_path, a, {"file": str(p)}, name)

    assert "not a husk working-set file" in bad("garbage", b"\x7fELF" + bytes(200))
    assert "not a husk working-set file" in bad("empty", b"")
    assert "is " in bad("short", good[:-4096]) and "need" in bad("short2", good[:-1])
    assert "need" in bad("padded", good + bytes(4096))
    assert "truncated" in bad("cut", good[:70])
    # a range moved under the header's CRC
    flipped = bytearray(good)
    flipped[64] ^= 0x10
    assert "CRC" in bad("flipped", bytes(flipped))
    # learned from snapshot a, offered to snapshot b
    msg = refused(husk_bin, tmp_path, snapshots["b"], {"file": str(ws_a)}, "foreign")
    assert "working_set.file" in msg and "another snapshot" in msg, msg
    msg = refused(husk_bin, tmp_path, a, {"file": str(tmp_path / "missing.ws")}, "missing")
    assert "working_set.file" in msg and "No such file" in msg, msg


def test_working_set_fields_are_checked(husk_bin, snapshots, tmp_path):
    a = snapshots["a"]
    for ws, field in (({"record_ms": 100}, "file"),
                      ({"file": "x", "record_ms": 0}, "record_ms"),
                      ({"file": "x", "record_ms": 10 ** 9}, "record_ms"),
                      ({"file": "x", "mem_file_path": "m"}, "mem_file_path"),
                      ({"file": "x", "prefetch": True}, "prefetch"),
                      ("x", "object")):
        msg = refused(husk_bin, tmp_path, a, ws, "fields")
        assert msg.startswith("working_set: ") and field in msg, (ws, msg)
    # learning under Uffd needs the memory file the handler serves
    state, mem, _ = a
    h, (code, body) = load(husk_bin, tmp_path / "u.sock", state, "Uffd", tmp_path / "nobody.sock",
                           tmp_path / "u.metrics", {"file": str(tmp_path / "u.ws"), "record_ms": 10})
    try:
        assert code == 400 and "working_set.mem_file_path" in body["fault_message"], body
    finally:
        h.stop()


def test_huge_page_working_set_through_uffd(husk_bin, huge_page_snapshot, tmp_path, uffd_handler):
    """With huge_pages 2M the working set is in 2 MiB pages: learned and
    installed a huge page at a time."""
    state, mem, before = huge_page_snapshot(MEM_MIB)
    ws_file = tmp_path / "h.ws"
    handler = uffd_handler(mem, "uffd-learn.sock")
    recorded = learn(husk_bin, tmp_path, (state, mem, before), "Uffd", handler.sock, ws_file,
                     mem_file_path=str(mem))
    lazy, _, _ = handler.counts()
    assert 0 < recorded <= lazy <= MEM_MIB // 2, (recorded, lazy)
    assert os.path.getsize(ws_file) > recorded << 21  # header, table, then 2 MiB per page

    handler = uffd_handler(mem, "uffd-prefetch.sock")
    h, r = load(husk_bin, tmp_path / "p.sock", state, "Uffd", handler.sock, tmp_path / "p.metrics",
                {"file": str(ws_file)})
    try:
        assert r == (204, None)
        goes_on(h, before)
        assert working_set_metrics(h, tmp_path / "p.metrics")["prefetched_pages"] == recorded
    finally:
        h.stop()
    served, _, out = handler.counts()
    assert served < lazy, out
