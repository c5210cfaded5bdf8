"""husk-jailer: a guest boots inside the jail (chroot by pivot_root, a new
network namespace, a cgroup, a non-root uid, resource limits), and the
jailed process sees none of the host filesystem; bad arguments are refused
before anything is created."""
import errno
import json
import os
import pathlib
import platform
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

from api_client import Conn, wait_socket
from conftest import BUILD

JAILER = BUILD / "tools" / "jailer" / "husk-jailer"
HUSK_STATIC = BUILD / "tools" / "jailer" / "husk-static"
UID = GID = 61234
HOST_UFFD = pathlib.Path("/sys/class/misc/userfaultfd/dev")
HOST_UFFD = HOST_UFFD.read_text().strip() if HOST_UFFD.exists() else None  # "10:126"
# 0: userfaultfd(2) catching the kernel's faults too needs CAP_SYS_PTRACE
UNPRIV_UFFD = pathlib.Path("/proc/sys/vm/unprivileged_userfaultfd")
SYS_USERFAULTFD = {"x86_64": 323, "aarch64": 282}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the jailer needs root")


def need_static():
    if not JAILER.exists():
        pytest.skip("husk-jailer is not built")
    if not HUSK_STATIC.exists():
        pytest.skip("no static husk in this build (sanitizer builds cannot link one)")


@pytest.fixture
def netns():
    if not shutil.which("ip"):
        pytest.skip("no ip(8) to make a network namespace")
    name = f"husk-jt-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name, pathlib.Path("/var/run/netns") / name
    subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def jail_base(tmp_path):
    base = tmp_path / "jails"
    base.mkdir()
    # the jail directory is named after the exec file, as Firecracker's is
    bindir = tmp_path / "bin"
    bindir.mkdir()
    if HUSK_STATIC.exists():
        shutil.copy(HUSK_STATIC, bindir / "husk")
    return base, bindir / "husk"


def prepare_root(base, jail_id, kernel):
    """What a control plane does before starting the jailer: put the guest
    kernel where the jailed husk will look for it."""
    root = base / "husk" / jail_id / "root"
    root.mkdir(parents=True)
    shutil.copy(kernel, root / "kernel.elf")
    os.chmod(root / "kernel.elf", 0o644)
    return root


def wait_for_line(proc, text, timeout=30):
    """Read proc's stdout until a line containing text; returns what was read."""
    seen = ""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if not ready:
            break
        chunk = os.read(fd, 4096).decode(errors="replace")
        if not chunk:
            break
        seen += chunk
        if text in seen:
            return seen
    raise AssertionError(f"no {text!r} within {timeout}s; got:\n{seen}")


def cgroup2_mount():
    for line in pathlib.Path("/proc/self/mounts").read_text().splitlines():
        f = line.split()
        if f[2] == "cgroup2":
            return pathlib.Path(f[1])
    return None


def remove_cgroup(jail_id):
    """The jailer leaves the cgroup behind (as Firecracker's does): the
    control plane removes it once the VM is gone."""
    mnt = cgroup2_mount()
    if mnt:
        try:
            (mnt / "husk" / jail_id).rmdir()
        except OSError:
            pass


def status_ids(pid):
    ids = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("Uid", "Gid", "NSpid"):
            ids[key] = val.split()
    return ids


def test_jailed_guest_sees_only_its_jail(guest, jail_base, netns, tmp_path):
    need_static()
    base, exec_file = jail_base
    ns_name, ns_path = netns
    jail_id = "jt-main"
    root = prepare_root(base, jail_id, guest("linux64_check"))
    # an fd the jailer inherits must not reach husk
    secret = tmp_path / "inherited-secret"
    secret.write_text("host")
    inherited = os.open(secret, os.O_RDONLY)
    cg2 = cgroup2_mount()
    proc = subprocess.Popen(
        [str(JAILER), "--id", jail_id, "--exec-file", str(exec_file), "--uid", str(UID),
         "--gid", str(GID), "--chroot-base-dir", str(base), "--netns", str(ns_path),
         "--cgroup-version", "2", "--resource-limit", "no-file=512",
         "--resource-limit", f"fsize={64 << 20}",
         "--", "run", "--kernel", "/kernel.elf", "--cmdline", "console=ttyS0 hold"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(inherited,))
    os.close(inherited)
    try:
        out = wait_for_line(proc, "husk-guest: holding")
        pid = proc.pid  # the jailer exec'd husk: same process
        ids = status_ids(pid)
        assert ids["Uid"] == [str(UID)] * 4, ids
        assert ids["Gid"] == [str(GID)] * 4, ids
        # its root is the jail directory, and the host's files are not there
        assert os.stat(f"/proc/{pid}/root/").st_ino == os.stat(root).st_ino
        assert sorted(os.listdir(f"/proc/{pid}/root/")) == ["dev", "husk", "kernel.elf"]
        assert not os.path.exists(f"/proc/{pid}/root/etc")
        assert not os.path.exists(f"/proc/{pid}/root/old_root")
        devs = sorted(os.listdir(f"/proc/{pid}/root/dev"))
        assert devs == sorted(["kvm", "net", "null", "urandom"] + (["userfaultfd"] if HOST_UFFD else [])), devs
        st = os.stat(f"/proc/{pid}/root/dev/kvm")
        assert (st.st_uid, st.st_gid) == (UID, GID)
        assert os.major(st.st_rdev) == 10 and os.minor(st.st_rdev) == 232
        # the binary is a copy, not a link to the host's
        assert os.stat(f"/proc/{pid}/root/husk").st_ino != os.stat(exec_file).st_ino
        # in the named network namespace, not the host's
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
        assert os.readlink(f"/proc/{pid}/ns/net") == f"net:[{os.stat(ns_path).st_ino}]"
        assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        # its own cgroup (v2 here; the v1 settings test is separate)
        if cg2:
            cgroups = pathlib.Path(f"/proc/{pid}/cgroup").read_text()
            assert f"0::/husk/{jail_id}\n" in cgroups, cgroups
        limits = pathlib.Path(f"/proc/{pid}/limits").read_text()
        assert any(l.startswith("Max open files") and l.split()[3:5] == ["512", "512"]
                   for l in limits.splitlines()), limits
        assert any(l.startswith("Max file size") and l.split()[3] == str(64 << 20)
                   for l in limits.splitlines()), limits
        fds = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        assert not [f for f in fds if "inherited-secret" in f], fds
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    remove_cgroup(jail_id)
    assert proc.returncode == 128 + signal.SIGTERM, out + rest.decode()
    assert "stopped by signal 15" in rest.decode()


def arg_after(args, flag):
    return int(args[args.index(flag) + 1])


def test_api_mode_jail_gets_its_id_and_start_times_and_userfaultfd(jail_base):
    """husk in API mode behind the jailer, started as Kata starts it (with
    the old --node flag): like Firecracker's jailer, it passes --id, the
    start times and its own CPU time, so GET / names the jail's id and the
    startup CPU time counts the jailer's share; the jail has the host's
    /dev/userfaultfd for an unprivileged Uffd restore."""
    need_static()
    base, exec_file = jail_base
    jail_id = "jt-api"
    root = base / "husk" / jail_id / "root"
    # the control plane gives the jailed user a directory for the socket
    (root / "run").mkdir(parents=True)
    os.chown(root / "run", UID, GID)
    proc = subprocess.Popen(
        [str(JAILER), "--id", jail_id, "--node", "0", "--exec-file", str(exec_file), "--uid", str(UID),
         "--gid", str(GID), "--chroot-base-dir", str(base), "--", "--api-sock", "/run/api.sock"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        sock = wait_socket(str(root / "run" / "api.sock"), proc)
        c = Conn(str(root / "run" / "api.sock"), sock=sock)
        code, body = c.request("GET", "/")
        c.close()
        assert code == 200 and body["id"] == jail_id, body
        args = pathlib.Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert args[1:3] == [b"--id", jail_id.encode()], args
        assert b"--start-time-us" in args and b"--start-time-cpu-us" in args, args
        # the jailer copied a 2 MiB binary and built the jail: not free
        parent_cpu = arg_after(args, b"--parent-cpu-time-us")
        assert parent_cpu > 0, args
        metrics = root / "run" / "metrics.json"
        c = Conn(str(root / "run" / "api.sock"))
        assert c.request("PUT", "/metrics", {"metrics_path": "/run/metrics.json"})[0] == 204
        assert c.request("PUT", "/actions", {"action_type": "FlushMetrics"})[0] == 204
        c.close()
        startup = json.loads(metrics.read_text().splitlines()[0])["api_server"]
        assert startup["process_startup_time_cpu_us"] >= parent_cpu, (startup, parent_cpu)
        uffd = root / "dev" / "userfaultfd"
        if HOST_UFFD:
            st = os.stat(uffd)
            assert f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}" == HOST_UFFD
            assert (st.st_uid, st.st_gid) == (UID, GID)
        else:
            assert not uffd.exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    remove_cgroup(jail_id)


def capabilities(pid):
    caps = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            caps[key] = int(val, 16)
    return caps


def test_root_jail_is_accepted_with_a_warning_and_keeps_only_net_admin(guest, jail_base):
    """--uid 0 --gid 0, as Kata's runtime passes: accepted as Firecracker's
    jailer does, said on stderr, and the jailed root keeps CAP_NET_ADMIN
    (attaching an ownerless tap) and nothing else, not even across exec."""
    need_static()
    base, exec_file = jail_base
    jail_id = "jt-root"
    root = prepare_root(base, jail_id, guest("linux64_check"))
    proc = subprocess.Popen(
        [str(JAILER), "--id", jail_id, "--exec-file", str(exec_file), "--uid", "0", "--gid", "0",
         "--chroot-base-dir", str(base), "--", "run", "--kernel", "/kernel.elf",
         "--cmdline", "console=ttyS0 hold"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out = wait_for_line(proc, "husk-guest: holding")
        assert "husk-jailer: warning: --uid 0 --gid 0 keeps the jail as root" in out, out
        caps = capabilities(proc.pid)
        net_admin = 1 << 12
        assert caps["CapBnd"] == net_admin, caps
        assert caps["CapPrm"] == net_admin and caps["CapEff"] == net_admin, caps
        assert caps["CapInh"] == 0 and caps["CapAmb"] == 0, caps
        assert status_ids(proc.pid)["Uid"] == ["0"] * 4
        assert os.stat(f"/proc/{proc.pid}/root/").st_ino == os.stat(root).st_ino
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    remove_cgroup(jail_id)
    assert proc.returncode == 128 + signal.SIGTERM, out + rest.decode()


def test_new_pid_ns_and_daemonize(guest, jail_base):
    need_static()
    base, exec_file = jail_base
    jail_id = "jt-daemon"
    root = prepare_root(base, jail_id, guest("linux64_check"))
    serial = root / "serial.log"
    serial.touch()
    os.chown(serial, UID, GID)
    r = subprocess.run(
        [str(JAILER), "--id", jail_id, "--exec-file", str(exec_file), "--uid", str(UID),
         "--gid", str(GID), "--chroot-base-dir", str(base), "--new-pid-ns", "--daemonize",
         "--", "run", "--kernel", "/kernel.elf", "--cmdline", "console=ttyS0 hold",
         "--serial-out", "/serial.log"], capture_output=True, text=True, timeout=30)
    # the jailer's parent leaves at once, after writing the child's pid
    assert r.returncode == 0, r.stderr
    pid = int((root / "husk.pid").read_text())
    try:
        deadline = time.monotonic() + 30
        while "husk-guest: holding" not in serial.read_text():
            assert time.monotonic() < deadline, serial.read_text()
            assert os.path.exists(f"/proc/{pid}"), serial.read_text()
            time.sleep(0.05)
        ids = status_ids(pid)
        assert ids["NSpid"] == [str(pid), "1"], ids  # PID 1 in its namespace
        assert ids["Uid"] == [str(UID)] * 4
        assert os.getsid(pid) == pid  # setsid: its own session
        assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    finally:
        # a pidfd taken before the signal: readable once that process has
        # exited, whoever reaps it (it is not our child)
        pidfd = os.pidfd_open(pid)
        os.kill(pid, signal.SIGTERM)
    ready, _, _ = select.select([pidfd], [], [], 30)
    os.close(pidfd)
    assert ready, "the daemonized husk did not exit on SIGTERM"
    remove_cgroup(jail_id)


def v1_memory_mount():
    for line in pathlib.Path("/proc/self/mounts").read_text().splitlines():
        f = line.split()
        if f[2] == "cgroup" and "memory" in f[3].split(","):
            return pathlib.Path(f[1])
    return None


def cgroup2_has(controllers):
    mnt = cgroup2_mount()
    if not mnt:
        return False
    have = (mnt / "cgroup.controllers").read_text().split()
    return all(c in have for c in controllers)


def test_cgroup_settings_applied(guest, jail_base):
    need_static()
    base, exec_file = jail_base
    jail_id = "jt-cgroup"
    prepare_root(base, jail_id, guest("linux64_check"))
    if cgroup2_has(["cpu", "memory"]):
        version, sets = "2", ["cpu.max=50000 100000", f"memory.max={256 << 20}"]
        cgdir = cgroup2_mount() / "husk" / jail_id
        expect = {"cpu.max": "50000 100000", "memory.max": str(256 << 20)}
    elif v1_memory_mount():
        version, sets = "1", [f"memory.limit_in_bytes={256 << 20}"]
        cgdir = v1_memory_mount() / "husk" / jail_id
        expect = {"memory.limit_in_bytes": str(256 << 20)}
    else:
        pytest.skip("neither cgroup v2 with cpu+memory nor a v1 memory hierarchy")
    args = [str(JAILER), "--id", jail_id, "--exec-file", str(exec_file), "--uid", str(UID),
            "--gid", str(GID), "--chroot-base-dir", str(base), "--cgroup-version", version]
    for s in sets:
        args += ["--cgroup", s]
    proc = subprocess.Popen(args + ["--", "run", "--kernel", "/kernel.elf", "--cmdline",
                                    "console=ttyS0 hold"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_line(proc, "husk-guest: holding")
        for f, v in expect.items():
            assert (cgdir / f).read_text().strip() == v
        procs = (cgdir / ("cgroup.procs" if version == "2" else "tasks")).read_text().split()
        assert str(proc.pid) in procs
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    try:
        cgdir.rmdir()
    except OSError:
        pass


BAD = [
    (["--id", "../x"], "--id"),
    (["--id", "a/b"], "--id"),
    (["--id", "x" * 65], "--id"),
    (["--id", ""], "--id"),
    (["--exec-file", "husk"], "--exec-file"),
    (["--exec-file", "/usr/../bin/true"], "--exec-file"),
    (["--exec-file", "/nonexistent/husk"], "--exec-file"),
    (["--chroot-base-dir", "/tmp/../etc"], "--chroot-base-dir"),
    (["--chroot-base-dir", "relative"], "--chroot-base-dir"),
    (["--chroot-base-dir", "/tmp/./x"], "--chroot-base-dir"),
    (["--netns", "netns-name"], "--netns"),
    (["--netns", "/var/run/netns/../../etc/passwd"], "--netns"),
    (["--cgroup", "../../cgroup.procs=1"], "--cgroup"),
    (["--cgroup", "cgroup.procs=1"], "--cgroup"),
    (["--cgroup", "memory.max=1/2"], "--cgroup"),
    (["--cgroup", "memory.max"], "--cgroup"),
    (["--cgroup-version", "3"], "--cgroup-version"),
    (["--resource-limit", "cores=1"], "--resource-limit"),
    (["--resource-limit", "fsize=-1"], "--resource-limit"),
    (["--uid", "-1"], "--uid"),
    (["--uid", "root"], "--uid"),
    (["--parent-cgroup", "../x"], "--parent-cgroup"),
    (["stray"], "unexpected argument"),
]


@pytest.mark.parametrize("bad,what", BAD, ids=[" ".join(b) for b, _ in BAD])
def test_bad_arguments_refused(tmp_path, bad, what):
    if not JAILER.exists():
        pytest.skip("husk-jailer is not built")
    base = tmp_path / "jails"
    base.mkdir()
    good = {"--id": "ok-1", "--exec-file": "/bin/true", "--uid": str(UID), "--gid": str(GID),
            "--chroot-base-dir": str(base)}
    args = []
    for k, v in good.items():
        if k not in bad:
            args += [k, v]
    r = subprocess.run([str(JAILER), *args, *bad, "--", "run"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("husk-jailer: "), r.stderr
    assert what in r.stderr, r.stderr
    assert os.listdir(base) == []  # refused before anything was made


def test_missing_uid_refused(tmp_path):
    if not JAILER.exists():
        pytest.skip("husk-jailer is not built")
    r = subprocess.run([str(JAILER), "--id", "x", "--exec-file", "/bin/true", "--gid", "1",
                        "--chroot-base-dir", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "--uid and --gid are required" in r.stderr


def uffd_syscall_errno(uid, gid):
    """The errno userfaultfd(2), without UFFD_USER_MODE_ONLY as husk asks
    for it, gives a process of uid:gid without capabilities; 0 if it
    gives a descriptor."""
    nr = SYS_USERFAULTFD.get(platform.machine())
    if nr is None:
        pytest.skip(f"no userfaultfd(2) number known for {platform.machine()}")
    code = ("import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
            f"fd = libc.syscall({nr}, os.O_CLOEXEC | os.O_NONBLOCK); print(0 if fd >= 0 else ctypes.get_errno())")
    r = subprocess.run([sys.executable, "-c", code], user=uid, group=gid, extra_groups=[], cwd="/",
                       capture_output=True, text=True, timeout=30, check=True)
    return int(r.stdout)


@pytest.fixture
def userfaultfd_privileged_only():
    """vm.unprivileged_userfaultfd=0 for the test, the old value back after."""
    if not UNPRIV_UFFD.exists():
        pytest.skip(f"no {UNPRIV_UFFD}: userfaultfd(2) cannot be refused to a non-root husk here, so the "
                    "/dev/userfaultfd fallback would go untested")
    old = UNPRIV_UFFD.read_text().strip()
    UNPRIV_UFFD.write_text("0")
    try:
        yield
    finally:
        UNPRIV_UFFD.write_text(old)


def test_jailed_non_root_restore_through_uffd(tmp_path, jail_base, userfaultfd_privileged_only):
    """A Uffd restore by a jailed husk running as a non-root uid, with
    vm.unprivileged_userfaultfd=0 so userfaultfd(2) is refused to it: husk
    gets its userfaultfd from the jail's /dev/userfaultfd; the handler
    outside the jail serves the pages and the guest counts on."""
    need_static()
    if not HOST_UFFD:
        pytest.skip("this kernel has no /dev/userfaultfd (Linux 6.1+)")
    # the syscall is refused to the jail's uid: only the fallback can
    # give husk a userfaultfd, so a restore that runs has taken it
    assert uffd_syscall_errno(UID, GID) == errno.EPERM
    from conftest import UffdHandler
    from test_snapshot_vmm import steps, take
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm")
    stop = 12
    state, mem, before = take(tmp_path, "n=3", disk=False, stop=stop)
    base, exec_file = jail_base
    jail_id = "jt-uffd"
    root = base / "husk" / jail_id / "root"
    root.mkdir(parents=True)
    shutil.copy(state, root / "vm.state")
    os.chmod(root / "vm.state", 0o644)
    serial = root / "serial.txt"
    serial.touch()
    os.chown(serial, UID, GID)
    sock = root / "uffd.sock"
    # the control plane's handler runs outside the jail, with the memory file
    handler = UffdHandler(sock, mem)
    try:
        os.chmod(sock, 0o666)
        r = subprocess.run(
            [str(JAILER), "--id", jail_id, "--exec-file", str(exec_file), "--uid", str(UID),
             "--gid", str(GID), "--chroot-base-dir", str(base), "--", "snapshot", "load",
             "--snapshot", "/vm.state", "--uffd-sock", "/uffd.sock", "--resume",
             "--serial-out", "/serial.txt", "--level", "Info"], capture_output=True, text=True, timeout=120)
    finally:
        handler.stop()
    remove_cgroup(jail_id)
    assert r.returncode == 0, r.stderr
    assert "userfaultfd(2) not permitted, one from /dev/userfaultfd" in r.stderr, r.stderr
    after = serial.read_text()
    counted = [n for n, _ in steps(before + after)]
    assert counted == list(range(1, stop + 1)), counted
    assert "snap-guest: done" in after


def test_version_in_firecrackers_shape():
    """`jailer --version`'s first line is '<name> v<semver>', as
    Firecracker's; the semver is the Firecracker release followed."""
    if not JAILER.exists():
        pytest.skip("husk-jailer is not built")
    r = subprocess.run([str(JAILER), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0].split(" ")
    assert first[0] == "husk-jailer" and first[1].startswith("v"), r.stdout
    assert [int(x) for x in first[1][1:].split(".")] >= [1, 0, 0], r.stdout
    # anywhere before the "--" that starts husk's arguments, as Firecracker's
    # jailer (its argument parser); after it, it is husk's
    r2 = subprocess.run([str(JAILER), "--id", "a", "--uid", "no", "--version"], capture_output=True, text=True,
                        timeout=10)
    assert (r2.returncode, r2.stdout) == (0, r.stdout), r2.stderr
    r2 = subprocess.run([str(JAILER), "--id", "a", "--", "--version"], capture_output=True, text=True, timeout=10)
    assert r2.returncode != 0 and r2.stdout == "", r2.stdout
