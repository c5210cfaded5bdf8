"""MMDS, the metadata service: the test guest (net_guest64, mmds=PATH)
answers nothing itself here, it asks: ARP for 169.254.169.254, then one
TCP connection per HTTP request, and prints what came back. husk serves
it from the store the API filled; nothing for that address reaches the
tap, and everything else still does."""
import json
import re
import subprocess

from api_client import Husk, metrics_totals
from net_helpers import Husk as SerialHusk, ping, netns, tap_stat  # noqa: F401

MAC = "06:00:ac:10:00:02"


def start(husk_bin, guest, tmp_path, netns, cmdline, version="V1", data=None):
    h = Husk(husk_bin, tmp_path / "api.sock", ("--level", "Info", "--metrics-path", str(tmp_path / "metrics")),
             prefix=("ip", "netns", "exec", netns))
    for path, body in (("/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}),
                       ("/boot-source", {"kernel_image_path": guest("virtio_net/net_guest64"),
                                         "boot_args": "console=ttyS0 ip=172.16.0.2 " + cmdline}),
                       ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "htap0",
                                                     "guest_mac": MAC}),
                       ("/mmds/config", {"version": version, "network_interfaces": ["eth0"]}),
                       ("/mmds", data or {"latest": {"meta-data": {"id": "i-1234", "zone": "z1"}}})):
        assert h.request("PUT", path, body) == (204, None), path
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    return h


def stop(h):
    """SIGTERM husk; its stderr, which no sanitizer report may be in."""
    code, _, err = h.stop()
    assert "Sanitizer" not in err and "runtime error" not in err, err[-3000:]
    return err


def mmds_line(serial, what):
    m = re.search(rf"net-guest: mmds {what} status=(\d+) body=(.*)", serial)
    assert m, serial
    return int(m.group(1)), m.group(2)


def test_guest_reads_metadata_v1(husk_bin, guest, tmp_path, netns):
    before = tap_stat(netns, "htap0", "rx_packets")
    h = start(husk_bin, guest, tmp_path, netns, "mmds=/latest/meta-data/id")
    out = h.read_serial(until="net-guest: ready")
    assert "net-guest: mmds arp ok" in out, out
    assert mmds_line(out, "get") == (200, "i-1234")
    # ARP, the handshake, the request, the ACKs and the FINs all went to
    # MMDS: the tap got nothing from the guest
    assert tap_stat(netns, "htap0", "rx_packets") == before
    # and the rest of the guest's traffic still passes to the tap
    assert ping(netns, "172.16.0.2", count=2) == 2
    assert tap_stat(netns, "htap0", "rx_packets") > before
    # the host's PATCH is what the store holds now
    assert h.request("PATCH", "/mmds", {"latest": {"meta-data": {"id": "i-5678"}}}) == (204, None)
    assert h.request("GET", "/mmds")[1]["latest"]["meta-data"] == {"id": "i-5678", "zone": "z1"}
    assert "API PATCH /mmds -> 204" in stop(h)


def test_guest_v2_needs_a_token(husk_bin, guest, tmp_path, netns):
    h = start(husk_bin, guest, tmp_path, netns, "mmds=/latest/meta-data/zone mmds_token", version="V2")
    out = h.read_serial(until="net-guest: ready")
    status, body = mmds_line(out, "get")
    assert status == 401 and "No MMDS token provided" in body
    status, token = mmds_line(out, "token")
    assert status == 200 and re.fullmatch(r"[0-9a-f]{64}", token), token
    assert mmds_line(out, "get-with-token") == (200, "z1")
    assert mmds_line(out, "get-wrong-token") == (401, "MMDS token not valid.")
    assert h.proc.poll() is None
    # in Firecracker's metrics: 4 connections of 1 request each, opened
    # and closed, one GET without a token and one with a wrong one
    assert h.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
    totals = metrics_totals(tmp_path / "metrics")
    # the interface's own group has every leaf of Firecracker's net group
    assert sorted(totals["net_eth0"]) == sorted(totals["net"]) and "mac_address_updates" in totals["net"], totals
    mm = totals["mmds"]
    assert mm["rx_count"] == 4 and mm["connections_created"] == 4 and mm["connections_destroyed"] == 4, mm
    assert mm["rx_no_token"] == 1 and mm["rx_invalid_token"] == 1, mm
    assert mm["rx_accepted"] >= 4 * 4 + 1 and mm["rx_accepted_err"] == 0, mm  # ARP, SYN, data, ACKs, FIN per request
    assert mm["tx_frames"] >= 4 * 3 + 1 and mm["tx_bytes"] > 4 * 100, mm
    # and in the log: 4 requests, 1 token
    assert ("mmds: 4 requests (0 unparsable or oversized), 1 tokens issued, 1 GETs without a token, "
            "1 with an invalid one") in stop(h)


def test_hostile_guest_floods_mmds(husk_bin, guest, tmp_path, netns):
    """300 half-open connections, 300 blind resets, 300 segments for no
    connection and 300 bad checksums, then a proper GET: the flood is
    dropped and counted, the table stays bounded, the GET is served and
    the API still answers while the guest runs."""
    h = start(husk_bin, guest, tmp_path, netns, "mmds=/latest/meta-data/id mmds_flood")
    out = h.read_serial(until="net-guest: ready")
    assert "net-guest: mmds flood sent" in out, out
    assert mmds_line(out, "get") == (200, "i-1234")
    assert h.request("GET", "/mmds")[0] == 200
    err = stop(h)
    m = re.search(r"mmds 169.254.169.254: (\d+) frames in \((\d+) malformed, (\d+) bad checksums, \d+ unsupported, "
                  r"\d+ out of window, (\d+) resets ignored, (\d+) without connection.*?"
                  r"(\d+) connections \((\d+) evicted\)", err)
    assert m, err
    frames, malformed, bad_csum, rsts, no_conn, conns, evicted = map(int, m.groups())
    assert frames >= 1200 and bad_csum == 300 and malformed == 0
    assert rsts >= 290 and no_conn >= 290
    assert conns == 301 and evicted >= 301 - 16


def test_snapshot_keeps_config_and_store(husk_bin, guest, tmp_path, netns):
    """A snapshot keeps MMDS's configuration and its data store (tokens
    are not kept: a restored guest asks for a new one)."""
    h = start(husk_bin, guest, tmp_path, netns, "mmds=/latest/meta-data/id", version="V2")
    h.read_serial(until="net-guest: ready")
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert h.request("PUT", "/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(state),
                                                 "mem_file_path": str(mem)}) == (204, None)
    stop(h)
    h = Husk(husk_bin, tmp_path / "b.sock", ("--level", "Info"), prefix=("ip", "netns", "exec", netns))
    assert h.request("PUT", "/snapshot/load", {"snapshot_path": str(state), "resume_vm": True,
                                               "mem_backend": {"backend_type": "File",
                                                               "backend_path": str(mem)}}) == (204, None)
    status, cfg = h.request("GET", "/vm/config")
    assert cfg["mmds-config"] == {"version": "V2", "network_interfaces": ["eth0"],
                                  "ipv4_address": "169.254.169.254", "imds_compat": False}
    assert h.request("GET", "/mmds") == (200, {"latest": {"meta-data": {"id": "i-1234", "zone": "z1"}}})
    assert ping(netns, "172.16.0.2", count=1) == 1
    assert "mmds 169.254.169.254:" in stop(h)  # the restored interface had its endpoint


def test_config_file_and_metadata_flag(husk_bin, guest, tmp_path, netns):
    """No API at all: mmds-config in the config file, the store from
    --metadata FILE (Firecracker's flag); the guest reads it."""
    cfg, md = tmp_path / "vm.json", tmp_path / "md.json"
    md.write_text(json.dumps({"latest": {"meta-data": {"id": "i-from-file"}}}))
    cfg.write_text(json.dumps({
        "boot-source": {"kernel_image_path": guest("virtio_net/net_guest64"),
                        "boot_args": "console=ttyS0 ip=172.16.0.2 mmds=/latest/meta-data/id"},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "htap0", "guest_mac": MAC}],
        "mmds-config": {"network_interfaces": ["eth0"], "ipv4_address": "169.254.169.254"}}))
    h = SerialHusk([husk_bin, "--config-file", str(cfg), "--no-api", "--metadata", str(md)],
                   prefix=("ip", "netns", "exec", netns))
    line = h.wait_line("net-guest: mmds get")
    assert "status=200 body=i-from-file" in line, line
    err = h.stop()
    assert "Sanitizer" not in err, err[-3000:]


def test_bad_metadata_file_stops_start_up(husk_bin, tmp_path):
    bad, big = tmp_path / "bad.json", tmp_path / "big.json"
    bad.write_text("{\"a\": ")
    big.write_text(json.dumps({"k": "x" * 200}))
    for path, extra, why in ((bad, [], "--metadata"), (big, ["--mmds-size-limit", "100"], "limit of 100 bytes"),
                             (tmp_path / "none.json", [], "--metadata")):
        r = subprocess.run([husk_bin, "--api-sock", str(tmp_path / "s.sock"), "--metadata", str(path), *extra],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and why in r.stderr, r.stderr
