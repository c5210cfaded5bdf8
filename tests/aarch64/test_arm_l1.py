"""The aarch64 level-1 machine itself (tools/l1/run --arch aarch64): it is
an arm64 machine with a usable /dev/kvm, runs busybox sh in the caller's
directory, passes the command's output and exit status through, and
brings back what is written under --rw."""
import shutil
import tempfile
from pathlib import Path

import pytest

from l1 import TOP, run_arm_l1

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None,
                                reason="qemu-system-aarch64 missing (tools/deps --arm64)")


def test_kvm_opens_on_arm64_with_hyp_mode():
    rc, out = run_arm_l1("uname -m; exec 3<>/dev/kvm && echo kvm-open; "
                         "dmesg | grep -o 'Hyp mode initialized successfully'")
    assert rc == 0, out
    lines = out.splitlines()
    assert "aarch64" in lines
    assert "kvm-open" in lines
    assert "Hyp mode initialized successfully" in lines


def test_busybox_shell_and_cwd_are_the_callers():
    rc, out = run_arm_l1("for p in sh ip ping; do readlink -f $(which $p); done; pwd",
                         cwd=TOP / "tools")
    assert rc == 0, out
    assert out.splitlines() == ["/usr/bin/busybox"] * 3 + [str(TOP / "tools")]


def test_exit_status_and_env_pass_through():
    rc, out = run_arm_l1('echo "value=$HUSK_ARM_PROBE"; exit 7',
                         env={"HUSK_ARM_PROBE": "a b'c"})
    assert rc == 7, out
    assert "value=a b'c" in out.splitlines()


def test_rw_share_comes_back_and_root_is_read_only_underneath():
    with tempfile.TemporaryDirectory() as d:
        probe = Path(d) / "probe"
        rc, out = run_arm_l1(f"echo written-in-l1 > {probe}; touch {TOP}/l1-overlay-only",
                             rw=[d])
        assert rc == 0, out
        assert probe.read_text() == "written-in-l1\n"
    assert not (TOP / "l1-overlay-only").exists()
