"""Shared by test_net/test_vsock/test_rng: start husk with the virtio_net
test guest in the background, wait for its serial lines, make and remove
network namespaces with a tap in them."""
import os
import select
import shutil
import subprocess
import time
import uuid

import pytest

GUEST = "virtio_net/net_guest64"


def husk_supports(husk_bin, flag):
    r = subprocess.run([husk_bin, "run", "--help"], capture_output=True, text=True, timeout=10)
    return flag in r.stdout + r.stderr


class Husk:
    """A running `husk run`; serial (stdout) is read line by line."""

    def __init__(self, argv, prefix=()):
        self.proc = subprocess.Popen([*prefix, *argv], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=False)
        self.out = b""
        self.err = None

    def wait_line(self, text, timeout=30):
        """Block until a serial line contains text; return that line.
        Waits on the pipe (select), so no sleep decides the outcome."""
        deadline = time.monotonic() + timeout
        want = text.encode()
        while True:
            for line in self.out.split(b"\n")[:-1]:
                if want in line:
                    return line.decode(errors="replace")
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and not self._readable(0):
                raise AssertionError(f"no '{text}' on serial; got:\n{self.out.decode(errors='replace')}"
                                     f"\nstderr:\n{self.stderr_now()}")
            if self._readable(left):
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk and self.proc.poll() is not None:
                    continue
                self.out += chunk

    def _readable(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return bool(r)

    def alive(self):
        return self.proc.poll() is None

    def stderr_now(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")

    def stop(self):
        """End the VM (SIGTERM) and return its stderr; safe to call twice."""
        if self.err is not None:
            return self.err
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.err


@pytest.fixture
def start_guest(husk_bin, guest):
    started = []

    def start(*args, cmdline="console=ttyS0", prefix=()):
        h = Husk([husk_bin, "run", "--kernel", guest(GUEST), "--mem", "64",
                  "--cmdline", cmdline, *args], prefix=prefix)
        started.append(h)
        return h
    yield start
    for h in started:
        h.stop()


@pytest.fixture
def netns():
    """A fresh network namespace with tap htap0 at 172.16.0.1/24, deleted
    afterwards whatever happens."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 for a network namespace")
    name = "husk-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (["ip", "tuntap", "add", "dev", "htap0", "mode", "tap", "vnet_hdr"],
                    ["ip", "addr", "add", "172.16.0.1/24", "dev", "htap0"],
                    ["ip", "link", "set", "htap0", "up"],
                    ["ip", "link", "set", "lo", "up"]):
            subprocess.run(["ip", "netns", "exec", name, *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


PING_SCRIPT = r"""
import socket, struct, sys, time, select
dst, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
got = 0
for seq in range(count):
    payload = bytes((seq + i) & 0xff for i in range(size))
    hdr = struct.pack("!BBHHH", 8, 0, 0, 0x4855, seq)
    pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), 0x4855, seq) + payload
    s.sendto(pkt, (dst, 0))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], deadline - time.monotonic())
        if not r: break
        data, addr = s.recvfrom(65535)
        ihl = (data[0] & 15) * 4
        icmp = data[ihl:]
        if addr[0] == dst and icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (0x4855, seq):
            if icmp[8:] == payload and csum(icmp) == 0:
                got += 1
            break
print(got)
"""


def ping(ns, dst, count=3, size=56):
    """ICMP echo from inside ns via a raw socket (no ping binary needed);
    returns how many correct replies came back."""
    r = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", PING_SCRIPT,
                        dst, str(count), str(size)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.strip())


def tap_stat(ns, dev, stat):
    r = subprocess.run(["ip", "netns", "exec", ns, "cat",
                        f"/sys/class/net/{dev}/statistics/{stat}"],
                       capture_output=True, text=True, check=True)
    return int(r.stdout)
