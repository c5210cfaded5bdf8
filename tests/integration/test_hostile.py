"""A hostile guest (tests/guests/hostile.c) abuses every device it can reach:
port and MMIO sweeps, legacy device registers, virtio-mmio register abuse
and a ring of malformed chains on every virtio device. The VMM must stay
up, keep the guest's serial working and exit 0 when the guest resets."""
import hashlib
import re

from net_helpers import netns  # noqa: F401  (fixture)


def test_hostile_guest_breaks_only_itself(run_husk, guest, tmp_path, netns):  # noqa: F811
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(range(256)) * 4096)
    before = hashlib.sha256(disk.read_bytes()).hexdigest()
    r = run_husk("--kernel", guest("hostile"), "--mem", "128",
                 "--drive", f"path={disk},root,ro", "--net", "tap=htap0", "--rng",
                 "--vsock", f"cid=3,uds={tmp_path}/v.sock",
                 prefix=("ip", "netns", "exec", netns), timeout=120)
    out = r.stdout
    assert r.returncode == 0, f"rc {r.returncode}\n{out}\n{r.stderr[-3000:]}"
    assert "husk-guest: hostile done" in out, out
    assert "husk-guest: reset" in out, out
    assert "AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-3000:]
    # every device refused features without VERSION_1 and came back clean
    # after the reset the guest wrote
    slots = re.findall(r"hostile slot (\d+) device (\d+) status (0x[0-9a-f]+) after reset (0x[0-9a-f]+)", out)
    assert sorted(int(d) for _, d, _, _ in slots) == [1, 2, 4, 19], out
    assert out.count("features without VERSION_1 refused") == 4, out
    assert all(after == "0x0" for _, _, _, after in slots), out
    # blk and rng pop the malformed chains and must have asked for a reset
    for _, dev, st, _ in slots:
        if dev in ("2", "4"):
            assert int(st, 16) & 0x40, f"device {dev} status {st}: no NEEDS_RESET\n{out}"
    # a read-only drive stays untouched whatever the guest sent
    assert hashlib.sha256(disk.read_bytes()).hexdigest() == before
