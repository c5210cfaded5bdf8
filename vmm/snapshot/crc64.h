/* crc64: CRC-64/XZ (a.k.a. CRC-64/GO-ECMA): the ECMA-182 polynomial
 * 0x42F0E1EBA9EA3693 used bit-reflected (0xC96C5795D7870F42), initial value
 * and final xor all ones. Check value for "123456789" is
 * 0x995DC9BBDF1939FA; the same CRC xz and Go's crc64.ECMA compute, so a
 * snapshot file can be checked with standard tools. */
#ifndef HUSK_SNAPSHOT_CRC64_H
#define HUSK_SNAPSHOT_CRC64_H

#include <stddef.h>
#include <stdint.h>

/* CRC of buf[0..len). */
uint64_t crc64(const void *buf, size_t len);
/* Continue a running CRC: crc64_update(crc64_update(0, a), b) equals the
 * CRC of a followed by b; start from 0. */
uint64_t crc64_update(uint64_t crc, const void *buf, size_t len);

#endif
