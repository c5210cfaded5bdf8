#!/usr/bin/env python3
"""Write starting inputs for fuzz_devices (the op encoding of
tests/fuzz/fuzz_devices.c): for each device a driver bring-up, one valid
request on each queue in guest memory, and the kicks; the fuzzer mutates
from there. Usage: devices.py OUTDIR"""
import pathlib
import struct
import sys

REG_WRITE, REG_READ, MEM, NOTIFY, RUN, BRING_UP, HOST = range(7)
BLK, NET, VSOCK, RNG = range(4)
LIMITED = 4 * 4  # byte 0 flag: the tight rate limit
QSIZE_LOG2 = 4
F_INDIRECT, F_EVENT_IDX, NET_F_MRG_RXBUF = 1 << 28, 1 << 29, 1 << 15
RINGS = [(0x1000, 0x1800, 0x1c00), (0x2000, 0x2800, 0x2c00), (0x3000, 0x3800, 0x3c00)]


def mem(gpa, data):
    out = b""
    for off in range(0, len(data), 255):
        piece = data[off:off + 255]
        out += struct.pack("<BHB", MEM, gpa + off, len(piece)) + piece
    return out


def bring_up(features, nq):
    out = struct.pack("<BI", BRING_UP, features)
    for desc, avail, used in RINGS[:nq]:
        out += struct.pack("<BHHH", QSIZE_LOG2, desc, avail, used)
    return out


def chain(q, bufs, copies=1):
    """bufs: (gpa, len, device_writes); copies chains of them, the first
    from descriptor 0, offered in order, then the kick."""
    desc, avail, _ = RINGS[q]
    table, heads = b"", []
    for c in range(copies):
        heads.append(c * len(bufs))
        for i, (gpa, ln, w) in enumerate(bufs):
            flags = (2 if w else 0) | (1 if i + 1 < len(bufs) else 0)
            table += struct.pack("<QIHH", gpa, ln, flags, heads[-1] + i + 1)
    ring = struct.pack("<HH", 0, copies) + struct.pack("<%dH" % copies, *heads)
    return mem(desc, table) + mem(avail, ring) + bytes([NOTIFY, q])


def blk(sel, req_type, features=0, copies=1):
    hdr = struct.pack("<IIQ", req_type, 0, 1)
    return (bytes([sel]) + bring_up(features, 1) + mem(0x8000, hdr) + mem(0x9000, b"\xa5" * 512) +
            chain(0, [(0x8000, 16, False), (0x9000, 512, req_type in (0, 8)), (0x8100, 1, True)], copies))


def net(features, sel=NET, copies=1):
    frame = b"\xff" * 6 + b"\x06\0\0\0\0\x02" + b"\x08\x00" + bytes(46)
    pkt = bytes(12) + frame
    return (bytes([sel]) + bring_up(features, 2) + mem(0x9000, pkt) +
            chain(1, [(0x9000, len(pkt), False)], copies) +
            chain(0, [(0xa000, 2048, True)]) + struct.pack("<BH", HOST, len(pkt)) + pkt + bytes([NOTIFY, 0]))


def vsock_hdr(op, length=0):
    return struct.pack("<QQIIIHHIII", 3, 2, 1000, 1, length, 1, op, 0, 65536, 0)


def vsock():
    return (bytes([VSOCK]) + bring_up(0, 3) + mem(0x9000, vsock_hdr(1)) +
            chain(0, [(0xa000, 4096, True)]) + chain(1, [(0x9000, 44, False)]) +
            struct.pack("<BI", HOST, 1234) + bytes([RUN]))


def rng(sel=RNG, copies=1):
    return bytes([sel]) + bring_up(0, 1) + chain(0, [(0x9000, 64, True)], copies)


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    seeds = {
        "blk-read": blk(BLK, 0), "blk-write": blk(BLK, 1), "blk-get-id": blk(BLK, 8),
        "blk-flush-writeback": blk(BLK + 4 * 2, 4), "blk-ro-write": blk(BLK + 4, 1),
        "blk-indirect-event": blk(BLK, 0, F_INDIRECT | F_EVENT_IDX),
        "net": net(0), "net-mrg": net(NET_F_MRG_RXBUF | F_EVENT_IDX),
        "vsock": vsock(), "rng": rng(),
        "blk-limited": blk(BLK + LIMITED, 0, copies=3), "net-limited": net(0, NET + LIMITED, 3),
        "rng-limited": rng(RNG + LIMITED, 3),
    }
    for name, data in seeds.items():
        (out / ("seed-" + name)).write_bytes(data)


main()
