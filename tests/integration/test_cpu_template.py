"""CPU templates: the guest (cpuid_dump) sees exactly what a template
forces and nothing else changes; the templates made for the other CPU
vendor are refused by name; a custom template (PUT /cpu-config) applies
the same way; one that forces on a bit this host's KVM cannot give fails
InstanceStart naming leaf, register and bits while the API keeps
answering; a snapshot whose CPUID this host's KVM cannot give is refused
on restore and the same process restores a good one."""
import json
import os
import re
import struct
import subprocess

import pytest

from api_client import Husk
from test_snapshot import full_snapshot, refused_then_good, rewrite_section, sections

SEC_VCPU_CPUID = 0x20A  # vmm/snapshot/format.h SNAP_SEC_VCPU_CPUID
REGS = ("eax", "ebx", "ecx", "edx")

# T2A's effect, (leaf, subleaf, register, bits forced, their values),
# from Firecracker's JSON form of the template (T2A.json)
T2A = [
    (0x1, 0, "eax", 0x0FFF3FFF, 0x000306F2),
    (0x1, 0, "ecx", 0x0004CDFC, 0),
    (0x1, 0, "edx", 0xE8641080, 0x00001080),
    (0x7, 0, "ebx", 0xFFEFDA14, 0x00000200),
    (0x7, 0, "ecx", 0x40415F5E, 0),
    (0x7, 0, "edx", 0x0000011C, 0),
    (0xD, 0, "eax", 0x000002F8, 0),
    (0xD, 1, "eax", 0x0000000E, 0),
    (0x80000001, 0, "ecx", 0x200001C4, 0),
    (0x80000001, 0, "edx", 0x06400000, 0),
    (0x80000008, 0, "ebx", 0x001C0205, 0x001C0004),
]
INTEL_TEMPLATES = ("C3", "T2", "T2S", "T2CL")


@pytest.fixture(scope="module", autouse=True)
def need_kvm():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm")



# PVM, the software KVM (kvm_pvm), runs guest code on the CPU without
# trapping CPUID: KVM_SET_CPUID2, and so any template, does not reach what
# the guest reads, and husk refuses templates there
# (test_template_this_kvm_does_not_apply_fails_instance_start). The tests
# of what the guest sees cannot run there; the other refusals and the host
# checks still do.
def skip_where_cpuid_is_not_virtualised():
    if os.path.exists("/sys/module/kvm_pvm"):
        pytest.skip("this host's KVM is PVM (kvm_pvm): guest CPUID is the CPU's own, templates cannot show")

def host_vendor():
    with open("/proc/cpuinfo") as f:
        return re.search(r"^vendor_id\s*:\s*(\S+)", f.read(), re.M).group(1)


def cpuid_lines(text):
    """{(leaf, subleaf): {register: value}, ("msr", index): value} from
    cpuid_dump's lines."""
    out = {}
    for m in re.finditer(r"husk-guest: cpuid ([0-9a-f]+) ([0-9a-f]+): ([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+)",
                         text):
        out[(int(m.group(1), 16), int(m.group(2), 16))] = dict(zip(REGS, (int(v, 16) for v in m.groups()[2:])))
    for m in re.finditer(r"husk-guest: msr ([0-9a-f]+): ([0-9a-f]+)", text):
        out[("msr", int(m.group(1), 16))] = int(m.group(2), 16)
    assert "husk-guest: cpuid done" in text, text
    return out


def boot_dump(husk_bin, guest, tmp_path, machine_extra=None, cpu_config=None):
    doc = {"boot-source": {"kernel_image_path": guest("cpuid_dump")},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 64, **(machine_extra or {})}}
    if cpu_config is not None:
        doc["cpu-config"] = cpu_config
    cfg = tmp_path / "vm.json"
    cfg.write_text(json.dumps(doc))
    r = subprocess.run([husk_bin, "--config-file", str(cfg), "--no-api"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return cpuid_lines(r.stdout)


def assert_template_seen(seen, control, rows):
    for leaf, sub, reg, filt, val in rows:
        got, base = seen[(leaf, sub)][reg], control[(leaf, sub)][reg]
        assert got & filt == val, f"leaf {leaf:#x}.{sub} {reg}: {got:#010x} & {filt:#x} != {val:#x}"
        # the bits the template leaves are the untemplated guest's
        assert got & ~filt == base & ~filt, f"leaf {leaf:#x}.{sub} {reg}: {got:#010x} vs {base:#010x}"


def test_static_template_for_this_vendor_is_what_the_guest_sees(husk_bin, guest, tmp_path):
    skip_where_cpuid_is_not_virtualised()
    if host_vendor() != "AuthenticAMD":
        pytest.skip("T2A is the AMD template; the level-1 machine is AMD")
    control = boot_dump(husk_bin, guest, tmp_path)
    seen = boot_dump(husk_bin, guest, tmp_path, {"cpu_template": "T2A"})
    assert_template_seen(seen, control, T2A)
    # the template changed something the untemplated guest sees (SVM, SSE4A
    # on this AMD host): the comparison above is not vacuous
    assert any(control[(l, s)][r] & f != v for l, s, r, f, v in T2A)


def test_templates_of_the_other_vendor_refused(husk_bin, tmp_path):
    amd = host_vendor() == "AuthenticAMD"
    refused = INTEL_TEMPLATES if amd else ("T2A",)
    h = Husk(husk_bin, tmp_path / "api.sock")
    for name in refused:
        status, body = h.request("PUT", "/machine-config",
                                 {"vcpu_count": 1, "mem_size_mib": 64, "cpu_template": name})
        assert status == 400, body
        made_for = "Intel" if amd else "AMD"
        assert body["fault_message"] == (f"cpu_template: {name} is made for {made_for} CPUs and this "
                                          f"host's is {host_vendor()}")
    accepted = "T2A" if amd else "T2"
    assert h.request("PUT", "/machine-config",
                     {"vcpu_count": 1, "mem_size_mib": 64, "cpu_template": accepted}) == (204, None)
    assert h.request("GET", "/machine-config")[1]["cpu_template"] == accepted
    h.stop()


# SSE3 (leaf 1 ECX bit 0) off, FSGSBASE (leaf 7 EBX bit 0) left as it is,
# SSE2 (leaf 1 EDX bit 26, every x86-64 has it) forced on
CUSTOM = {"cpuid_modifiers": [
    {"leaf": "0x1", "subleaf": "0x0", "flags": 0, "modifiers": [
        {"register": "ecx", "bitmap": "0b" + "x" * 31 + "0"},
        {"register": "edx", "bitmap": "0bxxxxx1" + "x" * 26}]}],
    "msr_modifiers": []}


def test_custom_template_is_what_the_guest_sees(husk_bin, guest, tmp_path):
    skip_where_cpuid_is_not_virtualised()
    control = boot_dump(husk_bin, guest, tmp_path)
    assert control[(1, 0)]["ecx"] & 1, "the control guest has SSE3"
    seen = boot_dump(husk_bin, guest, tmp_path, cpu_config=CUSTOM)
    assert_template_seen(seen, control, [(1, 0, "ecx", 1, 0), (1, 0, "edx", 1 << 26, 1 << 26)])
    for key in control:
        if key != (1, 0):
            assert seen[key] == control[key]


ARCH_CAPABILITIES = ("msr", 0x10A)


def test_custom_msr_modifier_is_what_the_guest_reads(husk_bin, guest, tmp_path):
    control = boot_dump(husk_bin, guest, tmp_path)
    if not control.get(ARCH_CAPABILITIES):
        pytest.skip("this host's KVM gives the guest no IA32_ARCH_CAPABILITIES bits")
    base = control[ARCH_CAPABILITIES]
    bit = (base & -base).bit_length() - 1  # its lowest bit set is forced off
    seen = boot_dump(husk_bin, guest, tmp_path, cpu_config={"msr_modifiers": [
        {"addr": "0x10a", "bitmap": "0b" + "x" * (63 - bit) + "0" + "x" * bit}]})
    assert seen[ARCH_CAPABILITIES] == base & ~(1 << bit)
    for key in control:
        if key != ARCH_CAPABILITIES:
            assert seen[key] == control[key]


# forcing on what no KVM offers: leaf 1 EDX bit 10 and IA32_ARCH_CAPABILITIES
# bit 63 are reserved; MSR 0x12345 does not exist
CANNOT_GIVE = [
    ({"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0,
                           "modifiers": [{"register": "edx", "bitmap": "0b1" + "x" * 10}]}]},
     "cpu template: leaf 0x1 subleaf 0x0 register edx bits 10 (0x400) are not supported by this host's KVM"),
    ({"msr_modifiers": [{"addr": "0x10a", "bitmap": "0b1" + "x" * 63}]},
     "cpu template: MSR 0x10a bits 0x8000000000000000 are not supported by this host's KVM"),
    ({"msr_modifiers": [{"addr": "0x12345", "bitmap": "0b0"}]},
     "cpu template: MSR 0x12345 is not one this host's KVM has"),
]


@pytest.mark.parametrize("tmpl,why", CANNOT_GIVE, ids=["cpuid", "feature_msr", "unknown_msr"])
def test_custom_template_the_host_cannot_give_fails_instance_start(husk_bin, guest, tmp_path, tmpl, why):
    h = Husk(husk_bin, tmp_path / "api.sock")
    assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("cpuid_dump")}) == (204, None)
    assert h.request("PUT", "/cpu-config", tmpl) == (204, None)
    shown = h.request("GET", "/vm/config")[1]["cpu-config"]
    assert len(shown["cpuid_modifiers"]) == len(tmpl.get("cpuid_modifiers", []))
    assert len(shown["msr_modifiers"]) == len(tmpl.get("msr_modifiers", []))
    status, body = h.request("PUT", "/actions", {"action_type": "InstanceStart"})
    assert status == 400
    assert body["fault_message"] == "InstanceStart failed: " + why
    # the process keeps answering
    status, info = h.request("GET", "/")
    assert status == 200 and info["state"] == "Not started"
    assert h.request("GET", "/vm/config")[0] == 200
    h.stop()


def test_snapshot_with_a_cpuid_this_host_cannot_give_refused(husk_bin, tmp_path):
    state, mem, last = full_snapshot(tmp_path)
    data = state.read_bytes()

    def reserved_bit_on(p):
        p = bytearray(p)
        (nent,) = struct.unpack_from("<I", p, 0)
        for i in range(nent):
            off = 8 + 40 * i  # struct kvm_cpuid_entry2
            function, index = struct.unpack_from("<II", p, off)
            if function == 1:
                (edx,) = struct.unpack_from("<I", p, off + 24)
                struct.pack_into("<I", p, off + 24, edx | 1 << 10)
        return bytes(p)

    bad = tmp_path / "bad.state"
    bad.write_bytes(rewrite_section(data, SEC_VCPU_CPUID, reserved_bit_on))
    why = refused_then_good(tmp_path, bad, mem, state, last)
    msg = "vCPU 0: CPUID: leaf 0x1 subleaf 0x0 register edx bits 10 (0x400) are not supported by this host's KVM"
    assert why == "refused: " + msg, why
    # through the API: 400 with the same words, and husk goes on answering
    h = Husk(husk_bin, tmp_path / "api.sock")
    status, body = h.request("PUT", "/snapshot/load", {"snapshot_path": str(bad), "mem_backend": {
        "backend_type": "File", "backend_path": str(mem)}})
    assert status == 400 and msg in body["fault_message"], body
    assert h.request("GET", "/")[0] == 200
    h.stop()


def saved_cpuid(state, leaf, subleaf=0):
    """vCPU 0's CPUID entry for leaf.subleaf in a state file, {register: value}."""
    data = state.read_bytes()
    for off, typ, sid, length in sections(data):
        if typ != SEC_VCPU_CPUID or sid != 0:
            continue
        (nent,) = struct.unpack_from("<I", data, off + 16)
        for i in range(nent):
            function, index, _flags, *regs = struct.unpack_from("<7I", data, off + 16 + 8 + 40 * i)
            if (function, index) == (leaf, subleaf):
                return dict(zip(REGS, regs))
    raise AssertionError(f"no leaf {leaf:#x}.{subleaf} in {state}")


def test_template_this_kvm_does_not_apply_fails_instance_start(husk_bin, guest, tmp_path):
    # Where the vCPU's CPUID reads back other than set (PVM: the guest
    # runs CPUID on the CPU), a template would be silently without effect:
    # InstanceStart fails naming the first bits that did not take, and
    # the process keeps answering. Where KVM applies templates, the three
    # tests above check the guest sees them (and the nested T2A test).
    if not os.path.exists("/sys/module/kvm_pvm"):
        pytest.skip("this host's KVM applies CPUID: the tests above check what the guest sees")
    control = boot_dump(husk_bin, guest, tmp_path)
    assert control[(1, 0)]["ecx"] & 1, "the untemplated guest has SSE3, which CUSTOM clears"
    h = Husk(husk_bin, tmp_path / "api.sock")
    assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("cpuid_dump")}) == (204, None)
    assert h.request("PUT", "/cpu-config", CUSTOM) == (204, None)
    status, body = h.request("PUT", "/actions", {"action_type": "InstanceStart"})
    assert status == 400, body
    assert body["fault_message"].startswith(
        "InstanceStart failed: cpu template: this host's KVM did not apply it: leaf 0x1 subleaf 0x0 "
        "register ecx bits 0 read back otherwise"), body
    assert h.request("GET", "/")[1]["state"] == "Not started"
    h.stop()


def test_snapshot_keeps_the_templated_cpuid_and_restores_here(husk_bin, guest, tmp_path):
    skip_where_cpuid_is_not_virtualised()
    control = boot_dump(husk_bin, guest, tmp_path)
    h = Husk(husk_bin, tmp_path / "a.sock")
    assert h.request("PUT", "/boot-source", {"kernel_image_path": guest("cpuid_dump"),
                                             "boot_args": "console=ttyS0 hold"}) == (204, None)
    assert h.request("PUT", "/cpu-config", CUSTOM) == (204, None)
    assert h.request("PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    assert "husk-guest: holding" in h.read_serial(until="husk-guest: holding")
    state, mem = tmp_path / "s.state", tmp_path / "s.mem"
    assert h.request("PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert h.request("PUT", "/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(state),
                                                 "mem_file_path": str(mem)}) == (204, None)
    h.stop()
    # the template's effect is what the snapshot keeps: SSE3 off, SSE2 on,
    # the rest as the untemplated guest saw it
    leaf1 = saved_cpuid(state, 1)
    assert leaf1["ecx"] & 1 == 0 and control[(1, 0)]["ecx"] & 1
    assert leaf1["edx"] & (1 << 26)
    assert saved_cpuid(state, 0x80000001) == control[(0x80000001, 0)]
    # and this host's KVM can give it back
    h = Husk(husk_bin, tmp_path / "b.sock")
    assert h.request("PUT", "/snapshot/load", {"snapshot_path": str(state), "resume_vm": True,
                                               "mem_backend": {"backend_type": "File",
                                                               "backend_path": str(mem)}}) == (204, None)
    assert h.request("GET", "/")[1]["state"] == "Running"
    h.stop()
