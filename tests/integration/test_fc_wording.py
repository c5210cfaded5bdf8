"""husk answers in Firecracker's words (issue 17 section 6): each
fault_message below is Firecracker v1.16's text, taken from its source
(api_server/parsed_request.rs, rpc_interface.rs, vmm_config/*.rs,
persist.rs), with husk's detail after it in parentheses where husk adds
one; the serde_json refusals carry serde_json's line and column. Deprecated
fields answer with Firecracker's `Deprecation: true` header, a warning in
the log and deprecated_api.deprecated_http_api_calls."""
import os

import pytest

from api_client import Conn, fault, metrics_totals

SERDE = "An error occurred when deserializing the json body of a request: "
AFTER = "The requested operation is not supported after starting the microVM."
BEFORE = "The requested operation is not supported before starting the microVM."
ENOENT = "No such file or directory (os error 2)"


def raw(h, method, path, body=None):
    """(status, body, headers) of a request whose body is sent byte for byte."""
    h.conn.send_raw(Conn.encode(method, path, body))
    return h.conn.read_response()


def boot(h, guest, tmp_path):
    assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}) == (204, None)
    assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("pvh_hello"),
                                             "boot_args": "console=ttyS0 hold"}) == (204, None)
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    h.read_serial(until="husk-guest: holding")


def test_refusals_before_the_vmm(husk):
    h = husk()
    code, body, _ = raw(h, "PUT", "/machine-config", b'{"mem_size_mib": 128}')
    assert (code, body["fault_message"]) == (400, SERDE + "missing field `vcpu_count` at line 1 column 21.")
    code, body, _ = raw(h, "PUT", "/machine-config", b'{\n "vcpu_count": 1,\n "mem_size_mib": 64,\n "vcpus": 2\n}')
    # Firecracker's fields in its order, then husk's extra
    assert body["fault_message"] == SERDE + "unknown field `vcpus`, expected one of `vcpu_count`, " \
        "`mem_size_mib`, `smt`, `cpu_template`, `track_dirty_pages`, `huge_pages`, `ht_enabled` at line 4 column 8."
    code, body, _ = raw(h, "PUT", "/actions", b'{"action_type": "Reboot"}')
    assert body["fault_message"].startswith(
        SERDE + "unknown variant `Reboot`, expected one of `InstanceStart`, `SendCtrlAltDel`, `FlushMetrics` "
        "at line 1 column 24.")
    assert fault(h.request("PATCH", "/boot-source", {"boot_args": "x"})) == \
        "Invalid request method and/or path: PATCH boot-source."
    assert fault(h.request("GET", "/no/such/path")) == "Invalid request method and/or path: GET no."
    assert fault(h.request("PUT", "/snapshot/restore", {})) == \
        "Invalid request method and/or path: PUT /snapshot/restore."
    assert fault(h.request("PUT", "/snapshot", {})) == "Missing snapshot operation type."
    assert fault(h.request("PUT", "/machine-config")) == "Empty PUT request."
    assert fault(h.request("PATCH", "/machine-config", {})) == "Empty PATCH request."
    assert fault(h.request("GET", "/machine-config", {})) == "GET request cannot have a body."
    assert fault(h.request("PUT", "/drives", {"drive_id": "a"})) == "The ID cannot be empty."
    assert fault(h.request("PUT", "/network-interfaces/a", {"iface_id": "b", "host_dev_name": "t"})) == \
        "The id from the path [a] does not match the id from the body [b]!"
    load = {"snapshot_path": "/s", "mem_file_path": "/m",
            "mem_backend": {"backend_type": "File", "backend_path": "/m"}}
    assert fault(h.request("PUT", "/snapshot/load", load)) == \
        SERDE + "too many fields: either `mem_backend` or `mem_file_path` exclusively is required."
    assert fault(h.request("PUT", "/snapshot/load", {"snapshot_path": "/s"})) == \
        SERDE + "missing field: either `mem_backend` or `mem_file_path` is required."
    big = Conn(h.sock_path)
    big.send_raw(Conn.encode("PUT", "/boot-source", b"x" * 51201))
    assert big.read_response()[:2] == (400, {"fault_message": "Request payload with size 51201 is larger than "
                                                              "the limit of 51200 allowed by server."})
    big.close()
    assert h.request("GET", "/vm/config")[1]["machine-config"]["vcpu_count"] == 1  # nothing was taken


def test_files_that_cannot_be_opened(husk, tmp_path):
    h = husk()
    k = tmp_path / "no-kernel"
    assert fault(h.request("PUT", "/boot-source", {"kernel_image_path": str(k)})) == \
        f"Boot source error: The kernel file cannot be opened: {ENOENT} (kernel_image_path {k})"
    real = tmp_path / "kernel"
    real.write_bytes(b"\0")
    assert fault(h.request("PUT", "/boot-source", {"kernel_image_path": str(real), "initrd_path": str(k)})) == \
        "Boot source error: The initrd file cannot be opened due to invalid path or invalid permissions. " \
        f"{ENOENT} (initrd_path {k})"
    d = tmp_path / "no-disk"
    assert fault(h.request("PUT", "/drives/d", {"drive_id": "d", "path_on_host": str(d),
                                                "is_root_device": False})) == \
        "Drive config error: Unable to create the virtio block device: Virtio backend error: Error " \
        f"manipulating the backing file: {ENOENT} {d}"
    assert fault(h.request("PUT", "/logger", {"log_path": str(tmp_path / "x" / "log")})).startswith(
        f"Logger error: Failed to open target file: {ENOENT}")
    assert fault(h.request("PUT", "/metrics", {"metrics_path": str(tmp_path / "x" / "m")})).startswith(
        f"Metrics error: Cannot initialize the metrics system due to bad user input: {ENOENT}")
    assert fault(h.request("PUT", "/actions", {"action_type": "InstanceStart"})).startswith(
        "Start microvm error: Cannot start microvm without kernel configuration.")


def test_configuration_checks(husk, tmp_path):
    h = husk()
    vcpus = "Machine config error: The number of vCPUs must be greater than 0, less than 32 and must be 1 " \
        "or an even number if SMT is enabled."
    assert fault(h.request("PUT", "/machine-config", {"vcpu_count": 0, "mem_size_mib": 64})) == \
        vcpus + " (vcpu_count 0)"
    assert fault(h.request("PUT", "/machine-config", {"vcpu_count": 3, "mem_size_mib": 64, "smt": True})) == vcpus
    assert fault(h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 0})).startswith(
        "Machine config error: The memory size (MiB) is either 0, or not a multiple of the configured page size.")
    assert h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}) == (204, None)
    assert fault(h.request("GET", "/balloon")) == "Balloon config error: No balloon device found."
    assert fault(h.request("PUT", "/balloon", {"amount_mib": 65, "deflate_on_oom": False})).startswith(
        "Balloon config error: Amount of pages requested is too large.")
    assert fault(h.request("PATCH", "/balloon", {"amount_mib": 1})) == BEFORE
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    assert h.request("PUT", "/drives/a", {"drive_id": "a", "path_on_host": str(disk),
                                          "is_root_device": True}) == (204, None)
    assert fault(h.request("PUT", "/drives/b", {"drive_id": "b", "path_on_host": str(disk),
                                                "is_root_device": True})).startswith(
        "Drive config error: A root block device already exists!")
    assert fault(h.request("PUT", "/drives/b", {"drive_id": "c", "path_on_host": str(disk),
                                                "is_root_device": False})).startswith(
        "The id from the path does not match the id from the body!")
    mac = "06:00:ac:10:00:02"
    assert h.request("PUT", "/network-interfaces/e0", {"iface_id": "e0", "host_dev_name": "tap0",
                                                       "guest_mac": mac}) == (204, None)
    assert fault(h.request("PUT", "/network-interfaces/e1", {"iface_id": "e1", "host_dev_name": "tap1",
                                                             "guest_mac": mac})).startswith(
        f"Network config error: The MAC address is already in use: {mac}")
    assert fault(h.request("PUT", "/mmds/config", {"network_interfaces": []})) == \
        "MMMDS config error: The list of network interface IDs that allow forwarding MMDS requests is empty."
    assert fault(h.request("PUT", "/mmds/config", {"network_interfaces": ["e9"]})).startswith(
        "MMMDS config error: The list of network interface IDs provided contains at least one ID that does not "
        "correspond to any existing network interface.")
    assert fault(h.request("PUT", "/mmds/config", {"network_interfaces": ["e0"],
                                                   "ipv4_address": "10.0.0.1"})).startswith(
        "MMMDS config error: The MMDS IPv4 address is not link local.")
    assert fault(h.request("PATCH", "/mmds", {"a": 1})).startswith(
        "MMDS error: The MMDS data store is not initialized.")
    code, body, _ = raw(h, "PUT", "/entropy", b'{"rate_limiter": {"bandwidth": {"size": 1}}}')
    assert body["fault_message"] == SERDE + "missing field `refill_time` at line 1 column 42. " \
        "(rate_limiter: bandwidth: missing field `refill_time`)"


def test_before_and_after_start(husk, guest, tmp_path):
    h = husk()
    assert fault(h.request("PATCH", "/vm", {"state": "Paused"})) == BEFORE
    snap = {"snapshot_type": "Full", "snapshot_path": str(tmp_path / "s"), "mem_file_path": str(tmp_path / "m")}
    assert fault(h.request("PUT", "/snapshot/create", snap)) == BEFORE
    assert fault(h.request("PATCH", "/drives/a", {"drive_id": "a", "path_on_host": "/x"})) == BEFORE
    boot(h, guest, tmp_path)
    assert fault(h.request("PUT", "/actions", {"action_type": "InstanceStart"})) == AFTER
    assert fault(h.request("PUT", "/boot-source", {"kernel_image_path": guest("pvh_hello")})) == AFTER
    assert fault(h.request("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})) == AFTER
    assert fault(h.request("PUT", "/snapshot/load", {"snapshot_path": "/s", "mem_backend": {
        "backend_type": "File", "backend_path": "/m"}})) == AFTER
    assert fault(h.request("PUT", "/snapshot/create", snap)) == \
        "Create snapshot error: Cannot save the microVM state: Operation not allowed: " \
        "save/restore unavailable while running"
    assert fault(h.request("GET", "/balloon")) == \
        "Internal VMM error: Failed perform action on device: Device not found"
    assert fault(h.request("PATCH", "/balloon", {"amount_mib": 1})) == \
        "Balloon update error: Failed perform action on device: Device not found"
    assert fault(h.request("PATCH", "/drives/nope", {"drive_id": "nope", "path_on_host": "/x"})).startswith(
        "Drive config error: Unable to patch the block device: Failed perform action on device: Device not "
        "found Please verify the request arguments.")
    assert fault(h.request("PATCH", "/network-interfaces/nope", {"iface_id": "nope"})).startswith(
        "Network config error: Unable to update the net device: Failed perform action on device: Device not found")
    code, body, _ = raw(h, "PATCH", "/vm", b'{"state": "Stopped"}')
    assert body["fault_message"] == SERDE + "unknown variant `Stopped`, expected `Paused` or `Resumed` at line 1 " \
        "column 19. (state: must be one of \"Paused\", \"Resumed\")"
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert fault(h.request("PUT", "/snapshot/create", {**snap, "snapshot_path": str(tmp_path / "no" / "s")})) \
        .startswith(f"Create snapshot error: Cannot perform open on the snapshot backing file: {ENOENT}")
    assert h.request("PUT", "/snapshot/create", snap) == (204, None)


LOAD_ERROR = "Load snapshot error: Failed to restore from snapshot: "
STATE_ERROR = LOAD_ERROR + "Failed to get snapshot state from file: "


@pytest.mark.parametrize("content", [b"", b"husk", None], ids=["empty", "4 bytes", "absent"])
def test_snapshot_file_refused(husk, tmp_path, content):
    state = tmp_path / "vm.state"
    if content is not None:
        state.write_bytes(content)
    h = husk()
    msg = fault(h.request("PUT", "/snapshot/load", {"snapshot_path": str(state), "mem_backend": {
        "backend_type": "File", "backend_path": str(tmp_path / "vm.mem")}}))
    if content is None:
        assert msg == STATE_ERROR + f"Failed to open snapshot file: {ENOENT} ({state})"
    else:
        assert msg.startswith(STATE_ERROR + "Failed to load snapshot state from file: Snapshot file is smaller "
                              "than CRC length."), msg
    assert h.request("GET", "/")[1]["state"] == "Not started"


def test_snapshot_memory_file_refused(husk, guest, tmp_path):
    h = husk()
    boot(h, guest, tmp_path)
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert h.request("PUT", "/snapshot/create", {"snapshot_path": str(state), "mem_file_path": str(mem)}) == \
        (204, None)
    h.stop()
    cut = tmp_path / "cut.state"
    cut.write_bytes(state.read_bytes()[:-100])
    h = husk()
    msg = fault(h.request("PUT", "/snapshot/load", {"snapshot_path": str(cut), "mem_file_path": str(mem)}))
    assert msg.startswith(STATE_ERROR + "Failed to load snapshot state from file: CRC64 validation failed: "), msg
    gone = tmp_path / "gone.mem"
    msg = fault(h.request("PUT", "/snapshot/load", {"snapshot_path": str(state), "mem_file_path": str(gone)}))
    assert msg == LOAD_ERROR + "Failed to load guest memory: Error creating guest memory from file: " \
        f"Failed to load guest memory: {ENOENT} ({gone})"


def test_deprecated_fields_carry_the_header_a_warning_and_a_count(husk, tmp_path):
    h = husk()
    log, metrics = tmp_path / "husk.log", tmp_path / "metrics"
    assert h.request("PUT", "/logger", {"log_path": str(log), "level": "Warning"}) == (204, None)
    metrics.touch()
    assert h.request("PUT", "/metrics", {"metrics_path": str(metrics)}) == (204, None)
    deprecated = [
        ("PUT", "/vsock", {"vsock_id": "v", "guest_cid": 3, "uds_path": str(tmp_path / "v.sock")},
         204, "PUT /vsock: vsock_id field is deprecated."),
        ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64, "cpu_template": "None"},
         204, "PUT /machine-config: cpu_template field is deprecated."),
        ("PATCH", "/machine-config", {"cpu_template": "None"},
         204, "PATCH /machine-config: cpu_template field is deprecated."),
        # the header comes with a refusal too, once the body was taken
        ("PUT", "/mmds/config", {"network_interfaces": ["nope"]},
         400, "PUT /mmds/config: V1 is deprecated. Use V2 instead."),
        ("PUT", "/snapshot/load", {"snapshot_path": str(tmp_path / "s"), "mem_file_path": str(tmp_path / "m")},
         400, "PUT /snapshot/load: mem_file_path and enable_diff_snapshots fields are deprecated."),
    ]
    for method, path, body, status, warning in deprecated:
        code, _, headers = raw(h, method, path, body)
        assert (code, headers.get("deprecation")) == (status, "true"), (path, headers)
        assert warning in log.read_text(), warning
    current = [("PUT", "/vsock", {"guest_cid": 3, "uds_path": str(tmp_path / "v.sock")}),
               ("PUT", "/mmds/config", {"version": "V2", "network_interfaces": ["nope"]}),
               ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})]
    for method, path, body in current:
        assert "deprecation" not in raw(h, method, path, body)[2], path
    # a body refused before it was taken carries no header
    assert "deprecation" not in raw(h, "PUT", "/vsock", {"vsock_id": "v", "guest_cid": 3})[2]
    assert h.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
    assert metrics_totals(metrics)["deprecated_api"]["deprecated_http_api_calls"] == len(deprecated)
    assert os.path.getsize(log) > 0
