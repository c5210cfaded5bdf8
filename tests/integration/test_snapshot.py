"""Snapshot and restore of a counting guest: Full and Diff snapshots,
File and Uffd memory backends, and every kind of bad snapshot refused
before anything is applied.

The guest (tests/guests/snapshot_counter) keeps its count only in guest
RAM and prints each value, so a restored VM that prints last+1 first has
its memory and registers back. The host side is snapshot_counter_host,
which calls the same snapshot_save/snapshot_restore as the API."""
import os
import re
import struct
import subprocess

import pytest

from conftest import BUILD

HOST = BUILD / "tests" / "guests" / "snapshot_counter" / "snapshot_counter_host"
GUEST = BUILD / "tests" / "guests" / "snapshot_counter" / "snapshot_counter.bin"
MERGE = BUILD / "tools" / "snapshot-merge" / "snapshot-merge"
UFFD_HANDLER = BUILD / "tools" / "uffd-handler" / "uffd-handler"
MIB = 128
TRAILER = 4096  # mem_file.h: the page after the guest's, holding the id the state file records
DIFF_BITMAP = (MIB << 20) // 4096 // 8  # mem_file.h: a Diff's page bitmap follows its trailer

# format.h
HEADER_LEN = 48
SEC_MACHINE = 1
SEC_VCPU_MSRS = 0x205
SEC_VCPU_LAPIC = 0x206
SEC_DEVICE = 0x300
NAME_LEN = 80  # SNAP_DEVICE_NAME_LEN: a device section starts with its name


@pytest.fixture(scope="module", autouse=True)
def need_kvm_and_build():
    for p in (HOST, GUEST, MERGE, UFFD_HANDLER):
        assert p.exists(), f"{p} is not built"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm")


def host(*args, timeout=60):
    r = subprocess.run([str(HOST), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()


def counts(lines):
    return [int(m.group(1), 16) for m in (re.fullmatch(r"c=([0-9A-F]{8})", l) for l in lines) if m]


def consecutive(values):
    return all(b == a + 1 for a, b in zip(values, values[1:]))


def full_snapshot(tmp_path, lines=5, name="s", extra=()):
    state, mem = tmp_path / f"{name}.state", tmp_path / f"{name}.mem"
    out = host(*extra, "--boot", GUEST, MIB, "--lines", lines, "--full", state, mem)
    assert out[-1] == "snapshot ok", out
    before = counts(out)
    assert len(before) == lines and consecutive(before)
    return state, mem, before[-1]


# ---- CRC-64/XZ, as vmm/snapshot/crc64.c, to forge files with a valid CRC

def _crc64_table():
    poly = 0xC96C5795D7870F42
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc64_table()


def crc64(data):
    crc = 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def test_crc_helper_matches_check_value():
    assert crc64(b"123456789") == 0x995DC9BBDF1939FA


def sections(data):
    """[(offset of the section header, type, id, len)]"""
    out, off = [], HEADER_LEN
    (count,) = struct.unpack_from("<I", data, 40)
    for _ in range(count):
        typ, sid, length = struct.unpack_from("<IIQ", data, off)
        out.append((off, typ, sid, length))
        off += 16 + length
    assert off == len(data) - 8
    return out


def recrc(body):
    return body + struct.pack("<Q", crc64(body))


# ---- good paths

def test_file_restore_continues_counting(tmp_path):
    state, mem, last = full_snapshot(tmp_path)
    out = host("--restore-file", state, mem, "--lines", 4)
    assert out[0] == "restored"
    after = counts(out)
    assert after[0] == last + 1 and consecutive(after) and len(after) == 4


def test_memory_file_is_sparse_and_state_is_small(tmp_path):
    state, mem, _ = full_snapshot(tmp_path)
    st = os.stat(mem)
    assert st.st_size == (MIB << 20) + TRAILER
    # the guest touched two pages (code, counter): the rest are holes
    assert st.st_blocks * 512 < 1 << 20
    assert os.stat(state).st_size < 1 << 20


def test_uffd_restore_continues_and_loads_lazily(tmp_path):
    state, mem, last = full_snapshot(tmp_path)
    sock = tmp_path / "uffd.sock"
    handler = subprocess.Popen([str(UFFD_HANDLER), str(sock), str(mem)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert handler.stdout.readline().strip() == "listening"
        out = host("--restore-uffd", state, sock, "--lines", 4)
        assert out[0] == "restored"
        after = counts(out)
        assert after[0] == last + 1 and consecutive(after)
        rest, err = handler.communicate(timeout=30)
    finally:
        handler.kill()
    assert handler.returncode == 0, err
    served = int(re.search(r"served (\d+) pages", rest).group(1))
    # only what the guest touched was loaded, not the 32768 pages of RAM
    assert 1 <= served < 64


def test_uffd_without_handler_refused(tmp_path):
    state, mem, last = full_snapshot(tmp_path)
    out = host("--restore-uffd", state, tmp_path / "nobody.sock",
               "--restore-file", state, mem, "--lines", 1)
    assert out[0].startswith("refused:") and "uffd handler" in out[0]
    assert out[1] == "restored" and counts(out) == [last + 1]


def test_restore_twice_from_one_snapshot(tmp_path):
    """Clones in miniature: the memory file is shared read-only (MAP_PRIVATE),
    so two restores from it both start at the same count."""
    state, mem, last = full_snapshot(tmp_path)
    out = host("--restore-file", state, mem, "--lines", 3, "--restore-file", state, mem, "--lines", 3)
    c = counts(out)
    assert c[:3] == [last + 1, last + 2, last + 3] and c[3:] == c[:3]
    # and nothing was written back to the snapshot's memory file
    out = host("--restore-file", state, mem, "--lines", 1)
    assert counts(out) == [last + 1]


def test_device_state_round_trips(tmp_path):
    state, mem, _ = full_snapshot(tmp_path, extra=("--device",))
    out = host("--device", "--restore-file", state, mem, "--lines", 1,
               "--full", tmp_path / "s2", tmp_path / "m2",
               "--restore-file", tmp_path / "s2", tmp_path / "m2")
    assert out[0] == "restored testdev generation 1"
    assert out[-1] == "restored testdev generation 2"


def diff_after_base(tmp_path):
    base_s, base_m = tmp_path / "base.state", tmp_path / "base.mem"
    diff_s, diff_m = tmp_path / "diff.state", tmp_path / "diff.mem"
    out = host("--boot", GUEST, MIB, "--track-dirty", "--lines", 3, "--full", base_s, base_m,
               "--lines", 4, "--diff", diff_s, diff_m)
    assert out.count("snapshot ok") == 2
    c = counts(out)
    return base_s, base_m, diff_s, diff_m, c[2], c[6]


def merge(base_m, diff_m, tmp_path):
    merged = tmp_path / "merged.mem"
    merged.write_bytes(base_m.read_bytes())
    r = subprocess.run([str(MERGE), str(merged), str(diff_m)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return merged


def test_diff_layered_on_base(tmp_path):
    base_s, base_m, diff_s, diff_m, base_last, diff_last = diff_after_base(tmp_path)
    # the diff holds only what changed after the base: the counter page
    assert os.stat(diff_m).st_size == (MIB << 20) + TRAILER + DIFF_BITMAP
    assert os.stat(diff_m).st_blocks * 512 <= 128 << 10
    merged = merge(base_m, diff_m, tmp_path)
    out = host("--restore-file", diff_s, merged, "--lines", 2,
               "--restore-file", base_s, base_m, "--lines", 2)
    c = counts(out)
    assert c[:2] == [diff_last + 1, diff_last + 2]
    assert c[2:] == [base_last + 1, base_last + 2]
    # the merged file now belongs to the Diff's state file, not the base's
    out = host("--restore-file", base_s, merged, "--restore-file", base_s, base_m, "--lines", 1)
    assert out[0].startswith("refused:"), out


def test_merge_of_a_non_sparse_diff_copy(tmp_path):
    """A Diff copied without its holes (cp --sparse=never, a download, a
    filesystem with large blocks) has zeros where it had holes: the merge
    copies the pages the Diff recorded, not whatever is not a hole, so the
    base's other pages survive."""
    base_s, base_m, diff_s, diff_m, _, diff_last = diff_after_base(tmp_path)
    dense = tmp_path / "dense.mem"
    subprocess.run(["cp", "--sparse=never", str(diff_m), str(dense)], check=True)
    assert os.stat(dense).st_blocks * 512 >= MIB << 20  # no holes left
    merged = merge(base_m, dense, tmp_path)
    out = host("--restore-file", diff_s, merged, "--lines", 2)
    assert counts(out) == [diff_last + 1, diff_last + 2]
    # only the recorded pages changed: the guest's code page is the base's
    base, got = base_m.read_bytes(), merged.read_bytes()
    changed = sum(base[i:i + 4096] != got[i:i + 4096] for i in range(0, MIB << 20, 4096))
    assert 0 < changed <= 32, changed


def restore_merged(tmp_path, base_mem, diff_state, diff_mem, name):
    """The count the Diff merged onto its base resumes at. The copy stays
    sparse and the files go when read: the level-1 machine's /tmp is
    small (RAM), and a Diff of resident pages is most of the guest."""
    merged = tmp_path / f"{name}.mem"
    subprocess.run(["cp", "--sparse=always", str(base_mem), str(merged)], check=True)
    subprocess.run([str(MERGE), str(merged), str(diff_mem)], check=True, capture_output=True)
    try:
        return counts(host("--restore-file", diff_state, merged, "--lines", 1))
    finally:
        merged.unlink()
        diff_mem.unlink()


def test_diff_without_dirty_tracking_takes_resident_pages_then_enable_diff_on_load(tmp_path):
    """A Diff without track_dirty_pages takes every resident page
    (mincore), as newer Firecracker does: after a restore from the file
    (a private mapping of it) and two more counts, the Diff merged onto
    the base resumes at the next count, not the base's. With
    enable_diff_snapshots on load, the dirty log's Diff does the same."""
    state, mem, last = full_snapshot(tmp_path)
    out = host("--restore-file", state, mem, "--lines", 2, "--diff", tmp_path / "d1", tmp_path / "dm1",
               "--enable-diff", "--restore-file", state, mem, "--lines", 2,
               "--diff", tmp_path / "d2", tmp_path / "dm2")
    assert out.count("snapshot ok") == 2, out
    assert restore_merged(tmp_path, mem, tmp_path / "d1", tmp_path / "dm1", "m1") == [last + 3]
    assert restore_merged(tmp_path, mem, tmp_path / "d2", tmp_path / "dm2", "m2") == [last + 3]


def test_diff_without_dirty_tracking_after_boot(tmp_path):
    """The same from a booted VM (anonymous RAM: a page never touched is
    zero, and not resident)."""
    base_s, base_m = tmp_path / "base.state", tmp_path / "base.mem"
    diff_s, diff_m = tmp_path / "diff.state", tmp_path / "diff.mem"
    out = host("--boot", GUEST, MIB, "--lines", 3, "--full", base_s, base_m,
               "--lines", 4, "--diff", diff_s, diff_m)
    assert out.count("snapshot ok") == 2, out
    c = counts(out)
    assert restore_merged(tmp_path, base_m, diff_s, diff_m, "m") == [c[6] + 1]


def test_snapshot_refuses_to_overwrite_its_own_backing_file(tmp_path):
    state, mem, _ = full_snapshot(tmp_path)
    out = host("--restore-file", state, mem, "--full", tmp_path / "s2", mem)
    assert out[1].startswith("snapshot failed:") and "restored from" in out[1]


def test_merge_refuses_files_of_different_vms(tmp_path):
    base_s, base_m, diff_s, diff_m, _, _ = diff_after_base(tmp_path)
    other = tmp_path / "other.mem"
    other.write_bytes(b"\0" * 4096)
    before = base_m.read_bytes()
    for b, d, why in ((base_m, other, "not the same VM"), (base_m, base_m, "not a Diff memory file"),
                      (diff_m, diff_m, "not a Full memory file")):
        r = subprocess.run([str(MERGE), str(b), str(d)], capture_output=True, text=True)
        assert r.returncode != 0 and why in r.stderr, (b, d, r.stderr)
    assert base_m.read_bytes() == before  # a refused merge writes nothing


# ---- bad files: refused before anything is applied; the same process
# then restores a good snapshot and goes on counting

def refused_then_good(tmp_path, bad_state, mem, good_state, last, extra=()):
    out = host(*extra, "--restore-file", bad_state, mem, "--restore-file", good_state, mem,
               "--lines", 1)
    assert out[0].startswith("refused:"), out
    assert out[1].startswith("restored") and counts(out) == [last + 1], out
    return out[0]


@pytest.fixture
def snap(tmp_path):
    state, mem, last = full_snapshot(tmp_path)
    return state, mem, last, state.read_bytes()


def test_truncated_state_refused(tmp_path, snap):
    state, mem, last, data = snap
    bad = tmp_path / "bad.state"
    for cut in (0, 7, HEADER_LEN, HEADER_LEN + 9, len(data) // 2, len(data) - 1):
        bad.write_bytes(data[:cut])
        why = refused_then_good(tmp_path, bad, mem, state, last)
        assert "truncated" in why or "CRC64" in why, why


def test_flipped_bit_refused(tmp_path, snap):
    state, mem, last, data = snap
    bad = tmp_path / "bad.state"
    for pos in (HEADER_LEN + 20, len(data) // 2, len(data) - 9):
        b = bytearray(data)
        b[pos] ^= 0x10
        bad.write_bytes(bytes(b))
        assert "CRC64" in refused_then_good(tmp_path, bad, mem, state, last)


def test_wrong_version_and_arch_refused(tmp_path, snap):
    state, mem, last, data = snap
    bad = tmp_path / "bad.state"
    body = bytearray(data[:-8])
    struct.pack_into("<I", body, 8, 99)
    bad.write_bytes(recrc(bytes(body)))
    assert "format version 99" in refused_then_good(tmp_path, bad, mem, state, last)
    body = bytearray(data[:-8])
    struct.pack_into("<I", body, 12, 2)
    bad.write_bytes(recrc(bytes(body)))
    assert "arch" in refused_then_good(tmp_path, bad, mem, state, last)
    bad.write_bytes(b"NOTASNAP" + data[8:])
    assert "magic" in refused_then_good(tmp_path, bad, mem, state, last)


def test_memory_file_size_mismatch_refused(tmp_path, snap):
    state, mem, last, _ = snap
    short = tmp_path / "short.mem"
    with open(short, "wb") as f:
        f.truncate((MIB << 20) - 4096)
    out = host("--restore-file", state, short, "--restore-file", state, mem, "--lines", 1)
    assert out[0].startswith("refused:") and "exactly" in out[0]
    assert counts(out) == [last + 1]
    out = host("--restore-file", state, tmp_path / "missing.mem")
    assert out[0].startswith("refused:") and "No such file" in out[0]


def test_state_refuses_the_memory_of_another_snapshot(tmp_path, snap):
    """Each create ties its two files by a random id (the memory file's
    trailer, a section of the state): a state file with another snapshot's
    memory, e.g. after a crash between a create's two renames, is refused,
    never restored into a corrupted guest."""
    state, mem, last, _ = snap
    other_state, other_mem, _ = full_snapshot(tmp_path, name="other")
    out = host("--restore-file", state, other_mem, "--restore-file", state, mem, "--lines", 1)
    assert out[0].startswith("refused:") and "belongs to another snapshot" in out[0], out
    assert counts(out) == [last + 1]
    # a trailer with a flipped byte is another snapshot's too
    forged = tmp_path / "forged.mem"
    data = bytearray(mem.read_bytes())
    data[(MIB << 20) + 8] ^= 1
    forged.write_bytes(data)
    out = host("--restore-file", state, forged)
    assert out[0].startswith("refused:") and "belongs to another snapshot" in out[0], out


def rewrite_section(data, typ, fn):
    """Rebuild the file with section typ's payload replaced by fn(payload)
    (None drops it), fixing the count and the CRC."""
    body = bytearray(data[:HEADER_LEN])
    kept = 0
    for off, t, sid, length in sections(data):
        payload = data[off + 16: off + 16 + length]
        if t == typ:
            payload = fn(payload)
            if payload is None:
                continue
        body += struct.pack("<IIQ", t, sid, len(payload)) + payload
        kept += 1
    struct.pack_into("<I", body, 40, kept)
    return recrc(bytes(body))


def test_bad_vcpu_sections_refused(tmp_path, snap):
    state, mem, last, data = snap
    bad = tmp_path / "bad.state"
    bad.write_bytes(rewrite_section(data, SEC_VCPU_LAPIC, lambda p: None))
    assert "LAPIC missing" in refused_then_good(tmp_path, bad, mem, state, last)
    bad.write_bytes(rewrite_section(data, SEC_VCPU_LAPIC, lambda p: p[:-4]))
    assert "LAPIC is" in refused_then_good(tmp_path, bad, mem, state, last)
    # MSR count says more entries than the payload holds
    bad.write_bytes(rewrite_section(data, SEC_VCPU_MSRS, lambda p: p[:-16]))
    assert "MSRs has" in refused_then_good(tmp_path, bad, mem, state, last)


def test_machine_mismatch_refused(tmp_path, snap):
    state, mem, last, data = snap
    bad = tmp_path / "bad.state"

    def vcpus(n):
        return lambda p: struct.pack("<I", n) + p[4:]
    bad.write_bytes(rewrite_section(data, SEC_MACHINE, vcpus(2)))
    assert "vCPU 1" in refused_then_good(tmp_path, bad, mem, state, last)
    bad.write_bytes(rewrite_section(data, SEC_MACHINE, vcpus(0)))
    assert "0 vCPUs" in refused_then_good(tmp_path, bad, mem, state, last)
    # memory size that does not match the memory layout section
    bad.write_bytes(rewrite_section(data, SEC_MACHINE, lambda p: p[:8] + struct.pack("<Q", 256)))
    assert "layout" in refused_then_good(tmp_path, bad, mem, state, last)


def test_device_state_that_does_not_validate_refused(tmp_path):
    state, mem, last = full_snapshot(tmp_path, extra=("--device",))
    data = state.read_bytes()
    bad = tmp_path / "bad.state"
    # keep the name (format.h SNAP_DEVICE_NAME_LEN), break the device's own magic
    bad.write_bytes(rewrite_section(data, SEC_DEVICE, lambda p: p[:NAME_LEN] + b"XXXX" + p[NAME_LEN + 4:]))
    why = refused_then_good(tmp_path, bad, mem, state, last, extra=("--device",))
    assert "testdev0" in why and "bad magic" in why
    bad.write_bytes(rewrite_section(data, SEC_DEVICE, lambda p: None))
    why = refused_then_good(tmp_path, bad, mem, state, last, extra=("--device",))
    assert "devices" in why


def test_smp_state_round_trips_exactly(tmp_path):
    """Four vCPUs (three APs never started): restore, then snapshot again
    at once. Whatever the guest cannot have changed in between must come
    back bit for bit: registers, segments, LAPIC, mp_state, CPUID, XCRs,
    debug registers, XSAVE."""
    s1, m1 = tmp_path / "s1", tmp_path / "m1"
    s2, m2 = tmp_path / "s2", tmp_path / "m2"
    out = host("--vcpus", 4, "--boot", GUEST, MIB, "--lines", 2, "--full", s1, m1,
               "--restore-file", s1, m1, "--full", s2, m2,
               "--restore-file", s2, m2, "--lines", 1)
    assert out.count("snapshot ok") == 2 and counts(out) == [1, 2, 3]
    a, b = s1.read_bytes(), s2.read_bytes()

    def by_key(data):
        return {(t, i): data[off + 16: off + 16 + n] for off, t, i, n in sections(data)}
    sa, sb = by_key(a), by_key(b)
    assert sa.keys() == sb.keys()
    exact = {0x200: "regs", 0x201: "sregs", 0x202: "xsave", 0x204: "xcrs", 0x206: "lapic",
             0x207: "mp_state", 0x209: "debugregs", 0x20a: "cpuid"}
    checked = 0
    for (t, i), payload in sa.items():
        if t in exact:
            assert sb[(t, i)] == payload, f"vCPU {i} {exact[t]} changed across restore"
            checked += 1
    assert checked >= 4 * 6
    assert sorted({i for (t, i) in sa if t == 0x200}) == [0, 1, 2, 3]


def test_unknown_section_refused(tmp_path, snap):
    state, mem, last, data = snap
    bad = tmp_path / "bad.state"
    body = bytearray(data[:-8]) + struct.pack("<IIQ", 0x7777, 0, 4) + b"abcd"
    (count,) = struct.unpack_from("<I", body, 40)
    struct.pack_into("<I", body, 40, count + 1)
    bad.write_bytes(recrc(bytes(body)))
    assert "unknown section type 0x7777" in refused_then_good(tmp_path, bad, mem, state, last)
