"""virtio-net over a tap inside a network namespace the test makes: the
test guest answers ARP and ICMP echo; bad frames from the guest are
dropped without hurting the VM."""
import re

import pytest

from net_helpers import husk_supports, ping, start_guest, netns, tap_stat  # noqa: F401

MAC = "06:00:ac:10:00:02"


@pytest.fixture(autouse=True)
def needs_net(husk_bin):
    if not husk_supports(husk_bin, "--net"):
        pytest.skip("husk run has no --net option in this build")


def test_guest_answers_arp_and_ping(start_guest, netns):
    h = start_guest("--net", f"tap=htap0,mac={MAC}", cmdline="console=ttyS0 ip=172.16.0.2",
                    prefix=("ip", "netns", "exec", netns))
    up = h.wait_line("net-guest: net up")
    assert f"mac={MAC}" in up
    assert "ip=172.16.0.2" in up
    assert "link=1" in up
    h.wait_line("net-guest: ready")
    assert ping(netns, "172.16.0.2", count=3) == 3
    # big echo: a near-MTU frame in both directions
    assert ping(netns, "172.16.0.2", count=2, size=1400) == 2
    # nothing answers for another address
    assert ping(netns, "172.16.0.9", count=1) == 0
    assert h.alive()


def test_default_mac_when_none_given(start_guest, netns):
    h = start_guest("--net", "tap=htap0", cmdline="console=ttyS0 ip=172.16.0.2",
                    prefix=("ip", "netns", "exec", netns))
    up = h.wait_line("net-guest: net up")
    mac = re.search(r"mac=([0-9a-f:]{17})", up).group(1)
    first = int(mac[:2], 16)
    assert first & 1 == 0, "a guest MAC must be unicast"
    h.wait_line("net-guest: ready")
    assert ping(netns, "172.16.0.2", count=1) == 1


def test_bad_frames_from_guest_are_dropped(start_guest, netns):
    before = tap_stat(netns, "htap0", "rx_packets")
    h = start_guest("--net", f"tap=htap0,mac={MAC}",
                    cmdline="console=ttyS0 ip=172.16.0.2 net_bad=1",
                    prefix=("ip", "netns", "exec", netns))
    h.wait_line("net-guest: bad frames sent")
    h.wait_line("net-guest: ready")
    # the VM is still there and still answers
    assert ping(netns, "172.16.0.2", count=2) == 2
    assert h.alive()
    # none of the three bad frames reached the tap: only the two ARP/ICMP
    # replies per ping plus whatever ARP traffic (at most one reply) came
    after = tap_stat(netns, "htap0", "rx_packets")
    assert after - before <= 3
    err = h.stop()
    # the NEEDS_CSUM frame (CSUM never acked), the 5-byte frame and the
    # 4-byte half header: three malformed frames, each counted
    assert len(re.findall(r"dropped malformed frame from the guest", err)) == 3, err


def test_bad_net_option_is_refused(husk_bin, guest):
    import subprocess
    for arg in ("mac=06:00:00:00:00:01", "tap=t0,mac=01:00:00:00:00:01", "tap=t0,x=1", "tap=0123456789abcdef"):
        r = subprocess.run([husk_bin, "run", "--kernel", guest("virtio_net/net_guest64"),
                            "--net", arg], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, arg
        assert "--net" in r.stderr, r.stderr
