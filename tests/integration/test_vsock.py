"""virtio-vsock through the Firecracker-style Unix socket: host-initiated
connections (CONNECT <port> / OK <hostport>), guest-initiated ones to
<uds>_<port>, data both ways, and a connect to a port nobody listens on."""
import os
import re
import socket

import pytest

from net_helpers import husk_supports, start_guest  # noqa: F401

CID = 3
ECHO = 1234
HELLO = 5000


@pytest.fixture(autouse=True)
def needs_vsock(husk_bin):
    if not husk_supports(husk_bin, "--vsock"):
        pytest.skip("husk run has no --vsock option in this build")


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, f"EOF after {len(buf)} of {n} bytes"
        buf += chunk
    return buf


def recv_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            return buf
        buf += c
    return buf


def host_connect(uds, port):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)  # a bound on failure, never the signal itself
    s.connect(uds)
    s.sendall(f"CONNECT {port}\n".encode())
    return s, recv_line(s)


@pytest.fixture
def vm(start_guest, tmp_path):
    uds = str(tmp_path / "v.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"{uds}_{HELLO}")
    listener.listen(1)
    listener.settimeout(30)
    h = start_guest("--vsock", f"cid={CID},uds={uds}",
                    cmdline=f"console=ttyS0 vsock_port={ECHO} vsock_hello={HELLO}")
    line = h.wait_line("net-guest: vsock up")
    assert f"cid={CID}" in line and f"port={ECHO}" in line
    h.wait_line("net-guest: ready")
    yield h, uds, listener
    listener.close()


def test_guest_connects_to_host_port(vm):
    h, uds, listener = vm
    conn, _ = listener.accept()
    conn.settimeout(30)
    assert recv_exact(conn, 17) == b"hello from guest\n"
    conn.sendall(b"back at you")
    assert recv_exact(conn, 11) == b"back at you"
    conn.close()
    assert h.alive()


def test_host_connects_and_echoes(vm):
    h, uds, _ = vm
    s, ok = host_connect(uds, ECHO)
    m = re.fullmatch(rb"OK (\d+)\n", ok)
    assert m, ok
    assert int(m.group(1)) > 0
    s.sendall(b"ping")
    assert recv_exact(s, 4) == b"ping"
    # more than one packet and more than the guest's 4 KiB buffers
    data = os.urandom(100_000)
    s.sendall(data)
    assert recv_exact(s, len(data)) == data
    s.close()
    h.wait_line("net-guest: vsock accepted port")
    assert h.alive()


def test_connect_to_unlistened_port_fails_and_vm_lives(vm):
    h, uds, _ = vm
    s, reply = host_connect(uds, 4242)
    assert reply == b"", reply  # EOF, no "OK"
    s.close()
    # malformed requests are refused the same way
    for bad in (b"CONNECT\n", b"CONNECT 99999999999\n", b"HELLO 1\n"):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(30)
        c.connect(uds)
        c.sendall(bad)
        assert c.recv(16) == b""
        c.close()
    assert h.alive()
    s2, ok = host_connect(uds, ECHO)
    assert ok.startswith(b"OK ")
    s2.sendall(b"still here")
    assert recv_exact(s2, 10) == b"still here"
    s2.close()


def test_two_connections_at_once(vm):
    h, uds, _ = vm
    a, oka = host_connect(uds, ECHO)
    b, okb = host_connect(uds, ECHO)
    assert oka.startswith(b"OK ") and okb.startswith(b"OK ")
    assert oka != okb  # distinct host ports
    a.sendall(b"aaaa")
    b.sendall(b"bbbb")
    assert recv_exact(b, 4) == b"bbbb"
    assert recv_exact(a, 4) == b"aaaa"
    a.close()
    b.close()


def test_bad_vsock_option_is_refused(husk_bin, guest, tmp_path):
    import subprocess
    for arg in ("cid=2,uds=/tmp/x", "cid=3", f"uds={tmp_path}/v", "cid=3,uds=/tmp/x,foo=1"):
        r = subprocess.run([husk_bin, "run", "--kernel", guest("virtio_net/net_guest64"),
                            "--vsock", arg], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, arg
        assert "--vsock" in r.stderr, r.stderr
