"""Run busybox-sh scripts inside the aarch64 level-1 machine
(tools/l1/run --arch aarch64), from pytest on the host."""
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent
RUN = TOP / "tools" / "l1" / "run"
L1_FROZE = 75  # tools/l1/run: level 1 stopped beating


def run_arm_l1(script, *, rw=(), env=None, cpus=1, timeout=600, cwd=None, gic=3):
    """Run `script` with busybox sh inside the arm64 level 1; return
    (exit status, output).  env: NAME -> VALUE passed in with --env;
    gic: the level 1's GIC version (2: its KVM offers only a vGICv2)."""
    argv = [str(RUN), "--arch", "aarch64", "--cpus", str(cpus),
            "--timeout", str(timeout), "--gic", str(gic)]
    for d in rw:
        argv += ["--rw", str(d)]
    for name, value in (env or {}).items():
        argv += ["--env", f"{name}={value}"]
    argv += ["--", "sh", "-c", script]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", timeout=timeout + 60,
                          cwd=cwd or TOP)
    if proc.returncode == L1_FROZE:
        # level 1 froze (tools/l1/run saw no pulse): once more, and say so
        print(proc.stdout)
        print("level 1 froze; running the script again")
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace", timeout=timeout + 60,
                              cwd=cwd or TOP)
    return proc.returncode, proc.stdout


def run_arm_cases(prelude, cases, **kw):
    """Each of cases (name -> shell command) in one arm64 level 1 after
    prelude; {name: (exit status, output)}. kw goes to run_arm_l1."""
    script = prelude + "".join(f"echo '=== {name}'; {cmd} 2>&1; echo \"=== status $?\"; "
                               for name, cmd in cases.items())
    rc, out = run_arm_l1(script, **kw)
    assert rc == 0, out
    found = {m.group(1): (int(m.group(3)), m.group(2))
             for m in re.finditer(r"=== (\w+)\n(.*?)=== status (\d+)\n", out, re.S)}
    assert set(found) == set(cases), out
    return found
