"""The run leaves nothing behind: no process a test started, and no tap,
network namespace, mount or listening Unix socket that was not there
before the run (conftest.py records both)."""
import pytest

from conftest import BASELINE, LEFT_BEHIND, system_state


@pytest.mark.last_in_run
def test_no_process_outlived_its_test():
    assert not LEFT_BEHIND, "\n".join(f"{t}: {w}" for t, w in LEFT_BEHIND)


@pytest.mark.last_in_run
def test_nothing_left_on_the_system():
    now = system_state()
    left = {kind: sorted(now[kind] - BASELINE.get(kind, set())) for kind in now}
    left = {k: v for k, v in left.items() if v}
    assert not left, left
