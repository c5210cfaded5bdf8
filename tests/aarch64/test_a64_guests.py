"""husk's own boot path on arm64 KVM, with the freestanding aarch64 guests
(tests/guests/aarch64/): the Image loader, the device tree in x0, the
16550 on MMIO, PSCI from KVM (version, CPU_ON for secondaries that start
powered off, SYSTEM_OFF and SYSTEM_RESET ending husk with status 0), a
hostile guest, and a file that is no arm64 Image refused by name; and on
arm64 what the host side does the same way on both architectures: the
seccomp filter (aarch64 syscall numbers) killing husk on a forbidden
call, guest RAM in 2 MiB huge pages, the jailer.

All cases run in one boot of the arm64 level 1 (tools/l1/run --arch
aarch64, about 5 s to start) to keep the suite's time; each case's output
and husk's status come back between markers. Needs the cross build:
meson setup build-arm64 --cross-file cross/aarch64-linux-gnu.txt -Dstatic=true."""
import os
import re
from pathlib import Path

import pytest

from l1 import TOP, run_arm_cases

BUILD = Path(os.environ.get("HUSK_ARM_BUILD", TOP / "build-arm64"))
GUESTS = BUILD / "tests" / "guests" / "aarch64"

CASES = {
    "hello": f"{BUILD}/husk run --kernel {GUESTS}/hello.bin --mem 64",
    "reset": f"{BUILD}/husk run --kernel {GUESTS}/reset.bin --mem 64",
    "smp": f"{BUILD}/husk run --kernel {GUESTS}/smp.bin --mem 64 --vcpus 4",
    "hostile": f"{BUILD}/husk run --kernel {GUESTS}/hostile.bin --mem 64",
    # an ELF, not an Image: the loader must say why it refuses it
    "not_an_image": f"{BUILD}/husk run --kernel {GUESTS}/hello.elf --mem 64",
    # the Image does not fit below the FDT in 2 MiB of RAM
    "too_small": f"{BUILD}/husk run --kernel {GUESTS}/hello.bin --mem 2",
    # --seccomp-selftest makes a syscall the filter forbids once the VM
    # runs: SIGSYS, 128 + 31 from the shell (a guest that powers off, so a
    # filter that let it through ends with 0, not a hang)
    "seccomp": f"{BUILD}/husk run --kernel {GUESTS}/hello.bin --mem 64 --seccomp-selftest",
    "huge_pages": "huge_pages_in_use 40",
    "huge_pages_short": f"echo 0 > /proc/sys/vm/nr_hugepages; "
                        f"{BUILD}/husk run --kernel {GUESTS}/hello.bin --mem 64 --huge-pages 2M",
    "jailer": "jailed_hello",
}

# Shell functions for the cases that take more than one command.
PRELUDE = f"""
wait_for() {{
	i=0
	while ! grep -q "$2" $1; do
		i=$((i+1)); [ $i -gt 600 ] && return 1; kill -0 $3 || return 1; sleep 0.1
	done
}}
# free and not reserved: what another mapping could still have
hugepages_free() {{ awk '/^HugePages_Free/ {{f=$2}} /^HugePages_Rsvd/ {{r=$2}} END {{print f-r}}' /proc/meminfo; }}
# the counter guest in 2 MiB pages: the host's unclaimed huge pages while it runs
huge_pages_in_use() {{
	echo $1 > /proc/sys/vm/nr_hugepages
	before=$(hugepages_free)
	{BUILD}/husk run --kernel {GUESTS}/counter.bin --mem 64 --vcpus 2 --huge-pages 2M > /tmp/hp.out 2>&1 &
	pid=$!
	wait_for /tmp/hp.out "^tick 2 " $pid
	echo "hugepages free before=$before running=$(hugepages_free)"
	kill $pid; wait $pid; st=$?
	cat /tmp/hp.out
	echo "hugepages free after=$(hugepages_free)"
	return $st
}}
# as a control plane does: the kernel in the jail's root, a copy of the
# static husk as the exec file, a non-root uid
jailed_hello() {{
	mkdir -p /tmp/jails/husk/a64/root /tmp/jail-bin
	cp {GUESTS}/hello.bin /tmp/jails/husk/a64/root/kernel.bin
	cp {BUILD}/husk /tmp/jail-bin/husk
	{BUILD}/tools/jailer/husk-jailer --id a64 --exec-file /tmp/jail-bin/husk --uid 61234 \
		--gid 61234 --chroot-base-dir /tmp/jails -- run --kernel /kernel.bin --mem 64
}}
"""


@pytest.fixture(scope="module")
def results():
    for f in ("husk", "tests/guests/aarch64/hello.bin"):
        assert (BUILD / f).exists(), f"{BUILD / f} missing: build build-arm64 first"
    return run_arm_cases(PRELUDE, CASES, cpus=2, timeout=300)


def test_hello_boots_with_fdt_in_x0_and_powers_off(results):
    status, out = results["hello"]
    assert status == 0, out
    assert "hello from aarch64" in out
    assert "magic ok" in out  # x0 pointed at a valid FDT header
    version = int(out.split("psci version ")[1].split()[0], 16)
    assert version >= 0x2, out  # PSCI 0.2 or later
    assert "guest poweroff on vCPU 0" in out


def test_system_reset_ends_husk_with_status_0(results):
    status, out = results["reset"]
    assert status == 0, out
    assert "resetting" in out
    assert "SYSTEM_RESET returned" not in out
    assert "guest reset on vCPU 0" in out


def test_secondaries_start_through_psci_cpu_on(results):
    status, out = results["smp"]
    assert status == 0, out
    lines = out.splitlines()
    for cpu in (1, 2, 3):
        assert f"cpu {cpu} up" in lines, out
    assert "absent cpu refused" in lines
    assert "all cpus up" in lines


def test_hostile_guest_ends_only_its_own_vm_with_a_clear_error(results):
    status, out = results["hostile"]
    lines = out.splitlines()
    # every step before the last went through, husk staying up
    for step in ("reads all-ones", "garbage to devices", "cpu_on self refused", "unknown fn refused",
                 "undecodable mmio"):
        assert step in lines, out
    assert "survived undecodable mmio" not in lines
    assert status == 1, out
    assert "guest MMIO access at 0x20000000 that KVM cannot decode" in out


def test_non_image_is_refused_by_name(results):
    status, out = results["not_an_image"]
    assert status != 0, out
    assert "not an arm64 Image" in out
    assert "KVM_RUN" not in out


def test_image_that_does_not_fit_is_refused(results):
    status, out = results["too_small"]
    assert status != 0, out
    assert "does not fit in guest memory" in out


def test_forbidden_syscall_kills_husk_with_sigsys(results):
    status, out = results["seccomp"]
    assert status == 128 + 31, out
    assert "seccomp self-test: making a forbidden syscall" in out


def test_guest_ram_in_huge_pages(results):
    status, out = results["huge_pages"]
    # killed by the script's SIGTERM, after running
    assert status == 128 + 15, out
    assert re.search(r"^tick 2 ", out, re.M), out
    m = re.search(r"hugepages free before=(\d+) running=(\d+)", out)
    before, running = int(m.group(1)), int(m.group(2))
    assert before == 40, out
    # the 64 MiB of RAM is 32 pages of the pool, reserved at start
    assert running == before - 32, out
    assert f"hugepages free after={before}" in out, out


def test_too_few_huge_pages_refused_with_the_number_needed(results):
    status, out = results["huge_pages_short"]
    assert status != 0, out
    assert "32" in out and "huge" in out, out
    assert "KVM_RUN" not in out


def test_jailed_husk_boots_a_guest(results):
    status, out = results["jailer"]
    assert status == 0, out
    assert "hello from aarch64" in out
    assert "guest poweroff on vCPU 0" in out
