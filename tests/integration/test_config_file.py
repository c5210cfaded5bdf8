"""husk --config-file: boots with no API call (--no-api), or boots and
serves the API; a bad file ends husk with status 1 and one line naming
the key, with nothing started."""
import json
import subprocess

from api_client import Husk


def write_cfg(tmp_path, doc):
    p = tmp_path / "vm.json"
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(p)


def run(husk_bin, *args, timeout=60):
    return subprocess.run([husk_bin, *args], capture_output=True, text=True, timeout=timeout)


def test_config_file_no_api_boots(husk_bin, guest, tmp_path):
    cfg = write_cfg(tmp_path, {
        "boot-source": {"kernel_image_path": guest("pvh_hello"), "boot_args": "console=ttyS0 marker=cfg-file"},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 96},
        "drives": [], "network-interfaces": [], "balloon": None,
    })
    r = run(husk_bin, "--config-file", cfg, "--no-api")
    assert r.returncode == 0, r.stderr
    assert "husk-guest: pvh ok" in r.stdout
    assert "marker=cfg-file" in r.stdout
    # the guest saw the memory size the file asked for (96 MiB less the holes)
    ram = int(r.stdout.split("husk-guest: ram ")[1].split()[0])
    assert 95 * 1024 <= ram <= 96 * 1024


def test_config_file_with_api(husk_bin, guest, tmp_path):
    cfg = write_cfg(tmp_path, {
        "boot-source": {"kernel_image_path": guest("pvh_hello"), "boot_args": "console=ttyS0 hold"},
        "machine-config": {"vcpu_count": 2, "mem_size_mib": 64},
        "balloon": {"amount_mib": 8, "deflate_on_oom": True},
    })
    h = Husk(husk_bin, tmp_path / "api.sock", ("--config-file", cfg))
    assert h.request("GET", "/")[1]["state"] == "Running"
    status, vmcfg = h.request("GET", "/vm/config")
    assert status == 200 and vmcfg["machine-config"]["vcpu_count"] == 2
    assert vmcfg["balloon"] == {"amount_mib": 8, "deflate_on_oom": True, "stats_polling_interval_s": 0,
                                "free_page_hinting": False, "free_page_reporting": False}
    # the device is there after boot: its target moves, statistics were off
    assert h.request("PATCH", "/balloon", {"amount_mib": 16}) == (204, None)
    assert h.request("GET", "/balloon")[1]["amount_mib"] == 16
    status, body = h.request("GET", "/balloon/statistics")
    assert status == 400 and body["fault_message"] == "Internal VMM error: Failed perform action on device: " \
        "Internal Device error: Received stats query when stats are disabled."
    status, body = h.request("GET", "/balloon/hinting/status")
    assert status == 400 and "free_page_hinting" in body["fault_message"]
    assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("pvh_hello")})[0] == 400
    assert "husk-guest: holding" in h.read_serial(until="husk-guest: holding")
    h.stop()


def bad(husk_bin, tmp_path, doc):
    r = run(husk_bin, "--config-file", write_cfg(tmp_path, doc), "--no-api")
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout == ""  # no guest ran
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_bad_config_file_names_the_key(husk_bin, guest, tmp_path):
    k = guest("pvh_hello")
    line = bad(husk_bin, tmp_path, {"boot-source": {"kernel_image_path": k},
                                    "machine-config": {"vcpu_count": 64, "mem_size_mib": 64}})
    assert "machine-config: Machine config error: The number of vCPUs must be greater than 0" in line
    line = bad(husk_bin, tmp_path, {"boot-source": {"kernel_image_path": k, "kernal": "x"}})
    assert "boot-source: unknown field `kernal`" in line
    line = bad(husk_bin, tmp_path, {"boot-source": {"kernel_image_path": k}, "drive": []})
    assert "drive: unknown key" in line
    line = bad(husk_bin, tmp_path, {"boot-source": {"kernel_image_path": k},
                                    "drives": [{"drive_id": "r", "path_on_host": str(tmp_path / "none"),
                                                "is_root_device": True}]})
    assert "drives: Drive config error: Unable to create the virtio block device: Virtio backend error: " \
        "Error manipulating the backing file: No such file or directory (os error 2) " + str(tmp_path / "none") in line
    line = bad(husk_bin, tmp_path, {"boot-source": {"kernel_image_path": k},
                                    "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
                                    "balloon": {"amount_mib": 65, "deflate_on_oom": False}})
    assert "balloon: Balloon config error: Amount of pages requested is too large. (amount_mib 65" in line
    line = bad(husk_bin, tmp_path, {"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}})
    assert "Start microvm error: Cannot start microvm without kernel configuration. " \
        "(boot-source: kernel_image_path is not set)" in line
    line = bad(husk_bin, tmp_path, "{ not json")
    assert "invalid JSON" in line
    r = run(husk_bin, "--config-file", str(tmp_path / "missing.json"), "--no-api")
    assert r.returncode == 1 and "cannot read" in r.stderr


def test_no_api_needs_config_file(husk_bin):
    r = run(husk_bin, "--no-api")
    assert r.returncode == 2
    assert "--config-file" in r.stderr
