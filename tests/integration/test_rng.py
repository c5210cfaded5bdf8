"""virtio-rng: the test guest asks for 32 bytes and prints them."""
import re

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
