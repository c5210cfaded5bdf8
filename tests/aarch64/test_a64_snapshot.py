"""Snapshot and restore of an aarch64 VM on arm64 KVM (arm L1): the
counter guest (tests/guests/aarch64/counter.c: vCPU 1 started by PSCI
CPU_ON counts in memory, vCPU 0 prints ticks paced by the virtual
counter) is snapshotted mid-run through the API (`husk snapshot create`,
with husk's default seccomp filters), its husk killed, and the snapshot
loaded by a new husk: the copy must go on from the tick it was saved at
(vCPU registers from KVM_GET_REG_LIST, the GICv3 state, the timer), with
vCPU 1 still counting and the counter never going backwards.

The source also tracks dirty pages (arm64 KVM's dirty log): a Diff taken
after the Full holds only the pages written since, and merged onto the
Full's memory (snapshot-merge) it restores through the Uffd backend
(tools/uffd-handler serving the merged file) and goes on from the Diff's
tick."""
import os
import re
import tempfile
from pathlib import Path

import pytest

from l1 import TOP, run_arm_l1

BUILD = Path(os.environ.get("HUSK_ARM_BUILD", TOP / "build-arm64"))

# busybox sh; $1 the build, $2 a shared directory, $3 api-probe's. The
# API socket is not on the 9p share (no unix sockets there). wait_for
# polls the output for a line (bounded, and gives up if husk died): the
# guest's progress is the only signal there is.
SCRIPT = r'''
B=$1; D=$2; P=$3; S=/run/husk-api.sock
cat > $D/vm.json <<J
{"boot-source": {"kernel_image_path": "$B/tests/guests/aarch64/counter.bin"},
 "machine-config": {"vcpu_count": 2, "mem_size_mib": 64, "track_dirty_pages": true}}
J
wait_for() {
	i=0
	while ! grep -q "$2" $1; do
		i=$((i+1)); [ $i -gt 1200 ] && return 1; kill -0 $3 || return 1; sleep 0.1
	done
}
$B/husk --api-sock $S --config-file $D/vm.json > $D/source 2>&1 &
pid=$!
wait_for $D/source "^tick 3 " $pid 2>/dev/null || exit 11
# Each snapshot leaves the source paused (--keep-paused): a copy of its
# output then ends where the snapshot's vCPUs stopped; api-probe resumes it.
snapshot() { # NAME MEM_FILE TYPE
	$B/husk snapshot create --api-sock $S --snapshot $D/$1 --mem-file $2 --type $3 \
		--keep-paused || exit 12
	cp $D/source $D/source.at-$1
}
last_tick() { sed -n 's/^tick \([0-9]*\) cpu1=[0-9]*$/\1/p' $1 | tail -n 1; }
snapshot snap $D/mem Full
$P/api-probe $S PATCH /vm '{"state": "Resumed"}'
wait_for $D/source "^tick $(($(last_tick $D/source.at-snap) + 3)) " $pid || exit 14
snapshot diff $D/diff.mem Diff
kill $pid; wait $pid
echo "diff pages $(du -k $D/diff.mem | cut -f1) KiB of $(($(stat -c %s $D/mem) / 1024)) KiB"
$B/husk snapshot load --resume --snapshot $D/snap --mem-file $D/mem > $D/restored 2>&1 &
pid=$!
wait_for $D/restored "^tick $(($(last_tick $D/source.at-snap) + 4)) " $pid || exit 13
kill $pid; wait $pid
cp $D/mem /tmp/merged.mem
$B/tools/snapshot-merge/snapshot-merge /tmp/merged.mem $D/diff.mem || exit 16
$B/tools/uffd-handler/uffd-handler /tmp/uffd.sock /tmp/merged.mem > $D/handler 2>&1 &
handler=$!
wait_for $D/handler listening $handler || exit 17
$B/husk snapshot load --resume --snapshot $D/diff --uffd-sock /tmp/uffd.sock > $D/uffd 2>&1 &
pid=$!
wait_for $D/uffd "^tick $(($(last_tick $D/source.at-diff) + 4)) " $pid || exit 18
kill $pid; wait $pid
wait $handler
exit 0
'''


def ticks(text):
    return [(int(n), int(c)) for n, c in re.findall(r"^tick (\d+) cpu1=(\d+)$", text, re.M)]


@pytest.fixture(scope="module")
def run(arm_probes):
    """The script's output and the files it leaves: source, restored,
    diff.mem, mem, handler, uffd (one level-1 boot for the module)."""
    assert (BUILD / "tests/guests/aarch64/counter.bin").exists(), "build build-arm64 first"
    with tempfile.TemporaryDirectory() as d:
        Path(d, "run.sh").write_text(SCRIPT)
        rc, out = run_arm_l1(f"sh {d}/run.sh {BUILD} {d} {arm_probes}", rw=[d], cpus=2,
                             timeout=300)
        files = {f: Path(d, f).read_text(errors="replace") if Path(d, f).exists() else ""
                 for f in ("source", "source.at-snap", "source.at-diff", "restored", "handler",
                           "uffd")}
    report = out + "".join(f"\n--- {f}\n{text}" for f, text in files.items())
    assert rc == 0, report
    return out, files, report


def goes_on_from(at_snapshot, restored, source, backend):
    """at_snapshot: the source's output when the snapshot was taken."""
    # the last whole line before the pause; the next, maybe cut by it, is
    # finished by the copy
    last = ticks(at_snapshot.rsplit("\n", 1)[0])[-1][0]
    after = ticks(restored)
    assert after, restored
    # the first whole line after the restore continues the count, no reboot
    assert after[0][0] in (last + 1, last + 2), (last, restored)
    assert [n for n, _ in after] == list(range(after[0][0], after[0][0] + len(after)))
    # vCPU 1 keeps counting from where it was
    assert all(b[1] > a[1] for a, b in zip(after, after[1:])), restored
    assert after[0][1] > ticks(source)[0][1]
    for bad in ("stuck", "backwards", "tick 0 "):
        assert bad not in restored, restored
    assert f"loaded ({backend} backend), resumed" in restored, restored


def test_restored_vm_goes_on_where_it_stopped(run):
    out, files, report = run
    assert re.search(r"^204 ", out, re.M), out  # api-probe's PATCH /vm Resumed
    goes_on_from(files["source.at-snap"], files["restored"], files["source"], "File")


def test_dirty_page_diff_merged_restores_through_uffd(run):
    out, files, report = run
    goes_on_from(files["source.at-diff"], files["uffd"], files["source"], "Uffd")
    # a sparse file of only the pages the guest wrote since the Full
    # (its stack, the counter), not its 64 MiB
    diff_kib, full_kib = map(int, re.search(r"^diff pages (\d+) KiB of (\d+) KiB$",
                                             out, re.M).groups())
    assert 0 < diff_kib < 1024 < full_kib, report
    # the handler served the faults and ended with husk
    served = int(re.search(r"served (\d+) pages", files["handler"]).group(1))
    assert served > 0, report
