"""virtio-balloon through Firecracker's API, with the freestanding driver
in tests/guests/balloon.c: the guest touches 32 MiB, the host asks for
24 MiB back (PATCH /balloon), the guest inflates it and then lies once
(a page past RAM, the largest page number, a page already inflated).
husk's resident memory must drop by what was inflated, the inflated pages
read back as zero in the guest, the page it kept still holds its data, the
three lies are refused and counted, and GET /balloon/statistics reports
the target and the driver's actual size. The guest then sends its
statistics (the host's 1 s poll gives the first buffer back, the second
carries free_memory 4242, which GET /balloon/statistics must show) and
reports the 8 MiB it kept as free pages: RSS drops by those too.
Then a free page hinting run over 8 MiB the guest touched at the start
(its count of touched pages is the 32 MiB only): the host starts a run
(PATCH /balloon/hinting/start), the guest hints those pages and lies
once (two pages of the balloon), says STOP and waits for the host's DONE
(acknowledge_on_stop): RSS drops by the 8 MiB, the two lies are refused
and counted, GET /balloon/hinting/status shows both sides. A run still
open when the snapshot is taken ends (DONE) when it is restored.

After a restore through the Uffd backend the balloon goes on working,
and a page it dropped is not served again from the memory file: husk
announces it (UFFD_EVENT_REMOVE) and tools/uffd-handler fills its next
fault with zeros (a handler that served the file would hand the guest
its old 0xa5 back). After a File restore, too, the guest reads zeros in
a page the balloon dropped, not the snapshot's page."""
import json
import time

import pytest

from api_client import Husk, metrics_totals
from test_snapshot_failures import create, pause

MEM_MIB = 128
TARGET_MIB = 24
PAGES = TARGET_MIB * 256
HINT_MIB = 8


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def balloon_vm(husk_bin, guest, tmp_path):
    h = Husk(husk_bin, tmp_path / "api.sock")
    yield h, tmp_path / "metrics"
    if h.proc.poll() is None:
        h.stop()


def serial_line(h, prefix, timeout=120):
    """The guest's serial line holding prefix, from all it printed so far:
    read_serial hands over whole chunks, so a fast guest's next line may
    already have come with the previous read."""
    deadline = time.monotonic() + timeout
    while True:
        s = getattr(h, "serial", "")
        i = s.find(prefix)
        if i >= 0 and "\n" in s[i:]:
            return s[s.rfind("\n", 0, i) + 1:s.index("\n", i)]
        assert time.monotonic() < deadline, f"no {prefix!r} in {s[-500:]!r}"
        h.read_serial(until="\n", timeout=deadline - time.monotonic())


def boot(h, kernel, metrics):
    assert h.request("PUT", "/metrics", {"metrics_path": str(metrics)}) == (204, None)
    assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": MEM_MIB}) == (204, None)
    assert h.request("PUT", "/boot-source", {"kernel_image_path": kernel,
                                             "boot_args": "console=ttyS0 hold"}) == (204, None)
    assert h.request("PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": False,
                                         "stats_polling_interval_s": 1,
                                         "free_page_hinting": True,
                                         "free_page_reporting": True}) == (204, None)
    assert h.request("GET", "/balloon") == (200, {"amount_mib": 0, "deflate_on_oom": False,
                                                  "stats_polling_interval_s": 1,
                                                  "free_page_hinting": True,
                                                  "free_page_reporting": True})
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)


def hint_round(h):
    """One free page hinting run, the guest's 8 MiB given back."""
    assert h.request("GET", "/balloon/hinting/status") == (200, {"host_cmd": 0, "guest_cmd": None})
    touched = rss_kib(h.proc.pid)
    assert h.request("PATCH", "/balloon/hinting/start", {}) == (204, None)
    out = serial_line(h, "balloon hinted")
    assert f"balloon hinted {HINT_MIB * 256} pages cmd=2 first=0" in out, out
    hinted = rss_kib(h.proc.pid)
    print(f"balloon: RSS {touched} KiB -> {hinted} KiB after hinting {HINT_MIB} MiB")
    assert touched - hinted >= (HINT_MIB - 2) * 1024, (touched, hinted)
    # the guest's STOP, the host's DONE
    assert h.request("GET", "/balloon/hinting/status") == (200, {"host_cmd": 1, "guest_cmd": 0})
    code, body = h.request("PATCH", "/balloon/hinting/start", {"acknowledge_on_stop": "yes"})
    assert code == 400 and "acknowledge_on_stop" in body["fault_message"], body
    assert h.request("PATCH", "/balloon/hinting/stop") == (204, None)


def test_inflate_returns_memory(balloon_vm, husk_bin, guest, tmp_path):
    h, metrics = balloon_vm
    boot(h, guest("balloon"), metrics)
    assert "balloon touched 8192 pages" in h.read_serial(until="pages\n", timeout=120)
    before = rss_kib(h.proc.pid)
    t0 = time.monotonic()
    assert h.request("PATCH", "/balloon", {"amount_mib": TARGET_MIB}) == (204, None)
    out = serial_line(h, "kept=")
    secs = time.monotonic() - t0
    after = rss_kib(h.proc.pid)
    print(f"balloon: RSS {before} KiB -> {after} KiB after inflating {TARGET_MIB} MiB in {secs:.2f} s")
    assert f"balloon inflated {PAGES} pages first=0 kept=165" in out, out
    assert " BAD " not in out, out
    # the whole target left the process (a little slack for husk's own pages)
    assert before - after >= (TARGET_MIB - 2) * 1024, (before, after)

    out = serial_line(h, "balloon reported")
    assert f"balloon reported {8192 - PAGES} pages" in out, out
    reported = rss_kib(h.proc.pid)
    print(f"balloon: RSS {after} KiB -> {reported} KiB after reporting {32 - TARGET_MIB} MiB free")
    assert after - reported >= (32 - TARGET_MIB - 2) * 1024, (after, reported)

    hint_round(h)

    # the second stats buffer may still be on its way to the device
    deadline = time.monotonic() + 30
    while True:
        code, st = h.request("GET", "/balloon/statistics")
        assert code == 200, st
        if st.get("free_memory") == 4242 or time.monotonic() > deadline:
            break
        h.read_serial(timeout=0.2)
    assert st["free_memory"] == 4242 and st["total_memory"] == 128 << 20, st
    assert st["target_pages"] == PAGES and st["target_mib"] == TARGET_MIB
    assert st["actual_pages"] == PAGES and st["actual_mib"] == TARGET_MIB
    assert h.request("GET", "/balloon")[1]["amount_mib"] == TARGET_MIB
    # statistics were on at boot: they cannot be turned off now
    code, body = h.request("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 0})
    assert code == 400 and "stats_polling_interval_s" in body["fault_message"]
    assert h.request("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 2}) == (204, None)
    code, body = h.request("PATCH", "/balloon", {"amount_mib": MEM_MIB + 1})
    assert code == 400 and "amount_mib" in body["fault_message"]

    assert h.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
    b = metrics_totals(metrics)["balloon"]
    assert b["inflate_count"] == PAGES // 256 + 1, b
    assert b["event_fails"] == 3 + 2, b  # the three inflate lies and two hinted pages, each refused
    assert b["stats_updates_count"] >= 2, b
    assert b["free_page_report_count"] == 1, b
    assert b["free_page_report_freed"] == (32 - TARGET_MIB) << 20, b
    assert b["free_page_hint_count"] == 2 and b["free_page_hint_fails"] == 0, b
    assert b["free_page_hint_freed"] == HINT_MIB << 20, b
    # the VM still answers after the lies
    assert h.request("GET", "/")[1]["state"] == "Running"

    # a hinting run the snapshot catches (the guest, done, never answers it)
    assert h.request("PATCH", "/balloon/hinting/start", {"acknowledge_on_stop": False}) == (204, None)
    assert h.request("GET", "/balloon/hinting/status") == (200, {"host_cmd": 3, "guest_cmd": 0})

    # a snapshot keeps the balloon: the restored device has the same
    # target and actual, and knows which pages are in it
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    pause(h)
    assert create(h, "Full", state, mem) == (204, None)
    h.stop()
    r = Husk(husk_bin, tmp_path / "b.sock")
    try:
        assert r.request("PUT", "/snapshot/load", {
            "snapshot_path": str(state), "resume_vm": True,
            "mem_backend": {"backend_type": "File", "backend_path": str(mem)}}) == (204, None)
        code, st = r.request("GET", "/balloon/statistics")
        assert code == 200, st
        assert st["target_pages"] == PAGES and st["actual_pages"] == PAGES, st
        # the caught run ended with the restore (DONE); the next one goes on
        # from the snapshot's last id
        assert r.request("GET", "/balloon/hinting/status") == (200, {"host_cmd": 1, "guest_cmd": 0})
        assert r.request("PATCH", "/balloon/hinting/start") == (204, None)
        assert r.request("GET", "/balloon/hinting/status") == (200, {"host_cmd": 4, "guest_cmd": 0})
    finally:
        r.stop()


def snapshot_of_touched_guest(balloon_vm, guest, tmp_path):
    """A Full snapshot of the balloon guest once it touched its pages;
    (state, mem). The VM is stopped."""
    h, metrics = balloon_vm
    boot(h, guest("balloon"), metrics)
    assert "balloon touched 8192 pages" in h.read_serial(until="pages\n", timeout=120)
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    pause(h)
    assert create(h, "Full", state, mem) == (204, None)
    h.stop()
    return state, mem


def test_uffd_restore_does_not_serve_ballooned_pages(balloon_vm, husk_bin, guest, tmp_path,
                                                     uffd_handler):
    state, mem = snapshot_of_touched_guest(balloon_vm, guest, tmp_path)
    handler = uffd_handler(mem)
    r = Husk(husk_bin, tmp_path / "b.sock")
    try:
        assert r.request("PUT", "/snapshot/load", {
            "snapshot_path": str(state), "resume_vm": True,
            "mem_backend": {"backend_type": "Uffd", "backend_path": str(handler.sock)}}) == (204, None)
        assert r.request("GET", "/balloon")[1]["stats_polling_interval_s"] == 1
        assert r.request("PATCH", "/balloon", {"amount_mib": TARGET_MIB}) == (204, None)
        out = serial_line(r, "kept=")
        assert f"balloon inflated {PAGES} pages first=0 kept=165" in out, out
    finally:
        r.stop()
    served, zeroed, out = handler.counts()
    print(f"uffd handler: served {served}, zeroed {zeroed}")
    assert zeroed >= 1, out  # the guest's read of a ballooned page


def test_file_restore_gives_zeros_not_the_snapshot(balloon_vm, husk_bin, guest, tmp_path):
    """After a File restore guest RAM is a private mapping of the memory
    file, where MADV_DONTNEED would only drop husk's copy: the guest's
    next touch would read the snapshot's page again (its 0xa5, 165, or
    0x5c, 92). Inflated and hinted pages must read zero instead."""
    state, mem = snapshot_of_touched_guest(balloon_vm, guest, tmp_path)
    r = Husk(husk_bin, tmp_path / "b.sock")
    try:
        assert r.request("PUT", "/snapshot/load", {
            "snapshot_path": str(state), "resume_vm": True,
            "mem_backend": {"backend_type": "File", "backend_path": str(mem)}}) == (204, None)
        assert r.request("PATCH", "/balloon", {"amount_mib": TARGET_MIB}) == (204, None)
        out = serial_line(r, "kept=")
        assert f"balloon inflated {PAGES} pages first=0 kept=165" in out, out
        assert f"balloon reported {8192 - PAGES} pages" in serial_line(r, "balloon reported")
        assert r.request("PATCH", "/balloon/hinting/start", {}) == (204, None)
        out = serial_line(r, "balloon hinted")
        assert f"balloon hinted {HINT_MIB * 256} pages cmd=2 first=0" in out, out
        assert " BAD " not in r.serial, r.serial[-500:]
    finally:
        r.stop()


def test_hinting_waits_for_the_driver(husk_bin, guest, tmp_path):
    """free_page_hinting from a config file, with a guest that has no
    balloon driver: the status answers (no run, no word from the guest),
    a run cannot start or stop before the driver is up, and the VM goes
    on."""
    cfg = tmp_path / "vm.json"
    cfg.write_text(json.dumps({
        "boot-source": {"kernel_image_path": guest("pvh_hello"), "boot_args": "console=ttyS0 hold"},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
        "balloon": {"amount_mib": 0, "deflate_on_oom": False, "free_page_hinting": True}}))
    h = Husk(husk_bin, tmp_path / "api.sock", ("--config-file", str(cfg)))
    try:
        assert "husk-guest: holding" in h.read_serial(until="husk-guest: holding")
        assert h.request("GET", "/vm/config")[1]["balloon"]["free_page_hinting"] is True
        assert h.request("GET", "/balloon/hinting/status") == (200, {"host_cmd": 0, "guest_cmd": None})
        for path in ("/balloon/hinting/start", "/balloon/hinting/stop"):
            code, body = h.request("PATCH", path, {})
            assert code == 400 and "not active" in body["fault_message"], (path, body)
        assert h.request("GET", "/")[1]["state"] == "Running"
    finally:
        h.stop()


def test_statistics_cannot_be_turned_on_after_boot(husk_bin, guest, tmp_path):
    """Statistics off at boot (stats_polling_interval_s 0: no stats queue
    offered) cannot be turned on after it, as in Firecracker: PATCH
    /balloon/statistics gets 400, the interval stays 0 and GET
    /balloon/statistics still answers that statistics are off."""
    h = Husk(husk_bin, tmp_path / "api.sock")
    try:
        assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}) == (204, None)
        assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("pvh_hello"),
                                                 "boot_args": "console=ttyS0 hold"}) == (204, None)
        assert h.request("PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": False,
                                             "stats_polling_interval_s": 0}) == (204, None)
        assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
        assert "husk-guest: holding" in h.read_serial(until="husk-guest: holding")
        code, body = h.request("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 5})
        assert code == 400, (code, body)
        assert "Statistics cannot be enabled/disabled after activation" in body["fault_message"], body
        assert "cannot be turned on" in body["fault_message"], body
        assert h.request("GET", "/balloon")[1]["stats_polling_interval_s"] == 0
        code, body = h.request("GET", "/balloon/statistics")
        assert code == 400 and "stats are disabled" in body["fault_message"], body
        assert h.request("GET", "/")[1]["state"] == "Running"
    finally:
        h.stop()
