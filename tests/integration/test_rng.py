"""virtio-rng: the test guest asks for 32 bytes and prints them; with
rng_loop=N it makes N more requests, timed on the host for the limiter."""
import re
import time

import pytest

from net_helpers import husk_supports, start_guest  # noqa: F401


@pytest.fixture(autouse=True)
def needs_rng(husk_bin):
    if not husk_supports(husk_bin, "--rng"):
        pytest.skip("husk run has no --rng option in this build")


def read_entropy(start_guest):
    h = start_guest("--rng")
    line = h.wait_line("net-guest: rng")
    m = re.search(r"rng (\d+) bytes ([0-9a-f]*)", line)
    assert m, line
    assert int(m.group(1)) == 32
    return bytes.fromhex(m.group(2))


def test_guest_gets_random_bytes(start_guest):
    a = read_entropy(start_guest)
    b = read_entropy(start_guest)
    assert len(a) == 32 and len(b) == 32
    assert a != b
    assert a != bytes(32)


def rng_loop_seconds(start_guest, limit, requests):
    """Seconds the guest's rng_loop of `requests` 32-byte requests took,
    timed on the host between its "start" and "done" serial lines."""
    h = start_guest(f"--rng={limit}" if limit else "--rng", cmdline=f"console=ttyS0 rng_loop={requests}")
    h.wait_line("net-guest: rng loop start")
    t0 = time.monotonic()
    line = h.wait_line("net-guest: rng loop done", timeout=60)
    secs = time.monotonic() - t0
    assert f"done {requests} requests {requests * 32} bytes" in line, line
    return secs


@pytest.mark.parametrize("limit,requests,rate,unit", [
    ("ops=20/s", 50, 20, 1),          # ops: every request counts 1
    ("bw=2K/s", 64, 2048, 32),        # bytes: every request asks for 32
])
def test_rng_rate_limit(start_guest, limit, requests, rate, unit):
    secs = rng_loop_seconds(start_guest, limit, requests)
    bucket = rate // 10  # a tenth of a second's worth, full at the start
    # the first request (rng_init's) took one unit from the bucket
    measured = (requests * unit - (bucket - unit)) / secs
    print(f"rng {limit}: {requests} requests in {secs:.3f} s -> {measured:.1f}/s")
    assert abs(measured - rate) <= rate * 0.10, (measured, secs)


def test_rng_unlimited_is_far_faster(start_guest):
    secs = rng_loop_seconds(start_guest, None, 50)
    assert secs < (50 - 2) / 20 / 4, secs  # the ops=20/s case above, 4x over
