"""seccomp in the real binary: every thread runs filtered by default, a
forbidden syscall kills the process with SIGSYS (or is logged at level
log), and --no-seccomp turns it off. (Every other integration test also
boots with the default filters on.)"""
import os
import pathlib
import select
import signal
import subprocess
import time

import pytest


def thread_seccomp(pid):
    """{thread name: (Seccomp mode, Seccomp_filters)} of every thread."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = pathlib.Path(f"/proc/{pid}/task/{tid}")
        name = (base / "comm").read_text().strip()
        fields = dict(l.split(":\t", 1) for l in (base / "status").read_text().splitlines()
                      if ":\t" in l)
        out[name] = (int(fields["Seccomp"]), int(fields.get("Seccomp_filters", "-1")))
    return out


def start_holding(husk_bin, guest, *extra):
    proc = subprocess.Popen([husk_bin, "run", "--kernel", guest("linux64_check"), "--vcpus", "2",
                             "--cmdline", "console=ttyS0 hold", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    deadline = time.monotonic() + 30
    while b"husk-guest: holding" not in seen:
        left = deadline - time.monotonic()
        assert left > 0, seen
        ready, _, _ = select.select([proc.stdout], [], [], left)
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        assert chunk, seen
        seen += chunk
    return proc


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, err.decode()


@pytest.mark.parametrize("level", ["default", "1", "2"])
def test_every_thread_filtered(husk_bin, guest, level):
    extra = [] if level == "default" else ["--seccomp-level", level]
    proc = start_holding(husk_bin, guest, *extra)
    try:
        threads = thread_seccomp(proc.pid)
    finally:
        code, err = stop(proc)
    # mode 2 = filter; one filter each: the vCPU threads were created
    # before the vmm thread installed its own, so nothing is stacked
    assert threads["husk"] == (2, 1), threads
    assert threads["fc_vcpu 0"] == (2, 1), threads
    assert threads["fc_vcpu 1"] == (2, 1), threads
    # the filters let the VM stop cleanly on a signal
    assert code == 128 + signal.SIGTERM, err
    assert "stopped by signal 15" in err


def test_no_seccomp_means_no_filter(husk_bin, guest):
    proc = start_holding(husk_bin, guest, "--no-seccomp")
    try:
        threads = thread_seccomp(proc.pid)
    finally:
        stop(proc)
    assert all(mode == 0 for mode, _ in threads.values()), threads


def test_forbidden_syscall_kills_with_sigsys(run_husk, guest):
    r = run_husk("--kernel", guest("linux64_check"), "--cmdline", "console=ttyS0 hold",
                 "--seccomp-selftest", timeout=30)
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stderr)
    assert "seccomp self-test: making a forbidden syscall" in r.stderr
    assert "we live on" not in r.stderr


def test_log_level_logs_and_goes_on(run_husk, guest):
    r = run_husk("--kernel", guest("pvh_hello"), "--seccomp-level", "log", "--seccomp-selftest",
                 timeout=30)
    assert r.returncode == 0, r.stderr
    # socket is syscall 41 on x86_64; arg1 is the type (SOCK_STREAM|SOCK_CLOEXEC)
    assert "husk: seccomp: vmm thread made forbidden syscall 41" in r.stderr, r.stderr
    assert "failed and we live on" in r.stderr
    assert "husk-guest: reset" in r.stdout


def test_selftest_without_filter_survives(run_husk, guest):
    r = run_husk("--kernel", guest("pvh_hello"), "--no-seccomp", "--seccomp-selftest", timeout=30)
    assert r.returncode == 0, r.stderr
    assert "no filter is on" in r.stderr


@pytest.mark.parametrize("bad", ["3", "", "full", "-1"])
def test_bad_level_refused(run_husk, guest, bad):
    r = run_husk("--kernel", guest("pvh_hello"), f"--seccomp-level={bad}")
    assert r.returncode == 2
    assert "--seccomp-level must be 0, 1, 2 or log" in r.stderr


def test_api_mode_filters_api_thread_then_all(husk_bin, guest, tmp_path):
    """Firecracker-style start: the api thread is filtered before it
    serves a byte; the vmm and vCPU threads from InstanceStart on."""
    from api_client import Husk
    h = Husk(husk_bin, tmp_path / "api.sock")
    try:
        # the api thread may still be between socket set-up and its
        # filter when the socket appears: a served request proves it is past
        assert h.request("GET", "/")[0] == 200
        before = thread_seccomp(h.proc.pid)
        assert before["fc_api"] == (2, 1), before
        assert before["husk"] == (0, 0), before  # config still to come
        assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("linux64_check"),
                                                 "boot_args": "console=ttyS0 hold"}) == (204, None)
        assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
        assert "husk-guest: holding" in h.read_serial(until="husk-guest: holding")
        after = thread_seccomp(h.proc.pid)
        assert after["husk"] == (2, 1), after
        assert after["fc_vcpu 0"] == (2, 1), after
        assert after["fc_api"] == (2, 1), after
        # the filtered api and vmm threads still answer
        assert h.request("GET", "/machine-config")[0] == 200
    finally:
        code, _, err = h.stop()
    assert code == 128 + signal.SIGTERM, err
