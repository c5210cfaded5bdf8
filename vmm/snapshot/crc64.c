/* crc64: table-driven CRC-64/XZ (see crc64.h for the parameters). */
#include "vmm/snapshot/crc64.h"

#include <pthread.h>

#define CRC64_POLY_REFLECTED 0xC96C5795D7870F42ULL

static uint64_t crc64_table[256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init_table(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint64_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC64_POLY_REFLECTED : c >> 1;
		crc64_table[i] = c;
	}
}

uint64_t crc64_update(uint64_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	pthread_once(&crc64_once, crc64_init_table);
	/* the running value is kept un-inverted so 0 means "nothing yet" */
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = crc64_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

uint64_t crc64(const void *buf, size_t len)
{
	return crc64_update(0, buf, len);
}
