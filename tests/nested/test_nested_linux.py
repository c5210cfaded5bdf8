"""Boot the project's Linux guest under husk inside a level-1 QEMU TCG
machine with nested AMD-V (tests/nested/run.sh does the work).

Set HUSK_BIN to the husk binary (default: build/husk at the top of the tree).
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent
HUSK = Path(os.environ.get("HUSK_BIN", TOP / "build" / "husk"))

pytestmark = [
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                       reason="qemu-system-x86_64 missing (apt-get install qemu-system-x86)"),
    pytest.mark.skipif(not HUSK.exists(), reason=f"{HUSK} not built"),
]


def run_nested(extra_env=None, *vmm_args):
    env = dict(os.environ)
    env.update(extra_env or {})
    proc = subprocess.run([str(HERE / "run.sh"), str(HUSK), *vmm_args],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", timeout=600)
    return proc.returncode, proc.stdout


def test_linux_guest_reaches_init_and_husk_exits_0():
    rc, out = run_nested({"HUSK_NESTED_RUN": "echo l2-userspace-ok"})
    assert "husk-nested: l1 ready" in out, out
    assert "husk-rootfs: init reached" in out, out
    assert "l2-userspace-ok" in out, out
    assert "husk-rootfs: run exit=0" in out, out
    assert "husk-nested: vmm exit=0" in out, out
    assert rc == 0, out


def test_linux_guest_sees_two_vcpus():
    rc, out = run_nested({"HUSK_NESTED_VCPUS": "2",
                          "HUSK_NESTED_RUN": "echo cpus-online=$(cat /sys/devices/system/cpu/online)"})
    assert "cpus-online=0-1" in out, out
    assert rc == 0, out
