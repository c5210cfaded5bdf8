"""A raw-socket HTTP/1.1 client for husk's API socket, for the tests that
need control over the bytes (pipelining, partial requests, oversized
bodies). Standard library only."""
import json
import os
import select
import signal
import socket
import subprocess
import time


def wait_socket(path, proc, timeout=10.0):
    """Poll until path accepts a connection; fails if proc ended first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"husk exited with {proc.returncode}: {proc.stderr.read()}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(path))
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.0005)


class Conn:
    """One keep-alive connection; responses parsed from the raw stream."""

    def __init__(self, path, sock=None, timeout=10.0):
        self.sock = sock or socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if sock is None:
            self.sock.connect(str(path))
        self.sock.settimeout(timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    @staticmethod
    def encode(method, path, body=None):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        return head.encode() + b"\r\n" + data

    def read_response(self):
        """(status, parsed JSON body or None, raw headers). None on EOF."""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, (json.loads(body) if body else None), headers

    def request(self, method, path, body=None):
        self.send_raw(self.encode(method, path, body))
        r = self.read_response()
        assert r is not None, f"{method} {path}: connection closed"
        return r[0], r[1]


class Husk:
    """husk started with --api-sock; stopped (SIGTERM) by stop()."""

    def __init__(self, husk_bin, sock, extra=(), env=None, prefix=()):
        self.sock_path = str(sock)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([*prefix, husk_bin, "--api-sock", self.sock_path, *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        s = wait_socket(self.sock_path, self.proc)
        self.conn = Conn(self.sock_path, sock=s)

    def request(self, method, path, body=None):
        return self.conn.request(method, path, body)

    def read_serial(self, until=None, timeout=30.0):
        """Read the guest's serial (husk's stdout) until `until` is seen or,
        with until=None, for `timeout` seconds; returns what came."""
        fd = self.proc.stdout.fileno()
        os.set_blocking(fd, False)
        got = b""
        deadline = time.monotonic() + timeout
        while until is None or until.encode() not in got:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            got += chunk
        os.set_blocking(fd, True)
        self.serial = getattr(self, "serial", "") + got.decode(errors="replace")
        return got.decode(errors="replace")

    def wait(self, timeout=60):
        out, err = self.proc.communicate(timeout=timeout)
        self.conn.close()
        return self.proc.returncode, getattr(self, "serial", "") + out, err

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)


# Groups whose leaves are values, not per-line increments.
METRICS_STORE_GROUPS = ("api_server", "latencies_us", "husk")


def metrics_totals(path):
    """What the metrics file at path says so far: every line counts what
    happened since the line before it (Firecracker's way), so counters are
    summed over the lines; value groups come from the last line."""
    lines = [json.loads(t) for t in open(path).read().splitlines()]
    totals = {}
    for line in lines:
        for group, leaves in line.items():
            if not isinstance(leaves, dict):
                continue
            if group in METRICS_STORE_GROUPS:
                totals[group] = leaves
                continue
            t = totals.setdefault(group, {})
            for k, v in leaves.items():
                if isinstance(v, int):
                    t[k] = t.get(k, 0) + v
    return totals


def fault(resp, status=400):
    """The fault_message of an error answer, which must have `status`."""
    code, body = resp
    assert code == status, resp
    assert isinstance(body, dict) and isinstance(body.get("fault_message"), str), resp
    return body["fault_message"]
