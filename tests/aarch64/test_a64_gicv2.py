"""husk's GICv2 fallback on arm64 KVM: the Arm level 1 with a GICv2
(tools/l1/run --gic 2: QEMU's -M virt,gic-version=2 with its
virtualization extensions), whose KVM can emulate only a vGICv2, runs
the freestanding guests (tests/guests/aarch64/) that the GICv3 suite
runs: hello (the device tree in x0, PSCI, SYSTEM_OFF) and smp (three
secondaries started through PSCI CPU_ON); the project's arm64 Linux
guest with 2 vCPUs, which finds the GICv2 in the device tree and takes
its timer and serial interrupts through it; and a ninth vCPU is refused
before the VM starts (a GICv2 routes to at most 8 CPUs). One level-1
boot for the module."""
import os
import re
from pathlib import Path

import pytest

from l1 import HERE, TOP, run_arm_cases

BUILD = Path(os.environ.get("HUSK_ARM_BUILD", TOP / "build-arm64"))
GUESTS = BUILD / "tests" / "guests" / "aarch64"

CASES = {
    "hello": f"{BUILD}/husk run --kernel {GUESTS}/hello.bin --mem 64",
    "smp": f"{BUILD}/husk run --kernel {GUESTS}/smp.bin --mem 64 --vcpus 4",
    "nine": f"{BUILD}/husk run --kernel {GUESTS}/smp.bin --mem 64 --vcpus 9",
    # l2-lib.sh's run_l2: the Linux guest, husk.run= what it prints
    "linux": "L2_RUN='echo cpus-online=$(cat /sys/devices/system/cpu/online); "
             "grep -e arch_timer -e ttyS0 /proc/interrupts'; run_l2 --vcpus 2 --mem 128",
}


@pytest.fixture(scope="module")
def results(arm_env):
    for f in ("husk", "tests/guests/aarch64/smp.bin"):
        assert (BUILD / f).exists(), f"{BUILD / f} missing: build build-arm64 first"
    return run_arm_cases((HERE / "l2-lib.sh").read_text(), CASES, env=arm_env, cpus=2, timeout=300, gic=2)


def test_hello_on_a_gicv2(results):
    status, out = results["hello"]
    assert status == 0, out
    # the fallback ran: this level 1's KVM has no GICv3 to give
    assert "vGIC: no GICv3 emulation" in out and "trying GICv2" in out, out
    assert "hello from aarch64" in out and "magic ok" in out, out
    assert "guest poweroff on vCPU 0" in out, out


def test_secondaries_start_on_a_gicv2(results):
    status, out = results["smp"]
    assert status == 0, out
    lines = out.splitlines()
    for cpu in (1, 2, 3):
        assert f"cpu {cpu} up" in lines, out
    assert "all cpus up" in lines, out


def test_a_ninth_vcpu_is_refused_before_the_vm_starts(results):
    status, out = results["nine"]
    assert status != 0, out
    # KVM's own limit with a GICv2 host (KVM_CAP_MAX_VCPUS), said by vm.c;
    # gic.c names the GIC where a KVM would let more through
    assert re.search(r"9 vCPUs requested, KVM allows 8|9 vCPUs: this host's KVM has only a GICv2", out), out
    assert "KVM_RUN" not in out and "cpu 1 up" not in out, out


def test_linux_guest_takes_its_interrupts_through_a_gicv2(results):
    _, out = results["linux"]
    assert "trying GICv2" in out, out
    assert "husk-rootfs: init reached" in out and "cpus-online=0-1" in out, out
    # the timer ticks and the console's interrupts reach both CPUs' GIC
    # lines (GIC-0 is Linux's GICv2 driver, a v3 would be GICv3)
    timer = re.search(r"^\s*\d+:\s+(\d+)\s+(\d+)\s+GIC-0\s+27 Level\s+arch_timer", out, re.M)
    assert timer and int(timer.group(1)) > 0 and int(timer.group(2)) > 0, out
    assert re.search(r"^\s*\d+:\s+[1-9]\d*\s+\d+\s+GIC-0\s+\d+ Edge\s+ttyS0", out, re.M), out
    assert "husk-rootfs: rebooting" in out and "husk-arm: vmm exit=0" in out, out
