"""The arm64 guest kernel and rootfs checked without husk: booted by
qemu-system-aarch64 -M virt (TCG, on this host) with the same kind of
devices husk gives it, virtio-mmio from the device tree.  If this fails,
the guest is broken, not husk."""
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

QEMU = shutil.which("qemu-system-aarch64")
pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-aarch64 missing (tools/deps --arm64)")


def test_guest_boots_ext4_root_on_virtio_mmio_blk_with_two_cpus_net_and_rng(arm_guest):
    with tempfile.TemporaryDirectory() as d:
        disk = Path(d) / "rootfs.ext4"
        shutil.copyfile(arm_guest["ARM_ROOTFS"], disk)
        run = ('echo cpus-online=$(cat /sys/devices/system/cpu/online); '
               'echo rng=$(cat /sys/class/misc/hw_random/rng_current); '
               'echo mac=$(cat /sys/class/net/eth0/address); '
               'echo l2-root=$(grep \' / \' /proc/mounts | cut -d\' \' -f3,4)')
        proc = subprocess.run(
            [QEMU, "-M", "virt", "-accel", "tcg,thread=multi", "-cpu", "max,pauth-impdef=on",
             "-smp", "2", "-m", "256", "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
             "-kernel", arm_guest["ARM_KERNEL"],
             "-append", f'console=ttyAMA0 panic=-1 root=/dev/vda rw husk.run="{run}"',
             "-drive", f"file={disk},if=none,format=raw,id=root",
             "-device", "virtio-blk-device,drive=root",
             "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-device,netdev=n0,mac=06:00:ac:10:00:02",
             "-device", "virtio-rng-device"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", timeout=300)
    out = proc.stdout
    assert "husk-rootfs: init reached" in out, out
    assert "cpus-online=0-1" in out, out
    assert "rng=virtio_rng.0" in out, out
    assert "mac=06:00:ac:10:00:02" in out, out
    assert "l2-root=ext4 rw" in out, out
    assert "husk-rootfs: run exit=0" in out, out
    # reboot -f is PSCI SYSTEM_RESET; -no-reboot makes QEMU exit 0 on it
    assert "husk-rootfs: rebooting" in out, out
    assert proc.returncode == 0, out
