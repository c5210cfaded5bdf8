"""Console input: on a terminal, what the user types reaches the guest's
COM1, all of it, even a paste far larger than the UART's 64-byte FIFO
(husk stops reading the terminal while the FIFO is full)."""
import os
import select
import subprocess
import time
import tty

import pytest


def read_until(fd, text, timeout=60):
    """Read fd until text appears; returns what was read."""
    got = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in got:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no {text!r}; got {got[-2000:]!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise AssertionError(f"EOF before {text!r}; got {got[-2000:]!r}")
        got += chunk
    return got.decode(errors="replace")


@pytest.mark.parametrize("size", [10, 3000])
def test_pasted_input_reaches_the_guest_whole(husk_bin, guest, size):
    master, slave = os.openpty()
    tty.setraw(slave)  # bytes as they are: no echo, no line editing
    p = subprocess.Popen([husk_bin, "run", "--kernel", guest("pvh_hello"),
                          "--cmdline", "console=ttyS0 console_in"],
                         stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(slave)
    try:
        read_until(p.stdout.fileno(), "husk-guest: console ready")
        data = bytes(33 + i % 90 for i in range(size))
        os.write(master, data + b"\n")  # one write: a paste
        out = read_until(p.stdout.fileno(), "husk-guest: reset")
        assert f"husk-guest: console got {size} bytes sum {sum(data)}" in out, out
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


def test_terminal_is_raw_while_the_guest_runs_and_restored_after(husk_bin, guest):
    import signal
    import termios
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    raw_bits = termios.ICANON | termios.ECHO | termios.ISIG
    assert before[3] & raw_bits == raw_bits  # a fresh pty is cooked
    p = subprocess.Popen([husk_bin, "run", "--kernel", guest("pvh_hello"),
                          "--cmdline", "console=ttyS0 hold"],
                         stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(p.stdout.fileno(), "husk-guest: holding")
        # keys reach the guest as typed: no local echo, no line editing,
        # Ctrl+C is the guest's (as Firecracker does)
        assert termios.tcgetattr(slave)[3] & raw_bits == 0
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 128 + signal.SIGTERM
        # put back on exit (under the vmm thread's seccomp filter)
        assert termios.tcgetattr(slave) == before
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(slave)
        os.close(master)
