"""Shared fixtures: where the husk binary and the test guests are, and a
runner that boots a guest and returns its exit status, serial and log."""
import os
import pathlib
import re
import subprocess

import pytest

from api_client import Husk

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("HUSK_BUILD", ROOT / "build"))
GUESTS = pathlib.Path(os.environ.get("HUSK_GUESTS", BUILD / "tests" / "guests"))


@pytest.fixture(scope="session")
def husk_bin():
    path = BUILD / "husk"
    assert path.exists(), f"{path} is not built"
    return str(path)


@pytest.fixture(scope="session")
def guest():
    def find(name):
        path = GUESTS / f"{name}.elf"
        assert path.exists(), f"test guest {path} is not built"
        return str(path)
    return find


@pytest.fixture
def husk(husk_bin, tmp_path):
    """Start husk on an API socket: husk(*ARGS, prefix=CMD) returns an
    api_client.Husk on a fresh socket; whatever still runs at the end of
    the test is stopped."""
    started = []

    def start(*extra, prefix=()):
        h = Husk(husk_bin, tmp_path / f"api{len(started)}.sock", extra, prefix=prefix)
        started.append(h)
        return h
    yield start
    for h in started:
        if h.proc.poll() is None:
            h.stop()


@pytest.fixture
def run_husk(husk_bin):
    """Run `husk run ARGS`; a guest that never ends fails the test by timeout."""
    def run(*args, timeout=60, env=None, prefix=()):
        return subprocess.run([*prefix, husk_bin, "run", *args], capture_output=True,
                              text=True, timeout=timeout, env=env)
    return run


class UffdHandler:
    """tools/uffd-handler serving one memory file on a socket (sock)."""

    def __init__(self, sock, mem):
        self.sock = sock
        self.proc = subprocess.Popen([str(BUILD / "tools" / "uffd-handler" / "uffd-handler"),
                                      str(sock), str(mem)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()  # the handler says when it listens
        assert "listening" in line, line

    def counts(self, timeout=30):
        """Wait for the handler to end (it ends with its husk): returns
        (pages served, pages zeroed) and its whole output."""
        out, _ = self.proc.communicate(timeout=timeout)
        m = re.search(r"served (\d+) pages, zeroed (\d+)", out)
        assert m, out
        return int(m.group(1)), int(m.group(2)), out

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def uffd_handler(tmp_path):
    """Start a handler for a memory file: uffd_handler(mem) -> UffdHandler,
    its socket in tmp_path; killed after the test if still running."""
    started = []

    def start(mem, name="uffd.sock"):
        started.append(UffdHandler(tmp_path / name, mem))
        return started[-1]
    yield start
    for h in started:
        h.stop()


NR_HUGEPAGES = pathlib.Path("/proc/sys/vm/nr_hugepages")


@pytest.fixture
def hugepages():
    """Set the host's pool to n pages for the test; put it back after."""
    if os.geteuid() != 0 or not NR_HUGEPAGES.exists():
        pytest.skip("needs root and hugetlbfs")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm")
    before = NR_HUGEPAGES.read_text()

    def set_pool(n):
        NR_HUGEPAGES.write_text(str(n))
        return int(NR_HUGEPAGES.read_text())
    yield set_pool
    NR_HUGEPAGES.write_text(before)


@pytest.fixture
def huge_page_snapshot(husk_bin, guest, hugepages, tmp_path):
    """A Full snapshot of the counting guest with its RAM in 2 MiB huge
    pages: huge_page_snapshot(mem_mib, boot_args) -> (state, mem, the
    serial output up to the pause). Skips when the host cannot make the
    pages."""
    from api_client import Husk
    from test_snapshot_failures import create, pause

    def snapshot(mem_mib, boot_args="console=ttyS0"):
        if hugepages(mem_mib // 2 + 4) < mem_mib // 2:
            pytest.skip("the host could not make the huge pages")
        state, mem = tmp_path / "huge.state", tmp_path / "huge.mem"
        h = Husk(husk_bin, tmp_path / "huge-boot.sock")
        try:
            assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": mem_mib,
                                                        "huge_pages": "2M"}) == (204, None)
            assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("snapshot_counter/snap_guest"),
                                                     "boot_args": boot_args}) == (204, None)
            assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
            h.read_serial(until="n=3\n", timeout=120)
            before = pause(h)
            assert create(h, "Full", state, mem) == (204, None)
        finally:
            h.stop()
        return state, mem, before
    return snapshot


# ---- hygiene: nothing a test starts outlives the run ----
#
# After every test, whatever it started and did not stop (a husk left by a
# failed assertion or a timeout, a helper) is killed.  The last test of the
# run (test_hygiene.py) then fails if any test left processes, or if the
# run as a whole left taps, network namespaces, mounts or listening Unix
# sockets that were not there when it began.

LEFT_BEHIND = []  # (test id, what) for every process killed after a test


def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def descendants(pid):
    kids, out, todo = _children_map(), [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def kill_descendants():
    """SIGKILL everything below this process; returns their command lines."""
    import signal
    found = []
    for pid in descendants(os.getpid()):
        found.append(f"pid {pid}: {cmdline(pid)}")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in descendants(os.getpid()):
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # a grandchild: its own parent was killed, init reaps it
    return found


def system_state():
    """What a test run can leave behind outside its own processes."""
    def lines(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return set(r.stdout.splitlines())
        except (OSError, subprocess.TimeoutExpired):
            return set()
    links = {l.split(":")[1].strip().split("@")[0] for l in lines(["ip", "-o", "link"]) if ":" in l}
    netns = {l.split()[0] for l in lines(["ip", "netns", "list"]) if l.strip()}
    with open("/proc/self/mountinfo") as f:
        # /run/netns is ip(8)'s own: the first `ip netns add` bind-mounts
        # it on itself for shared propagation and it stays (the namespaces
        # in it are checked above)
        mounts = {l.split()[4] for l in f} - {"/run/netns"}
    with open("/proc/net/unix") as f:
        # a bound path with state 01 (listening) is a live server socket
        socks = {l.split()[7] for l in list(f)[1:]
                 if len(l.split()) >= 8 and l.split()[5] == "01"}
    return {"network interface": links, "network namespace": netns,
            "mount": mounts, "listening socket": socks}


BASELINE = {}


def pytest_sessionstart(session):
    BASELINE.update(system_state())


TEST_TIMEOUT_S = int(os.environ.get("HUSK_TEST_TIMEOUT", "300"))


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout(f"the test ran longer than {TEST_TIMEOUT_S} s (HUSK_TEST_TIMEOUT)")


@pytest.fixture(autouse=True)
def kill_what_the_test_left(request):
    # A hung test fails instead of stalling the run: SIGALRM raises in the
    # test's (main) thread, whatever blocking call it is in.
    import signal
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    for what in kill_descendants():
        LEFT_BEHIND.append((request.node.nodeid, what))


def pytest_collection_modifyitems(items):
    # the hygiene check runs after every other test
    items.sort(key=lambda it: it.get_closest_marker("last_in_run") is not None)


def pytest_configure(config):
    config.addinivalue_line("markers", "last_in_run: run after every other test")
