"""huge_pages "2M": guest RAM in 2 MiB huge pages from the host's pool
(vm.nr_hugepages), reserved at start. Too few free pages fail the start
with the number needed, never a silent fall-back to small pages; the
memory size must be a multiple of 2 MiB. Their snapshots restore through
the Uffd backend (lazily, a 2 MiB page a fault) and, beyond Firecracker,
the File backend (eagerly: the memory file is read into huge pages at
the load, its holes skipped)."""
import pathlib
import re

import pytest

from api_client import Husk
from test_snapshot_failures import counts

MEM_MIB = 64


def guest_mapping_kib(pid, field):
    """A field of smaps (in kB) for the guest RAM mapping (the one MEM_MIB long)."""
    smaps = pathlib.Path(f"/proc/{pid}/smaps").read_text()
    for block in re.split(r"\n(?=[0-9a-f]+-[0-9a-f]+ )", smaps):
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", block)
        if m and int(m.group(2), 16) - int(m.group(1), 16) == MEM_MIB << 20:
            return int(re.search(rf"{field}:\s+(\d+) kB", block).group(1))
    raise AssertionError("no guest RAM mapping found in smaps")


def guest_mapping_page_kib(pid):
    return guest_mapping_kib(pid, "KernelPageSize")


def counts_on_in_huge_pages(h, before):
    """The restored guest counts on from the last n= the snapshot's
    console showed, three more, with its RAM in 2 MiB pages."""
    last = counts(before)[-1]
    after = h.read_serial(until=f"n={last + 3}\n")
    c = counts(before + after)
    i = c.index(last)
    assert c[i:i + 4] == [last, last + 1, last + 2, last + 3], (before[-200:], after[:200])
    assert guest_mapping_page_kib(h.proc.pid) == 2048


def test_too_few_huge_pages_fail_with_the_number_needed(run_husk, guest, hugepages):
    hugepages(0)
    r = run_husk("--kernel", guest("pvh_hello"), "--mem", str(MEM_MIB), "--huge-pages", "2M")
    assert r.returncode == 1, r.stderr
    assert f"need {MEM_MIB // 2} free 2 MiB huge pages, the host has 0" in r.stderr, r.stderr


def test_guest_ram_is_in_huge_pages(husk_bin, guest, hugepages, tmp_path):
    if hugepages(MEM_MIB // 2 + 4) < MEM_MIB // 2:
        pytest.skip("the host could not make the huge pages")
    h = Husk(husk_bin, tmp_path / "a.sock")
    try:
        assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": MEM_MIB - 1,
                                                    "huge_pages": "2M"})[0] == 400
        assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": MEM_MIB,
                                                    "huge_pages": "2M"}) == (204, None)
        assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("pvh_hello"),
                                                 "boot_args": "console=ttyS0 hold"}) == (204, None)
        assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
        out = h.read_serial(until="husk-guest: holding")
        assert "husk-guest: pvh ok" in out
        assert guest_mapping_page_kib(h.proc.pid) == 2048
    finally:
        h.stop()


def test_huge_page_snapshot_restores_through_file(husk_bin, huge_page_snapshot, hugepages, tmp_path):
    """A huge-pages VM's snapshot restored with the File backend (husk
    only: Firecracker refuses it): without the huge pages the load fails
    with the number needed; with them the guest goes on counting where it
    stopped, its RAM in huge pages again, read from the memory file up
    front (a file mapping cannot give huge pages): the 16 MiB the guest
    filled are in before it runs, the file's holes are not read."""
    state, mem, before = huge_page_snapshot(MEM_MIB, "console=ttyS0 snap_fill=16")
    load = {"snapshot_path": str(state), "resume_vm": True,
            "mem_backend": {"backend_type": "File", "backend_path": str(mem)}}
    hugepages(0)
    h = Husk(husk_bin, tmp_path / "b.sock")
    try:
        code, body = h.request("PUT", "/snapshot/load", load)
        assert code == 400, (code, body)
        assert f"need {MEM_MIB // 2} free 2 MiB huge pages" in body["fault_message"], body
    finally:
        h.stop()
    assert hugepages(MEM_MIB // 2 + 4) >= MEM_MIB // 2
    h = Husk(husk_bin, tmp_path / "c.sock")
    try:
        assert h.request("PUT", "/snapshot/load", load) == (204, None)
        counts_on_in_huge_pages(h, before)
        # the 16 MiB fill (and the guest's own pages) came in eagerly; the
        # zero 2 MiB pages the snapshot left as holes were not touched
        present = guest_mapping_kib(h.proc.pid, "Private_Hugetlb")
        print(f"File restore: {present} kB of the guest's {MEM_MIB} MiB in huge pages")
        assert 16 << 10 <= present < MEM_MIB << 10, present
    finally:
        _, _, log = h.stop()
    assert "read eagerly into 2 MiB huge pages" in log, log[-2000:]


def test_huge_page_snapshot_restores_through_uffd(husk_bin, huge_page_snapshot, tmp_path, uffd_handler):
    """The same snapshot through the Uffd backend goes on counting where
    the guest stopped, its RAM in huge pages again, filled 2 MiB at a time
    by tools/uffd-handler."""
    state, mem, before = huge_page_snapshot(MEM_MIB, "console=ttyS0 snap_fill=16")
    load = {"snapshot_path": str(state), "resume_vm": True}
    handler = uffd_handler(mem)
    h = Husk(husk_bin, tmp_path / "c.sock")
    try:
        assert h.request("PUT", "/snapshot/load", {
            **load, "mem_backend": {"backend_type": "Uffd", "backend_path": str(handler.sock)}}) == (204, None)
        counts_on_in_huge_pages(h, before)
    finally:
        h.stop()
    served, _, out = handler.counts()
    assert 0 < served <= MEM_MIB // 2, out
