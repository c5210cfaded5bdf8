/* libFuzzer target: a hostile kernel image and initrd through the x86
 * loaders and the boot-table writers. ASan catches any read outside the
 * image or write outside guest RAM. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/arch/x86_64/boot.h"
#include "vmm/arch/x86_64/layout.h"

#define RAM (32ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem gm;
	static int ready;
	if (!ready) {
		if (gm_init(&gm, RAM, LAYOUT_MMIO_GAP_START) < 0)
			abort();
		ready = 1;
	}
	/* an exact-size heap copy, so ASan sees a read one byte past the end */
	uint8_t *img = malloc(size ? size : 1);
	memcpy(img, data, size);
	struct boot_info bi;
	if (loader_load_kernel(&gm, img, size, &bi) == 0) {
		if (bi.entry >= RAM && bi.mode == BOOT_PVH)
			abort(); /* the loader promised an entry inside RAM */
		loader_load_initrd(&gm, img, size, &bi);
		loader_load_cmdline(&gm, "console=ttyS0");
		bootparams_write(&gm, &bi, 13);
		mptable_write(&gm, 1 + (size % 32));
	}
	free(img);
	return 0;
}
