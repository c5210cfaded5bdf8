/* floor: the least a KVM program must do to boot the benchmark's guest to
 * its marker, so the boot table can say how close husk is to the limit.
 * It creates the VM, maps the same amount of memory, makes one vCPU, loads
 * the same PVH ELF (PT_LOAD segments, entry from the Xen PVH note), writes
 * an hvm_start_info with only the magic, enters 32-bit protected mode and
 * runs, copying COM1 output to stdout until the guest halts or resets.
 * No irqchip, no CPUID setup, no devices, no threads, no checks beyond the
 * ELF's own bounds: anything husk does beyond this is its overhead.
 *
 *   husk-floor GUEST.elf [MEM_MIB]
 */
#include <elf.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define COM1 0x3f8
#define START_INFO 0x6000
#define PVH_MAGIC 0x336ec578
#define XEN_ELFNOTE_PHYS32_ENTRY 18

static int die(const char *what)
{
	perror(what);
	return 1;
}

/* Copy PT_LOAD segments into guest memory; return the PVH entry or 0. */
static uint32_t load_pvh_elf(const uint8_t *img, size_t len, uint8_t *mem, size_t mem_len)
{
	const Elf64_Ehdr *eh = (const void *)img;
	uint32_t entry = 0;
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_phoff > len || (size_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
		return 0;
	const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_offset > len || ph[i].p_filesz > len - ph[i].p_offset)
			return 0;
		if (ph[i].p_type == PT_LOAD) {
			if (ph[i].p_paddr > mem_len || ph[i].p_memsz > mem_len - ph[i].p_paddr ||
			    ph[i].p_filesz > ph[i].p_memsz)
				return 0;
			memcpy(mem + ph[i].p_paddr, img + ph[i].p_offset, ph[i].p_filesz);
		} else if (ph[i].p_type == PT_NOTE) {
			const uint8_t *p = img + ph[i].p_offset, *end = p + ph[i].p_filesz;
			while (end - p >= (long)sizeof(Elf64_Nhdr)) {
				const Elf64_Nhdr *n = (const void *)p;
				size_t name = (n->n_namesz + 3) & ~3u, desc = (n->n_descsz + 3) & ~3u;
				if ((size_t)(end - p) - sizeof(*n) < name + desc)
					break;
				if (n->n_type == XEN_ELFNOTE_PHYS32_ENTRY && n->n_descsz >= 4)
					memcpy(&entry, p + sizeof(*n) + name, 4);
				p += sizeof(*n) + name + desc;
			}
		}
	}
	return entry;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	*s = (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
	                           .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1 };
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: husk-floor GUEST.elf [MEM_MIB]\n");
		return 2;
	}
	size_t mem_len = (size_t)(argc > 2 ? atoi(argv[2]) : 128) << 20;
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return die(argv[1]);
	uint8_t *img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (img == MAP_FAILED)
		return die("mmap guest");

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return die("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return die("KVM_CREATE_VM");
	uint8_t *mem = mmap(NULL, mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return die("mmap memory");
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = mem_len, .userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return die("KVM_SET_USER_MEMORY_REGION");
	uint32_t entry = load_pvh_elf(img, (size_t)st.st_size, mem, mem_len);
	if (!entry) {
		fprintf(stderr, "%s: not a PVH ELF that fits in memory\n", argv[1]);
		return 1;
	}
	uint32_t magic = PVH_MAGIC;
	memcpy(mem + START_INFO, &magic, sizeof(magic));

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return die("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return die("mmap kvm_run");
	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return die("KVM_GET_SREGS");
	flat_segment(&sregs.cs, 0x10, 0xb); /* execute/read, accessed */
	flat_segment(&sregs.ds, 0x18, 0x3); /* read/write, accessed */
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 = 0x11; /* PE, ET */
	sregs.cr4 = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return die("KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = entry, .rbx = START_INFO, .rflags = 2 };
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return die("KVM_SET_REGS");

	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return die("KVM_RUN");
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *data = (uint8_t *)run + run->io.data_offset;
			if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == COM1)
				fwrite(data, run->io.size, run->io.count, stdout);
			else if (run->io.direction == KVM_EXIT_IO_IN && run->io.port == COM1 + 5)
				*data = 0x60; /* LSR: transmitter empty, no input */
			else if (run->io.direction == KVM_EXIT_IO_IN)
				memset(data, 0xff, (size_t)run->io.size * run->io.count);
			else if (run->io.port == 0x64 && *data == 0xfe)
				goto out; /* i8042 reset: the guest is done */
			break;
		}
		case KVM_EXIT_MMIO:
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0, sizeof(run->mmio.data));
			break;
		case KVM_EXIT_HLT:
		case KVM_EXIT_SHUTDOWN:
			goto out;
		default:
			fprintf(stderr, "husk-floor: exit reason %u\n", run->exit_reason);
			return 1;
		}
		/* a whole line at a time: the marker is one line */
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == COM1 &&
		    ((uint8_t *)run + run->io.data_offset)[0] == '\n')
			fflush(stdout);
	}
out:
	fflush(stdout);
	return 0;
}
