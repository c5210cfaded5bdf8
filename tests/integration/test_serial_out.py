"""COM1's output never holds the guest: when husk's stdout is a pipe nobody
reads, what the guest prints is dropped and counted (metrics: uart
missed_write_count) and the guest, pause and the API go on. The output
file of --serial-out is capped (--serial-out-limit MiB); the cap itself is
unit-tested (tests/unit/test_serial.c): a guest here prints about 1 KiB/s,
far too slow to fill a MiB."""
import fcntl
import os
import signal
import subprocess
import time

import pytest

from api_client import Conn, metrics_totals, wait_socket

F_SETPIPE_SZ = 1031


@pytest.fixture
def stuck_pipe():
    """A pipe that is full and that nobody reads: (read end, write end).
    Afterwards husk must have put the write end back to blocking and
    written nothing into it."""
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    os.set_blocking(w, False)
    for size in (4096, 1):
        try:
            while True:
                os.write(w, b"#" * size)
        except BlockingIOError:
            pass
    os.set_blocking(w, True)
    yield r, w
    try:
        assert os.get_blocking(w)
        assert set(drain(r)) == {ord("#")}
    finally:
        os.close(r)
        os.close(w)


def stop(p):
    if p.poll() is None:
        p.kill()
        p.wait()


def drain(fd):
    os.set_blocking(fd, False)
    got = b""
    try:
        while chunk := os.read(fd, 65536):
            got += chunk
    except BlockingIOError:
        pass
    return got


def test_stuck_stdout_does_not_hold_the_guest(husk_bin, guest, stuck_pipe):
    _, w = stuck_pipe
    p = subprocess.Popen([husk_bin, "run", "--kernel", guest("pvh_hello"), "--cmdline", "console=ttyS0"],
                         stdout=w, stderr=subprocess.PIPE, text=True)
    try:
        # the guest's ~1 KiB goes nowhere, but it runs to its reset
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "VM exited: guest reset" in err, err
    finally:
        stop(p)


def test_stuck_stdout_leaves_pause_and_api_working(husk_bin, guest, tmp_path, stuck_pipe):
    _, w = stuck_pipe
    sock, metrics = tmp_path / "api.sock", tmp_path / "metrics.json"
    p = subprocess.Popen([husk_bin, "--api-sock", str(sock)],
                         stdout=w, stderr=subprocess.PIPE, text=True)
    try:
        c = Conn(sock, sock=wait_socket(sock, p))
        assert c.request("PUT", "/metrics", {"metrics_path": str(metrics)}) == (204, None)
        assert c.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}) == (204, None)
        # the guest prints its cmdline: 1.5 KiB more that must all be counted
        boot_args = "console=ttyS0 hold " + "x" * 1500
        assert c.request("PUT", "/boot-source", {"kernel_image_path": guest("pvh_hello"),
                                                 "boot_args": boot_args}) == (204, None)
        assert c.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)

        def uart():
            assert c.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
            totals = metrics_totals(metrics)
            return dict(totals["uart"], limit=totals["husk"]["uart_missed_write_limit_count"])

        deadline = time.monotonic() + 60
        while uart()["missed_write_count"] == 0:
            assert time.monotonic() < deadline, "the guest printed nothing"
            time.sleep(0.05)
        # the vCPU met the stuck pipe, yet it parks for a pause
        assert c.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
        assert c.request("GET", "/")[1]["state"] == "Paused"
        paused = uart()
        time.sleep(0.5)
        assert uart() == paused  # nothing runs while paused
        assert c.request("PATCH", "/vm", {"state": "Resumed"}) == (204, None)
        # the guest goes on to the end of its output ("holding", then it
        # halts): every byte of it dropped and counted
        want = len(boot_args) + len("husk-guest: holding\n")
        deadline = time.monotonic() + 60
        while (last := uart())["missed_write_count"] < want:
            assert time.monotonic() < deadline, last
            time.sleep(0.05)
        assert last["write_count"] == 0
        assert last["limit"] == 0  # a pipe has no cap
        c.close()
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 128 + signal.SIGTERM, err
    finally:
        stop(p)


def test_serial_out_file_with_limit(run_husk, guest, tmp_path):
    out = tmp_path / "serial.txt"
    r = run_husk("--kernel", guest("pvh_hello"), "--cmdline", "console=ttyS0",
                 "--serial-out", str(out), "--serial-out-limit", "1", timeout=120)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "husk-guest: pvh ok" in text and "husk-guest: reset" in text
    assert "reached its cap" not in r.stderr
    assert r.stdout == ""


def test_serial_out_limit_option(run_husk, husk_bin, guest):
    for bad in ("-1", "x", "1.5", "", str(1 << 60)):
        r = run_husk("--kernel", guest("pvh_hello"), "--serial-out-limit", bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert "--serial-out-limit must be a number of MiB" in r.stderr
    r = subprocess.run([husk_bin, "run", "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "[--serial-out-limit MiB]" in r.stdout
