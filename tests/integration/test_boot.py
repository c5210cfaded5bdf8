"""The boot paths of the foundation: each freestanding guest boots under
husk on /dev/kvm and proves one path through its serial output."""
import re

import pytest

BOOT_TIME = re.compile(r"Guest-boot-time = (\d+) us (\d+) ms")


def test_pvh_guest_prints_cmdline_and_signals_boot_timer(run_husk, guest):
    r = run_husk("--kernel", guest("pvh_hello"), "--cmdline", "console=ttyS0 marker=pvh-1234")
    assert r.returncode == 0, r.stderr
    assert "husk-guest: pvh ok" in r.stdout
    assert "marker=pvh-1234" in r.stdout
    m = BOOT_TIME.search(r.stderr)
    assert m, r.stderr
    us, ms = int(m.group(1)), int(m.group(2))
    assert us > 0 and ms == us // 1000


def test_boot_timer_logged_once_and_exit_on_reset(run_husk, guest):
    r = run_husk("--kernel", guest("pvh_hello"))
    assert r.returncode == 0, r.stderr
    assert len(BOOT_TIME.findall(r.stderr)) == 1
    assert "reset" in r.stderr


@pytest.mark.parametrize("mem", [64, 128, 4096])
def test_linux64_guest_sees_sane_e820_and_cmdline(run_husk, guest, mem):
    r = run_husk("--kernel", guest("linux64_check"), "--mem", str(mem),
                 "--cmdline", "console=ttyS0 check=e820")
    assert r.returncode == 0, r.stderr
    assert "husk-guest: e820 ok" in r.stdout, r.stdout
    assert "check=e820" in r.stdout
    # the RAM the guest was told about adds up to what we gave it
    m = re.search(r"ram (\d+) KiB", r.stdout)
    assert m, r.stdout
    ram_kib = int(m.group(1))
    assert mem * 1024 - 1024 <= ram_kib <= mem * 1024


@pytest.mark.parametrize("vcpus", [1, 2, 4])
def test_smp_guest_brings_up_every_cpu(run_husk, guest, vcpus):
    r = run_husk("--kernel", guest("smp"), "--vcpus", str(vcpus))
    assert r.returncode == 0, r.stderr
    assert f"husk-guest: smp {vcpus} of {vcpus} cpus up" in r.stdout, r.stdout
    for apic in range(1, vcpus):
        assert f"husk-guest: cpu {apic} up" in r.stdout
