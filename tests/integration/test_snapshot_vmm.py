"""Snapshot and restore through real husk processes: a guest with a
virtio-blk disk (tests/guests/snapshot_counter/snap_guest.c) is
snapshotted mid-run on a whole VMM (snapshot_vmm_host, which calls
snapshot_create like the API), then restored with `husk snapshot load`
(File and Uffd), and must go on counting where it was with its disk
writes landing; Diff snapshots must carry the pages the VMM wrote (the
used ring); a bad file or a changed backend is refused with a clear
error."""
import os
import re
import shutil
import struct
import subprocess
import uuid

import pytest

from conftest import BUILD
from net_helpers import Husk
from test_snapshot import HEADER_LEN, recrc, rewrite_section, sections

HERE = BUILD / "tests" / "guests" / "snapshot_counter"
VMM_HOST = HERE / "snapshot_vmm_host"
GUEST = HERE / "snap_guest.elf"
HUSK = BUILD / "husk"
MERGE = BUILD / "tools" / "snapshot-merge" / "snapshot-merge"
SEC_VM_CONFIG = 3
SEC_DEVICE = 0x300
STOP = 20


@pytest.fixture(scope="module", autouse=True)
def need_kvm_and_build():
    for p in (VMM_HOST, GUEST, HUSK, MERGE, BUILD / "tools" / "uffd-handler" / "uffd-handler"):
        assert p.exists(), f"{p} is not built"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm")


def take(tmp_path, at, *extra, stop=STOP, name="s", disk=True):
    """Boot snap_guest, snapshot when it prints `at`, stop the VM.
    Returns (state, mem, serial output so far)."""
    state, mem = tmp_path / f"{name}.state", tmp_path / f"{name}.mem"
    args = [VMM_HOST, "--kernel", GUEST, "--mem", 128,
            "--cmdline", f"console=ttyS0 snap_stop={stop}",
            "--at", at, "--snapshot", state, "--mem-file", mem, *extra]
    if disk:
        args += ["--drive", f"path={tmp_path / 'disk.img'},root"]
        if not (tmp_path / "disk.img").exists():
            with open(tmp_path / "disk.img", "wb") as f:
                f.truncate(1 << 20)
    r = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"snapshot ok: {state}" in r.stderr, r.stderr
    return state, mem, r.stdout


def load(state, *backend, serial, extra=(), timeout=120):
    return subprocess.run([str(HUSK), "snapshot", "load", "--snapshot", str(state), *map(str, backend),
                           "--resume", "--serial-out", str(serial), *extra],
                          capture_output=True, text=True, timeout=timeout)


def steps(text):
    """[(n, blk result)] of the complete lines of a serial log: a line
    still being read ("n=1" of "n=12") ends in no newline and is not one
    ($ would match it at the end of the text)."""
    return [(int(m.group(1)), m.group(2))
            for m in re.finditer(r"^n=(\d+)(?: blk=(\w+))?(?=\r?\n)", text, re.M)]


def check_run(before, after):
    """The run before the snapshot and after the restore together count
    1..STOP with every disk step ok and nothing repeated or skipped."""
    both = steps(before + after)
    assert [n for n, _ in both] == list(range(1, STOP + 1)), both
    assert all(b == "ok" for _, b in both), both
    assert "snap-guest: done" in after


def check_disk(disk):
    """Sector 8 + n % 8 holds step n's pattern for the last 8 steps: the
    writes after the restore reached the file."""
    data = disk.read_bytes()
    for n in range(STOP - 7, STOP + 1):
        sec = data[(8 + n % 8) * 512:(9 + n % 8) * 512]
        assert struct.unpack_from("<Q", sec)[0] == n
        assert sec[8:] == bytes((i + n) & 0xFF for i in range(8, 512))


def test_blk_guest_restored_from_file_keeps_writing(tmp_path):
    state, mem, before = take(tmp_path, "n=5 blk=ok")
    assert steps(before)[-1][0] < STOP
    serial = tmp_path / "serial.txt"
    r = load(state, "--mem-file", mem, serial=serial)
    assert r.returncode == 0, r.stderr
    check_run(before, serial.read_text())
    check_disk(tmp_path / "disk.img")


def test_blk_guest_restored_through_uffd(tmp_path, uffd_handler):
    state, mem, before = take(tmp_path, "n=4 blk=ok")
    handler = uffd_handler(mem)
    serial = tmp_path / "serial.txt"
    r = load(state, "--uffd-sock", handler.sock, serial=serial)
    assert r.returncode == 0, r.stderr
    check_run(before, serial.read_text())
    check_disk(tmp_path / "disk.img")


def test_diff_carries_pages_the_vmm_wrote(tmp_path):
    """Full at step 3, Diff at step 9: the used ring is written only by
    the VMM, so without its own dirty tracking the merged image would
    hand the guest a stale ring and it would stall or fail."""
    diff_state, diff_mem = tmp_path / "diff.state", tmp_path / "diff.mem"
    _, full_mem, before = take(tmp_path, "n=3 blk=ok", "--track-dirty", "--type", "Full",
                               "--at2", "n=9 blk=ok", "--snapshot2", diff_state,
                               "--mem-file2", diff_mem, "--type2", "Diff", "--then", "exit",
                               name="full")
    # the same guest memory and trailer, then the Diff's page bitmap (mem_file.h)
    assert os.path.getsize(diff_mem) == os.path.getsize(full_mem) + (os.path.getsize(full_mem) - 4096) // 4096 // 8
    merged = tmp_path / "merged.mem"
    shutil.copyfile(full_mem, merged)
    r = subprocess.run([str(MERGE), str(merged), str(diff_mem)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    serial = tmp_path / "serial.txt"
    r = load(diff_state, "--mem-file", merged, serial=serial)
    assert r.returncode == 0, r.stderr
    check_run(before, serial.read_text())
    check_disk(tmp_path / "disk.img")


def test_snapshot_carries_devices_and_refuses_another_backend(tmp_path):
    state, mem, before = take(tmp_path, "n=3 blk=ok")
    data = state.read_bytes()
    cfg = [s for s in sections(data) if s[1] == SEC_VM_CONFIG]
    assert len(cfg) == 1
    off, _, _, length = cfg[0]
    text = data[off + 16: off + 16 + length].decode()
    assert str(tmp_path / "disk.img") in text and '"is_root_device":true' in text
    # format.h: an 80-byte name, "<kind>:<id>" for virtio devices
    devices = [data[o + 16: o + 96].rstrip(b"\0").decode() for o, t, _, _ in sections(data) if t == SEC_DEVICE]
    assert sorted(devices) == ["i8042", "serial0", "virtio-blk:drive0", "vmgenid"]
    # the same drive id pointing at another file: the blk device's
    # identity check refuses it before anything is applied
    other = tmp_path / "other.img"
    shutil.copyfile(tmp_path / "disk.img", other)
    bad = tmp_path / "bad.state"
    bad.write_bytes(rewrite_section(data, SEC_VM_CONFIG,
                                    lambda p: p.replace(str(tmp_path / "disk.img").encode(), str(other).encode())))
    r = load(bad, "--mem-file", mem, serial=tmp_path / "x.txt")
    assert r.returncode == 1
    assert "virtio-blk:drive0" in r.stderr and "snapshot's is" in r.stderr and "other.img" in r.stderr, r.stderr
    # a malformed configuration section
    bad.write_bytes(rewrite_section(data, SEC_VM_CONFIG, lambda p: b'{"drives": 7}'))
    r = load(bad, "--mem-file", mem, serial=tmp_path / "x.txt")
    assert r.returncode == 1 and "device configuration" in r.stderr, r.stderr
    # the original still loads after all that
    serial = tmp_path / "serial.txt"
    r = load(state, "--mem-file", mem, serial=serial)
    assert r.returncode == 0, r.stderr
    check_run(before, serial.read_text())


def test_bad_files_refused_by_husk_snapshot_load(tmp_path):
    state, mem, _ = take(tmp_path, "n=2 blk=ok")
    data = state.read_bytes()
    bad = tmp_path / "bad.state"
    cases = [
        (data[: len(data) // 2], "truncated"),
        (data[:HEADER_LEN + 3] + bytes([data[HEADER_LEN + 3] ^ 1]) + data[HEADER_LEN + 4:], "CRC64"),
        (recrc(data[:8] + struct.pack("<I", 7) + data[12:-8]), "format version 7"),
    ]
    for content, why in cases:
        bad.write_bytes(content)
        r = load(bad, "--mem-file", mem, serial=tmp_path / "x.txt")
        assert r.returncode == 1 and "snapshot load failed" in r.stderr and why in r.stderr, r.stderr
    short = tmp_path / "short.mem"
    with open(short, "wb") as f:
        f.truncate(os.path.getsize(mem) - 4096)
    r = load(state, "--mem-file", short, serial=tmp_path / "x.txt")
    assert r.returncode == 1 and "exactly" in r.stderr, r.stderr
    # device state cut short: named in the error
    bad.write_bytes(rewrite_section(data, SEC_DEVICE,
                                    lambda p: p[:-3] if p.startswith(b"virtio-blk:drive0") else p))
    r = load(bad, "--mem-file", mem, serial=tmp_path / "x.txt")
    assert r.returncode == 1 and "virtio-blk:drive0" in r.stderr, r.stderr
    r = subprocess.run([str(HUSK), "snapshot", "load", "--snapshot", str(state)], capture_output=True, text=True)
    assert r.returncode == 2 and "--mem-file" in r.stderr


# ---- clones: one snapshot, four husk processes at once, each on its own tap

@pytest.fixture
def clone_netns():
    """A network namespace with taps htap0..htap4 (the snapshot's and one
    per clone), deleted afterwards whatever happens."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 for a network namespace")
    name = "husk-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for i in range(5):
            subprocess.run(["ip", "netns", "exec", name, "ip", "tuntap", "add", "dev", f"htap{i}",
                            "mode", "tap", "vnet_hdr"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def tap_of(pid):
    """The tap names the process has open (tun fds show iff: in fdinfo)."""
    names = []
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = open(f"/proc/{pid}/fdinfo/{fd}").read()
        except OSError:
            continue
        m = re.search(r"^iff:\s*(\S+)", text, re.M)
        if m:
            names.append(m.group(1))
    return names


def test_four_clones_progress_each_on_its_own_tap(tmp_path, clone_netns):
    ns = ("ip", "netns", "exec", clone_netns)
    state, mem = tmp_path / "c.state", tmp_path / "c.mem"
    r = subprocess.run([*ns, str(VMM_HOST), "--kernel", str(GUEST), "--mem", "128",
                        "--cmdline", "console=ttyS0", "--net", "tap=htap0,id=eth0",
                        "--vsock", f"cid=3,uds={tmp_path / 'v.sock'}",
                        "--at", "n=4", "--snapshot", str(state), "--mem-file", str(mem)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    before = r.stdout
    last = steps(before)[-1][0]
    # an override naming an interface the snapshot does not have
    r = subprocess.run([*ns, str(HUSK), "snapshot", "load", "--snapshot", str(state),
                        "--mem-file", str(mem), "--net-override", "eth9=htap1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no interface 'eth9'" in r.stderr, r.stderr
    clones = [Husk([*ns, str(HUSK), "snapshot", "load", "--snapshot", str(state), "--mem-file", str(mem),
                    "--resume", "--net-override", f"eth0=htap{i}",
                    "--vsock-uds", str(tmp_path / f"v{i}.sock")]) for i in range(1, 5)]
    try:
        for c in clones:
            c.wait_line(f"n={last + 3}", timeout=60)
        for c in clones:
            assert c.alive()
            # the guest went on from the snapshot: before + after is one
            # unbroken count from 1
            seen = [n for n, _ in steps(before + c.out.decode())]
            assert seen == list(range(1, seen[-1] + 1)) and seen[-1] >= last + 3, seen
        # each clone listens on its own vsock socket
        assert all((tmp_path / f"v{i}.sock").is_socket() for i in range(1, 5))
        # `ip netns exec` execs husk: the clone's pid is husk's
        assert sorted(t for c in clones for t in tap_of(c.proc.pid)) == [f"htap{i}" for i in range(1, 5)]
    finally:
        for c in clones:
            c.stop()


# ---- VMGenID: every restore is a new generation

def genids(text):
    return re.findall(r"^genid=([0-9a-f]{32})$", text, re.M)


def test_vmgenid_changes_on_every_restore(tmp_path):
    state, mem, before = take(tmp_path, "n=3", disk=False, stop=12)
    (old,) = set(genids(before))
    assert old != "0" * 32
    seen = set()
    for i in range(2):
        serial = tmp_path / f"serial{i}.txt"
        r = load(state, "--mem-file", mem, serial=serial)
        assert r.returncode == 0, r.stderr
        ids = genids(serial.read_text())
        # the guest polls the page each step: it sees the new id once and
        # it then stays
        assert len(ids) == 1 and ids[0] != old, ids
        seen.add(ids[0])
    assert len(seen) == 2, "two restores of one snapshot got the same generation id"
