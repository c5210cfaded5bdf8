"""virtio-blk end to end: the freestanding blk_guest drives husk's
virtio-mmio transport and virtio-blk device with its own polling driver
(negotiate, pattern write through an indirect table, flush, read back,
GET_ID, IOERR past the end and on a read-only drive, reset), with each
engine; the host then checks the backing files."""
import hashlib
import re
import os

import pytest

SECTOR = 512


def pattern(sector, seed, n_sectors=2):
    """What blk_guest writes: byte i of sector s is (i*31 + s + seed) & 0xff."""
    return bytes(((i % SECTOR) * 31 + sector + i // SECTOR + seed) & 0xFF
                 for i in range(n_sectors * SECTOR))


@pytest.fixture
def disks(tmp_path):
    rw = tmp_path / "rw.img"
    ro = tmp_path / "ro.img"
    rw.write_bytes(os.urandom(512 * 1024))
    ro.write_bytes(os.urandom(64 * 1024))
    return rw, ro


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("engine", ["sync", "async"])
@pytest.mark.parametrize("cache", ["unsafe", "writeback"])
def test_guest_driver_round_trip(run_husk, guest, disks, engine, cache):
    rw, ro = disks
    before = rw.read_bytes()
    ro_sha = sha(ro)
    sector, seed = 37, 11
    r = run_husk("--kernel", guest("virtio_blk/blk_guest"),
                 "--cmdline", f"console=ttyS0 blk_sector={sector} blk_seed={seed} -- init_arg=1",
                 "--drive", f"path={rw},root,id=vol-{engine},engine={engine},cache={cache}",
                 "--drive", f"path={ro},ro,id=ro-{engine},engine={engine}")
    assert r.returncode == 0, r.stderr + r.stdout
    out = r.stdout
    assert "blk-guest: done 2 of 2 devices ok" in out, out
    # the root drive is slot 0 (vda) and announced with root=/dev/vda
    assert "virtio_mmio.device=4K@0xd0001000:5 root=/dev/vda rw" in out
    assert "virtio_mmio.device=4K@0xd0002000:6" in out
    # the devices are the kernel's arguments: before the init args
    cmdline = re.search(r"start cmdline: (.*)", out).group(1)
    assert cmdline.endswith(" -- init_arg=1") and cmdline.count(" -- ") == 1, cmdline
    assert f"blk-guest: vda capacity {512 * 1024 // SECTOR} rw" in out
    assert f"blk-guest: vdb capacity {64 * 1024 // SECTOR} ro" in out
    assert f"blk-guest: vda id=vol-{engine} used=21" in out
    assert f"blk-guest: vdb id=ro-{engine} used=21" in out
    for marker in ("vda rw pattern ok", "vda batch ok", "vdb ro write ioerr ok", "vda past-end ioerr ok",
                   "vdb past-end ioerr ok", "vda reset ok", "vdb reset ok"):
        assert f"blk-guest: {marker}" in out, out
    after = rw.read_bytes()
    lo, hi = sector * SECTOR, (sector + 2) * SECTOR
    assert after[lo:hi] == pattern(sector, seed)
    # the batch: 5 single sectors from sector + 10
    blo, bhi = (sector + 10) * SECTOR, (sector + 15) * SECTOR
    assert after[blo:bhi] == pattern(sector + 10, seed, 5)
    # nothing else changed, and the read-only file not at all
    assert after[:lo] == before[:lo] and after[hi:blo] == before[hi:blo]
    assert after[bhi:] == before[bhi:]
    assert sha(ro) == ro_sha


@pytest.mark.parametrize("engine", ["sync", "async"])
def test_chain_outside_guest_ram_needs_reset_and_recovers(run_husk, guest, disks, engine):
    rw, _ = disks
    r = run_husk("--kernel", guest("virtio_blk/blk_guest"),
                 "--cmdline", "blk_sector=3 blk_seed=9 blk_bad=1",
                 "--drive", f"path={rw},engine={engine}")
    assert r.returncode == 0, r.stderr
    for marker in ("vda bad chain needs reset ok", "vda recovered ok", "vda reset ok",
                   "done 1 of 1 devices ok"):
        assert f"blk-guest: {marker}" in r.stdout, r.stdout
    assert "needs reset" in r.stderr  # the VMM says why, once
    assert rw.read_bytes()[3 * SECTOR:5 * SECTOR] == pattern(3, 9)


def test_engines_write_identical_files(run_husk, guest, tmp_path):
    images = {}
    for engine in ("sync", "async"):
        img = tmp_path / f"{engine}.img"
        img.write_bytes(bytes(256 * 1024))
        r = run_husk("--kernel", guest("virtio_blk/blk_guest"),
                     "--cmdline", "blk_sector=200 blk_seed=5",
                     "--drive", f"path={img},id=same,engine={engine}")
        assert r.returncode == 0, r.stderr
        assert "blk-guest: done 1 of 1 devices ok" in r.stdout, r.stdout
        images[engine] = img.read_bytes()
    assert images["sync"] == images["async"]
    assert images["sync"][200 * SECTOR:202 * SECTOR] == pattern(200, 5)


def test_drive_without_root_is_not_announced_as_root(run_husk, guest, disks):
    rw, _ = disks
    r = run_husk("--kernel", guest("virtio_blk/blk_guest"), "--drive", f"path={rw}")
    assert r.returncode == 0, r.stderr
    assert "root=/dev/vda" not in r.stdout
    assert "blk-guest: vda id=drive0 used=21" in r.stdout


def test_missing_backing_file_fails_cleanly(run_husk, guest, tmp_path):
    missing = tmp_path / "nope.img"
    r = run_husk("--kernel", guest("virtio_blk/blk_guest"), "--drive", f"path={missing}")
    assert r.returncode == 1
    assert str(missing) in r.stderr


@pytest.mark.parametrize("arg", ["ro", "path=/x,engine=fast", "path=/x,cache=none", "path=/x,bogus"])
def test_bad_drive_option_is_a_usage_error(run_husk, guest, arg):
    r = run_husk("--kernel", guest("virtio_blk/blk_guest"), "--drive", arg)
    assert r.returncode == 2
    assert "--drive" in r.stderr
