"""Without /dev/kvm husk fails at once, with a line that names it, in every
mode: `husk run`, a config file with --no-api, and the API (InstanceStart
answers 400 naming /dev/kvm).  /dev/kvm is hidden by an empty /dev in a
private mount namespace, so this holds on every host."""
import shutil
import subprocess

import pytest

from api_client import Husk

NO_KVM = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
          "mount -t tmpfs none /dev && mknod /dev/null c 1 3 && exec \"$@\"", "no-kvm"]

pytestmark = pytest.mark.skipif(shutil.which("unshare") is None, reason="no unshare(1)")


def last_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    assert lines, "no output"
    return lines[-1]


def test_run_mode_names_dev_kvm(husk_bin, guest):
    r = subprocess.run([*NO_KVM, husk_bin, "run", "--kernel", guest("pvh_hello")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""
    assert last_line(r.stderr) == "husk: the VM did not start: cannot open /dev/kvm: No such file or directory"


def test_config_file_mode_names_dev_kvm(husk_bin, guest, tmp_path):
    cfg = tmp_path / "vm.json"
    cfg.write_text('{"boot-source": {"kernel_image_path": "%s"}}' % guest("pvh_hello"))
    r = subprocess.run([*NO_KVM, husk_bin, "--config-file", str(cfg), "--no-api"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1, r.stderr
    assert "cannot open /dev/kvm" in last_line(r.stderr), r.stderr


def test_instance_start_answers_400_naming_dev_kvm(husk_bin, guest, tmp_path):
    h = Husk(husk_bin, tmp_path / "api.sock", prefix=NO_KVM)
    assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("pvh_hello")}) == (204, None)
    code, body = h.request("PUT", "/actions", {"action_type": "InstanceStart"})
    assert code == 400, body
    assert body["fault_message"] == "Start microvm error: cannot open /dev/kvm: No such file or directory"
    # the API stays up and says what happened
    code, body = h.request("GET", "/")
    assert code == 200 and body["state"] == "Not started"
    h.stop()
