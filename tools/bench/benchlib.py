"""Shared pieces of the husk benchmarks: run a VMM to a serial marker,
summarise samples, compare two sample sets (Mann-Whitney U), plot."""
import math
import os
import re
import shutil
import statistics
import subprocess
import time

PHASE_RE = re.compile(rb"phase: (.+?) at (\d+) us")
BOOT_RE = re.compile(rb"Guest-boot-time = (\d+) us")
START_RE = re.compile(rb"start: monotonic (\d+) us")


def run_to_marker(argv, marker, timeout=60, env=None):
    """Exec argv; return ms to the marker on stdout, ms to exit, peak RSS
    (KiB), exit status, husk's phase timestamps (us) and its stderr."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=env)
    os.set_blocking(p.stdout.fileno(), True)
    t_marker = None
    out = b""
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        chunk = p.stdout.read1(65536)
        if not chunk:
            break
        out += chunk
        if t_marker is None and marker in out:
            t_marker = time.monotonic()
    if time.monotonic() >= deadline:
        p.kill()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    t_exit = time.monotonic()
    if t_marker is None:
        raise RuntimeError(f"{argv[0]}: marker {marker!r} not seen; stdout tail {out[-300:]!r} "
                           f"stderr tail {err[-300:]!r}")
    phases = {m.group(1).decode(): int(m.group(2)) for m in PHASE_RE.finditer(err)}
    b = BOOT_RE.search(err)
    if b:
        phases["guest boot timer"] = int(b.group(1))
    st = START_RE.search(err)
    if st:
        # husk counts from its first instruction; the launcher saw the exec
        # earlier. Shift every phase so all are "since exec".
        exec_us = max(0, int(st.group(1)) - int(t0 * 1e6))
        phases = {k: v + exec_us for k, v in phases.items()}
        phases["exec (to husk's first instruction)"] = exec_us
    return {
        "marker_ms": (t_marker - t0) * 1e3,
        "exit_ms": (t_exit - t0) * 1e3,
        "rss_kib": ru.ru_maxrss,
        "status": os.waitstatus_to_exitcode(status),
        "phases_us": phases,
    }


def summary(xs):
    return {"n": len(xs), "min": min(xs), "median": statistics.median(xs), "max": max(xs)}


def mann_whitney(x, y):
    """Two-sided Mann-Whitney U test, normal approximation with tie
    correction (fine for n >= 8 per side). Returns (U, p)."""
    n1, n2 = len(x), len(y)
    allv = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0.0] * len(allv)
    i = 0
    ties = 0.0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        r = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[k] = r
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, allv) if g == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    u = min(u1, n1 * n2 - u1)
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return u, 1.0
    z = (abs(u1 - n1 * n2 / 2) - 0.5) / sigma
    p = math.erfc(max(z, 0) / math.sqrt(2))
    return u, min(p, 1.0)


def compare(name, unit, husk, peer, alpha=0.01):
    """One row of a side-by-side table."""
    h, q = summary(husk), summary(peer)
    _, p = mann_whitney(husk, peer)
    return {
        "measure": name, "unit": unit, "husk": h, "peer": q,
        "ratio": h["median"] / q["median"] if q["median"] else float("nan"),
        "p": p, "significant": p < alpha,
    }


def markdown_table(rows, peer_name="QEMU microvm"):
    """Side by side; rows that carry a floor comparison (tools/bench/boot)
    get the floor's figures and husk/floor as two more columns."""
    f = lambda s: f"{s['min']:.1f} / {s['median']:.1f} / {s['max']:.1f}"
    floor = any("floor" in r for r in rows)
    head = f"| measure | husk min / median / max | {peer_name} min / median / max | husk/peer | p (Mann-Whitney) |"
    sep = "| --- | --- | --- | --- | --- |"
    if floor:
        head += " floor min / median / max | husk/floor |"
        sep += " --- | --- |"
    lines = [head, sep]
    for r in rows:
        sig = "" if r["significant"] else " (not significant)"
        line = (f"| {r['measure']} ({r['unit']}) | {f(r['husk'])} | {f(r['peer'])} | "
                f"{r['ratio']:.2f} | {r['p']:.2g}{sig} |")
        if floor:
            fl = r.get("floor")
            line += f" {f(fl['peer'])} | {fl['ratio']:.2f} |" if fl else " - | - |"
        lines.append(line)
    return "\n".join(lines)


def where():
    """Where the numbers come from, for every result file: tools/l1/run
    says in HUSK_L1 that the command runs in its level-1 machine;
    otherwise this host's own /dev/kvm ran everything."""
    w = os.environ.get("HUSK_L1")
    if w:
        return {"kvm": "nested", "text": w, "emulated": True}
    return {"kvm": "host", "emulated": False,
            "text": f"this host's /dev/kvm ({os.uname().nodename}, {os.uname().release})"}


EMULATED_NOTE = ("Measured under emulation: the level-1 machine is QEMU TCG, so guest and "
                 "host code both run 10-100x slower than on hardware and absolute times are "
                 "not this host's. Only the side-by-side ratios (husk/peer, husk/floor, measured "
                 "in the same machine, interleaved) are figures here.")


def gnuplot(script):
    """Run a gnuplot script if gnuplot is installed; returns True if it ran."""
    if not shutil.which("gnuplot"):
        return False
    subprocess.run(["gnuplot"], input=script.encode(), check=True)
    return True


QEMU = ["qemu-system-x86_64", "-M", "microvm,acpi=off", "-enable-kvm",
        "-cpu", "host,-arch-capabilities", "-nodefaults", "-no-user-config",
        "-nographic", "-serial", "stdio", "-no-reboot"]


def qemu_argv(kernel, cmdline, mem=128, vcpus=1, extra=()):
    return [*QEMU, "-m", str(mem), "-smp", str(vcpus), "-kernel", kernel,
            "-append", cmdline, *extra]


def husk_argv(build, kernel, cmdline, mem=128, vcpus=1, level="Info", extra=()):
    return [f"{build}/husk", "run", "--kernel", kernel, "--mem", str(mem),
            "--vcpus", str(vcpus), "--cmdline", cmdline, "--level", level, *extra]
