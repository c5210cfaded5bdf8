"""Bounded libFuzzer runs (ASan + UBSan) of every target in tests/fuzz/:
hostile kernel images, guest virtqueues, guests driving each virtio device
through the mmio transport, snapshot state files, API requests and config
files (README.md there). A crash, leak, sanitizer report or timeout, or a
committed regression input that crashes again, fails the test and leaves
the reproducer in build-fuzz/."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECONDS = os.environ.get("HUSK_FUZZ_SECONDS", "20")
TARGETS = sorted(p.stem[len("fuzz_"):] for p in (ROOT / "tests/fuzz").glob("fuzz_*.c"))


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_survives(target):
    r = subprocess.run([str(ROOT / "tools/fuzz"), "--seconds", SECONDS, target],
                       capture_output=True, text=True, timeout=int(SECONDS) * 3 + 120)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "DONE" in r.stdout, r.stdout  # the run completed its time budget
