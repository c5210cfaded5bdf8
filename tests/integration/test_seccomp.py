"""seccomp in the real binary: every thread runs filtered by default, a
forbidden syscall kills the process with SIGSYS (or is logged at level
log), and --no-seccomp turns it off. (Every other integration test also
boots with the default filters on.)"""
import os
import re
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


# ---- --seccomp-filter FILE: seccompiler's JSON, compiled at start-up ----

ALLOW_ALL = {"default_action": "allow", "filter_action": "kill_process", "filter": []}


def filter_file(tmp_path, vmm=None, api=None, vcpu=None, name="filter.json"):
    import json
    path = tmp_path / name
    path.write_text(json.dumps({"vmm": vmm or ALLOW_ALL, "api": api or ALLOW_ALL,
                                "vcpu": vcpu or ALLOW_ALL}))
    return str(path)


def deny(*rules, action="kill_process"):
    return {"default_action": "allow", "filter_action": action, "filter": list(rules)}


def test_custom_filter_replaces_the_builtin_ones(husk_bin, guest, tmp_path):
    """Every thread runs under the file's filter: one each, as with the
    built-in lists (an allow-all file, so the VM runs as without)."""
    proc = start_holding(husk_bin, guest, "--seccomp-filter", filter_file(tmp_path))
    try:
        threads = thread_seccomp(proc.pid)
    finally:
        code, err = stop(proc)
    assert threads["husk"] == (2, 1) and threads["fc_vcpu 0"] == (2, 1), threads
    assert code == 128 + signal.SIGTERM, err


def test_custom_filter_forbidding_what_the_vmm_needs_kills_it(run_husk, guest, tmp_path):
    """The vmm thread's event loop waits in epoll_pwait/epoll_wait: a file
    that kills on them kills husk as soon as the VM runs; without that
    rule the same file lets the guest run to its end."""
    epoll = [{"syscall": "epoll_wait"}, {"syscall": "epoll_pwait"}]
    r = run_husk("--kernel", guest("pvh_hello"), "--seccomp-filter",
                 filter_file(tmp_path, vmm=deny(*epoll)), timeout=30)
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stderr)
    # the vCPU's lines need no vmm thread: the kill is what stops the guest
    assert "husk-guest: reset" not in r.stdout
    r = run_husk("--kernel", guest("pvh_hello"), "--seccomp-filter",
                 filter_file(tmp_path, vmm=deny(), name="other.json"), timeout=30)
    assert r.returncode == 0, r.stderr
    assert "husk-guest: reset" in r.stdout


@pytest.mark.parametrize("family,survives", [(2, "failed and we live on"), (1, "the syscall ran")])
def test_custom_filter_errno_action_and_arguments(run_husk, guest, tmp_path, family, survives):
    """filter_action {"errno": 1} fails the call instead of killing; the
    rule matches socket's first argument, so only AF_INET (2), which the
    self-test asks for, is denied."""
    rule = {"syscall": "socket", "args": [{"index": 0, "type": "dword", "op": "eq", "val": family,
                                           "comment": "the address family"}]}
    r = run_husk("--kernel", guest("pvh_hello"), "--seccomp-selftest", "--seccomp-filter",
                 filter_file(tmp_path, vmm=deny(rule, action={"errno": 1})), timeout=30)
    assert r.returncode == 0, r.stderr
    assert survives in r.stderr, r.stderr


BAD_FILES = [
    ("{", "--seccomp-filter"),
    ("[]", "must be an object of thread kinds"),
    ('{"vmm": {}, "api": {}, "vcpu": {}, "vmx": {}}', "unknown field 'vmx'"),
    ("MISSING_API", "api: missing"),
    ("ACTION", "vmm: default_action must be"),
    ("SYSCALL", "vmm.filter[0]: unknown syscall 'frobnicate'"),
    ("INDEX", "vmm.filter[0].args[0]: index must be 0..5"),
    ("OP", "vmm.filter[0].args[0]: op must be"),
    ("TYPE", "vmm.filter[0].args[0]: type must be"),
    ("FIELD", "vmm.filter[0]: unknown field 'sycall'"),
]


def bad_file(tmp_path, kind):
    import json
    arg = {"index": 0, "type": "dword", "op": "eq", "val": 1}
    vmm = {"default_action": "allow", "filter_action": "kill_process",
           "filter": [{"syscall": "socket", "args": [arg]}]}
    if kind == "MISSING_API":
        return json.dumps({"vmm": vmm, "vcpu": vmm})
    if kind == "ACTION":
        vmm["default_action"] = "deny"
    elif kind == "SYSCALL":
        vmm["filter"][0]["syscall"] = "frobnicate"
    elif kind == "INDEX":
        arg["index"] = 6
    elif kind == "OP":
        arg["op"] = "between"
    elif kind == "TYPE":
        arg["type"] = "byte"
    elif kind == "FIELD":
        vmm["filter"][0] = {"sycall": "socket"}
    else:
        return kind
    return json.dumps({"vmm": vmm, "api": ALLOW_ALL, "vcpu": ALLOW_ALL})


@pytest.mark.parametrize("content,what", BAD_FILES, ids=[w for _, w in BAD_FILES])
def test_malformed_filter_file_stops_start_up(husk_bin, guest, tmp_path, content, what):
    """A clear usage error naming the place, before anything starts: in
    `husk run` and in API mode (no socket is made)."""
    path = tmp_path / "bad.json"
    path.write_text(bad_file(tmp_path, content))
    for args in (["run", "--kernel", guest("pvh_hello")], ["--api-sock", str(tmp_path / "api.sock")]):
        r = subprocess.run([husk_bin, *args, "--seccomp-filter", str(path)], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith(f"husk: --seccomp-filter {path}: "), r.stderr
        assert what in r.stderr, r.stderr
        assert not (tmp_path / "api.sock").exists()


def test_filter_file_and_no_seccomp_exclude_each_other(run_husk, guest, tmp_path):
    path = filter_file(tmp_path)
    for order in (["--no-seccomp", "--seccomp-filter", path], ["--seccomp-filter", path, "--no-seccomp"],
                  ["--seccomp-filter", path, "--seccomp-level", "0"]):
        r = run_husk("--kernel", guest("pvh_hello"), *order)
        assert r.returncode == 2, r.stderr
        assert "--seccomp-filter cannot go with --no-seccomp" in r.stderr, r.stderr
    r = run_husk("--kernel", guest("pvh_hello"), "--seccomp-filter", str(tmp_path / "none.json"))
    assert r.returncode == 2 and "--seccomp-filter" in r.stderr, r.stderr


def test_snapshot_load_filters_every_thread(tmp_path):
    """`husk snapshot load` runs its restored guest under the filters by
    default, as `husk run` does; --no-seccomp turns them off."""
    from test_snapshot_vmm import HUSK, take
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm")
    state, mem, _ = take(tmp_path, "n=3", disk=False, stop=100000)
    for extra, mode in (([], 2), (["--no-seccomp"], 0)):
        serial = tmp_path / f"serial{mode}.txt"
        proc = subprocess.Popen([str(HUSK), "snapshot", "load", "--snapshot", str(state), "--mem-file",
                                 str(mem), "--resume", "--serial-out", str(serial), *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            # the guest counts on after the restore: the VM runs. Which n
            # it goes on from is where the pause caught it, some way past
            # n=3 (under load, past n=5: waiting for "n=5" then failed
            # with a guest that counted to its end), so any whole line does
            while not re.search(r"^n=\d+\r?\n", serial.read_text() if serial.exists() else "", re.M):
                if proc.poll() is not None or time.monotonic() >= deadline:
                    proc.kill()  # reading a live husk's stderr would wait for ever
                    pytest.fail(f"no count after the restore: {proc.communicate()[1]!r}")
                time.sleep(0.05)  # polling a file the guest writes; the line is the condition
            threads = thread_seccomp(proc.pid)
        finally:
            proc.kill()
            proc.wait()
        assert threads["husk"][0] == mode and threads["fc_vcpu 0"][0] == mode, threads
