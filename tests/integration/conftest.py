"""Shared fixtures: where the husk binary and the test guests are, and a
runner that boots a guest and returns its exit status, serial and log."""
import os
import pathlib
import subprocess

import pytest

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
def run_husk(husk_bin):
    """Run `husk run ARGS`; a guest that never ends fails the test by timeout."""
    def run(*args, timeout=60, env=None, prefix=()):
        return subprocess.run([*prefix, husk_bin, "run", *args], capture_output=True,
                              text=True, timeout=timeout, env=env)
    return run
