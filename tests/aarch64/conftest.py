"""The pieces every aarch64 level-2 test needs, built once per session on
the host: the arm64 guest kernel and rootfs (cached builds), the static
arm64 probes (api-probe here, vsock-probe from tests/nested) and the
rootfs initramfs with vsock-probe and devices-l2 (test_arm_devices.py's
guest side) added."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from l1 import HERE, TOP

HUSK_ARM = Path(os.environ.get("HUSK_ARM_BIN")
                or Path(os.environ.get("HUSK_ARM_BUILD", TOP / "build-arm64")) / "husk")
CROSS_CC = "aarch64-linux-gnu-gcc"


def built(*argv):
    """Run a cached build script; it prints the directory of its output."""
    return Path(subprocess.run([str(TOP / a) if i == 0 else a for i, a in enumerate(argv)],
                               check=True, stdout=subprocess.PIPE, text=True).stdout.strip())


def cross_static(src, out, *flags):
    subprocess.run([CROSS_CC, "-std=gnu11", "-static", "-O2", "-Wall", "-Wextra", "-Werror",
                    *flags, "-o", str(out), str(src)], check=True)


@pytest.fixture(scope="session")
def arm_probes(tmp_path_factory):
    """A directory with the static arm64 api-probe and vsock-probe."""
    if shutil.which(CROSS_CC) is None:
        pytest.skip(f"{CROSS_CC} missing (tools/deps --arm64)")
    probes = tmp_path_factory.mktemp("arm-probes")
    cross_static(HERE / "api-probe.c", probes / "api-probe")
    # the cross toolchain's linux/vm_sockets.h uses struct sockaddr without
    # including <sys/socket.h>, which vsock-probe.c includes after it
    cross_static(TOP / "tests" / "nested" / "vsock-probe.c", probes / "vsock-probe",
                 "-include", "sys/socket.h")
    return probes


@pytest.fixture(scope="session")
def arm_guest(tmp_path_factory, arm_probes):
    """The guest's pieces, by the names l2-lib.sh reads."""
    kernel = built("guest-kernel/build.sh", "arm64") / "Image"
    rootfs = built("rootfs/build.sh", "arm64")
    probes = arm_probes
    # the kernel unpacks concatenated newc archives in order: a second one
    # adds /bin/vsock-probe and /bin/devices-l2 to the cached initramfs
    extra = tmp_path_factory.mktemp("arm-l2-extra")
    (extra / "bin").mkdir()
    shutil.copy(probes / "vsock-probe", extra / "bin" / "vsock-probe")
    shutil.copy(HERE / "devices-l2.sh", extra / "bin" / "devices-l2")
    (extra / "bin" / "devices-l2").chmod(0o755)
    cpio = subprocess.run("find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0",
                          shell=True, cwd=extra, check=True, stdout=subprocess.PIPE).stdout
    initrd = probes / "initrd"
    initrd.write_bytes((rootfs / "initramfs.cpio").read_bytes() + cpio)
    return {"ARM_KERNEL": str(kernel), "ARM_INITRD": str(initrd),
            "ARM_ROOTFS": str(rootfs / "rootfs.ext4"), "ARM_PROBES": str(probes)}


@pytest.fixture(scope="session")
def arm_env(arm_guest):
    """--env values for tools/l1/run that l2-lib.sh reads."""
    if not HUSK_ARM.exists():
        pytest.skip(f"{HUSK_ARM} not built (the aarch64 cross build)")
    return {"HUSK_ARM": str(HUSK_ARM), **arm_guest}
