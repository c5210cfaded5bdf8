"""Smoke test of the benchmark driver: `tools/bench/run --quick` produces
every figure (results.json with raw samples for each measure, the Markdown
table, both plots). It asserts nothing about speed: timing targets live in
the benchmark output, not in pass/fail tests."""
import json
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = os.environ.get("HUSK_BUILD", str(ROOT / "build"))


def test_quick_bench_produces_every_figure(tmp_path):
    out = tmp_path / "bench"
    r = subprocess.run([str(ROOT / "tools/bench/run"), "--quick", "--build", BUILD, "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name in ["results.json", "results.md", "phases.png", "boot.png"]:
        assert (out / name).stat().st_size > 0, name
    res = json.loads((out / "results.json").read_text())
    boot = res["boot"]["samples"]
    assert len(boot["husk"]) == res["runs"] and len(boot["qemu"]) == res["runs"]
    assert len(boot["floor"]) == res["runs"]
    assert all(s["marker_ms"] > 0 for s in boot["husk"] + boot["qemu"] + boot["floor"])
    # husk/floor beside husk/QEMU for every boot measure
    assert all(r["floor"]["ratio"] > 0 for r in res["boot"]["rows"])
    # every result says where it ran; under emulation, that only ratios count
    md = (out / "results.md").read_text()
    assert res["where"]["kvm"] == ("nested" if os.environ.get("HUSK_L1") else "host")
    assert "Where: " in md
    assert ("Only the side-by-side ratios" in md) == res["where"]["emulated"]
    phases = res["phases"]["median_us"]
    for p in ["KVM VM created", "memory mapped", "kernel loaded", "first KVM_RUN", "guest boot timer"]:
        assert phases.get(p, 0) > 0, p
    for label, m in res["memory"].items():
        assert m["husk"] and m["qemu"], label
    for vmm, d in res["density"].items():
        assert d["booted"] == d["launched"] > 0, vmm
    for vmm, d in res["idle_fit"].items():
        assert len(d["pss_kib"]) == d["held"] and d["fit_in_8gib"] > 0, vmm
    assert res["soak"]["failures"] == 0
    assert "taps" not in res["soak"]["leaked"], res["soak"]
    for name, o in res["other"].items():
        assert o["status"] in ("ok", "skipped in --quick"), (name, o)
