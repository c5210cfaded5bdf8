#!/usr/bin/python3
"""A client for husk's (Firecracker-compatible) API over its Unix socket,
with nothing but the standard library (http.client over AF_UNIX).

As a module (tests, benchmarks):

    c = HuskClient("/tmp/husk.sock")
    c.wait_ready()
    c.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})
    c.boot(kernel="vmlinux", boot_args="console=ttyS0")
    status, body = c.get("/")

From the shell:

    tools/husk_client.py --sock S get /
    tools/husk_client.py --sock S put /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}'
    tools/husk_client.py --sock S boot --kernel K [--initrd I] [--cmdline C] [--vcpus N] [--mem MiB]
                                      [--drive PATH[:ro]]... [--tap NAME]...
"""
import argparse
import http.client
import json
import socket
import sys
import time


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class ApiError(Exception):
    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path}: HTTP {status}: {body}")
        self.status = status
        self.body = body


class HuskClient:
    """One keep-alive connection; reconnects if the server closed it."""

    def __init__(self, sock_path, timeout=10.0):
        self.sock_path = sock_path
        self.timeout = timeout
        self._conn = None

    def close(self):
        if self._conn:
            self._conn.close()
            self._conn = None

    def wait_ready(self, timeout=5.0):
        """Poll until the socket accepts a connection (no sleeps longer than 1 ms)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.sock_path)
                s.close()
                return
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.001)

    def request(self, method, path, body=None):
        """Returns (status, parsed JSON body or None)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self._conn is None:
                self._conn = _UnixConnection(self.sock_path, self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=headers)
                resp = self._conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
        parsed = json.loads(raw) if raw else None
        return resp.status, parsed

    def _ok(self, method, path, body=None):
        status, parsed = self.request(method, path, body)
        if status >= 300:
            raise ApiError(method, path, status, parsed)
        return parsed

    def get(self, path):
        return self.request("GET", path)

    def put(self, path, body):
        return self._ok("PUT", path, body)

    def patch(self, path, body):
        return self._ok("PATCH", path, body)

    def action(self, action_type):
        return self.put("/actions", {"action_type": action_type})

    def boot(self, kernel, boot_args=None, initrd=None, vcpus=1, mem_mib=128, drives=(), taps=()):
        """The Firecracker boot sequence: machine, boot source, drives,
        network interfaces, InstanceStart."""
        self.put("/machine-config", {"vcpu_count": vcpus, "mem_size_mib": mem_mib})
        src = {"kernel_image_path": kernel}
        if boot_args is not None:
            src["boot_args"] = boot_args
        if initrd:
            src["initrd_path"] = initrd
        self.put("/boot-source", src)
        for i, (path, ro) in enumerate(drives):
            self.put(f"/drives/drive{i}", {"drive_id": f"drive{i}", "path_on_host": path,
                                           "is_root_device": i == 0, "is_read_only": ro})
        for i, tap in enumerate(taps):
            self.put(f"/network-interfaces/eth{i}", {"iface_id": f"eth{i}", "host_dev_name": tap})
        self.action("InstanceStart")


def _main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sock", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for m in ("get", "put", "patch"):
        p = sub.add_parser(m)
        p.add_argument("path")
        if m != "get":
            p.add_argument("body", help="JSON")
    b = sub.add_parser("boot")
    b.add_argument("--kernel", required=True)
    b.add_argument("--initrd")
    b.add_argument("--cmdline")
    b.add_argument("--vcpus", type=int, default=1)
    b.add_argument("--mem", type=int, default=128)
    b.add_argument("--drive", action="append", default=[], help="PATH[:ro]")
    b.add_argument("--tap", action="append", default=[])
    a = ap.parse_args()

    c = HuskClient(a.sock)
    try:
        if a.cmd == "boot":
            drives = [(d[:-3], True) if d.endswith(":ro") else (d, False) for d in a.drive]
            c.boot(a.kernel, a.cmdline, a.initrd, a.vcpus, a.mem, drives, a.tap)
            return 0
        status, body = c.request(a.cmd.upper(), a.path, None if a.cmd == "get" else json.loads(a.body))
    except ApiError as e:
        print(e, file=sys.stderr)
        return 1
    if body is not None:
        print(json.dumps(body, indent=1))
    return 0 if status < 300 else 1


if __name__ == "__main__":
    sys.exit(_main())
