"""Bad arguments and bad images end husk with a non-zero status and one
line that says why; nothing hangs."""
import os


def last_line(r):
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert lines, "no error message"
    return lines[-1] + "\n" + r.stderr


def test_missing_kernel_file(run_husk, tmp_path):
    r = run_husk("--kernel", str(tmp_path / "nope"))
    assert r.returncode != 0
    assert "cannot read kernel" in r.stderr and "No such file" in r.stderr


def test_garbage_kernel_refused(run_husk, tmp_path):
    k = tmp_path / "garbage"
    k.write_bytes(os.urandom(64 * 1024))
    r = run_husk("--kernel", str(k))
    assert r.returncode != 0
    assert "not a loadable ELF or bzImage" in r.stderr


def test_truncated_elf_refused(run_husk, guest, tmp_path):
    data = open(guest("pvh_hello"), "rb").read()
    k = tmp_path / "truncated.elf"
    k.write_bytes(data[:200])
    r = run_husk("--kernel", str(k))
    assert r.returncode != 0
    assert "not a loadable" in r.stderr


def test_empty_kernel_refused(run_husk, tmp_path):
    k = tmp_path / "empty"
    k.write_bytes(b"")
    r = run_husk("--kernel", str(k))
    assert r.returncode != 0
    assert "not a non-empty regular file" in r.stderr


def test_too_much_memory(run_husk, guest):
    r = run_husk("--kernel", guest("pvh_hello"), "--mem", str(2 * 1024 * 1024))
    assert r.returncode != 0
    assert "out of range" in r.stderr


def test_bad_vcpu_count(run_husk, guest):
    for bad in ["0", "33", "two", "-1"]:
        r = run_husk("--kernel", guest("pvh_hello"), "--vcpus", bad)
        assert r.returncode == 2, bad
        assert "--vcpus must be 1..32" in r.stderr


def test_missing_kernel_flag(run_husk):
    r = run_husk()
    assert r.returncode == 2
    assert "needs --kernel" in r.stderr


def test_unknown_flag(run_husk, guest):
    r = run_husk("--kernel", guest("pvh_hello"), "--bogus")
    assert r.returncode == 2


def test_cmdline_too_long(run_husk, guest):
    r = run_husk("--kernel", guest("pvh_hello"), "--cmdline", "x" * 5000)
    assert r.returncode != 0
    assert "command line longer" in r.stderr
