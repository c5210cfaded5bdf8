/* format: the husk snapshot state file.
 *
 * Layout (little-endian, no padding between items):
 *
 *   header   48 bytes  struct snap_header: magic "HUSKSNAP", format
 *                      version, arch, husk version string, section count,
 *                      flags (0)
 *   sections           nr_sections times: struct snap_section_hdr (type,
 *                      id, payload length) followed by the payload
 *   trailer   8 bytes  CRC-64/XZ (crc64.h) of every byte before it
 *
 * A reader checks the magic, then the CRC over the whole file, and only
 * then looks at any other field; every section length is checked against
 * what is left of the buffer, and the sections must end exactly at the
 * trailer. Guest memory is not in this file: it goes to the memory file,
 * at the offsets the SNAP_SEC_MEMORY section gives.
 *
 * Section ids: the vCPU index for vCPU sections, the device's ordinal for
 * device sections, 0 otherwise. A new kind of state gets a new section
 * type; changing the payload of an existing type bumps
 * SNAP_FORMAT_VERSION. */
#ifndef HUSK_SNAPSHOT_FORMAT_H
#define HUSK_SNAPSHOT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the snapshot format is written in host order, which must be little-endian"
#endif

#define SNAP_MAGIC "HUSKSNAP"
/* 2: device sections are keyed "<kind>:<id>" (vmm/device.h), no longer by
 * position ("virtio-blk0"), and names are 80 bytes. A version 1 file is
 * refused with both versions named: its keys cannot be mapped safely. */
#define SNAP_FORMAT_VERSION 2u
#define SNAP_ARCH_X86_64 1u
#define SNAP_ARCH_AARCH64 2u
#define SNAP_MAX_SECTIONS 4096u
/* a state file is KVM structs and device registers: far below this */
#define SNAP_MAX_FILE_SIZE (64u << 20)

enum snap_section_type {
	SNAP_SEC_MACHINE = 1,       /* struct snap_machine */
	SNAP_SEC_MEMORY = 2,        /* struct snap_memory */
	SNAP_SEC_VM_CONFIG = 3,     /* the devices' configuration, JSON (vm_config.h) */
	SNAP_SEC_MEM_ID = 4,        /* uint8_t[16]: the id in the memory file's trailer */

	SNAP_SEC_VM_PIT2 = 0x100,   /* struct kvm_pit_state2 */
	SNAP_SEC_VM_CLOCK,          /* struct kvm_clock_data */
	SNAP_SEC_VM_PIC_MASTER,     /* struct kvm_irqchip, chip_id 0 */
	SNAP_SEC_VM_PIC_SLAVE,      /* struct kvm_irqchip, chip_id 1 */
	SNAP_SEC_VM_IOAPIC,         /* struct kvm_irqchip, chip_id 2 */
	SNAP_SEC_VM_VGIC_V3 = 0x180, /* aarch64: struct a64_vgic_reg[], in restore order */

	SNAP_SEC_VCPU_REGS = 0x200, /* struct kvm_regs */
	SNAP_SEC_VCPU_SREGS,        /* struct kvm_sregs */
	SNAP_SEC_VCPU_XSAVE,        /* KVM_GET_XSAVE(2) area, >= 4096 bytes */
	SNAP_SEC_VCPU_FPU,          /* struct kvm_fpu, when KVM has no XSAVE */
	SNAP_SEC_VCPU_XCRS,         /* struct kvm_xcrs */
	SNAP_SEC_VCPU_MSRS,         /* struct kvm_msrs + nmsrs entries */
	SNAP_SEC_VCPU_LAPIC,        /* struct kvm_lapic_state */
	SNAP_SEC_VCPU_MP_STATE,     /* struct kvm_mp_state */
	SNAP_SEC_VCPU_EVENTS,       /* struct kvm_vcpu_events */
	SNAP_SEC_VCPU_DEBUGREGS,    /* struct kvm_debugregs */
	SNAP_SEC_VCPU_CPUID,        /* struct kvm_cpuid2 + nent entries */
	SNAP_SEC_VCPU_TSC_KHZ,      /* uint64_t */
	SNAP_SEC_VCPU_ONE_REGS = 0x280, /* aarch64: struct a64_one_reg[], KVM_GET_REG_LIST's order */

	SNAP_SEC_DEVICE = 0x300,    /* struct snap_device_hdr + device blob */
};

struct snap_header {
	char magic[8];
	uint32_t format_version;
	uint32_t arch;
	char husk_version[24];      /* NUL-padded, for diagnostics only */
	uint32_t nr_sections;
	uint32_t flags;             /* 0; a reader refuses anything else */
};
_Static_assert(sizeof(struct snap_header) == 48, "snap_header is on disk");

struct snap_section_hdr {
	uint32_t type;
	uint32_t id;
	uint64_t len;               /* payload bytes after this header */
};
_Static_assert(sizeof(struct snap_section_hdr) == 16, "snap_section_hdr is on disk");

#define SNAP_MACHINE_SMT 0x1u
#define SNAP_MACHINE_TRACK_DIRTY 0x2u
#define SNAP_MACHINE_HUGE_2M 0x4u  /* guest RAM in 2 MiB huge pages */

struct snap_machine {
	uint32_t vcpu_count;
	uint32_t flags;             /* SNAP_MACHINE_* */
	uint64_t mem_size_mib;
};
_Static_assert(sizeof(struct snap_machine) == 16, "snap_machine is on disk");

#define SNAP_MAX_REGIONS 4u

/* Guest RAM as it sits in the memory file: region i is file bytes
 * [file_offset, file_offset + size) and guest addresses [gpa, gpa + size). */
struct snap_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t file_offset;
};

struct snap_memory {
	uint64_t file_size;         /* the memory file's exact size */
	uint32_t page_size;
	uint32_t nr_regions;
	struct snap_mem_region region[SNAP_MAX_REGIONS];
};
_Static_assert(sizeof(struct snap_memory) == 16 + 24 * SNAP_MAX_REGIONS, "snap_memory is on disk");

/* "<kind>:<id>" (vmm/device.h): a 64-character id fits */
#define SNAP_DEVICE_NAME_LEN 80

struct snap_device_hdr {
	char name[SNAP_DEVICE_NAME_LEN]; /* NUL-padded, unique per VM */
};

/* ---- writing ---- */

struct snap_writer {
	uint8_t *buf;
	size_t len, cap;
	uint32_t nr_sections;
	int err;                    /* first error; every later call is a no-op */
};

void snap_writer_init(struct snap_writer *w);
/* Append a section; on error remembers it in w->err (checked by finish). */
int snap_writer_add(struct snap_writer *w, uint32_t type, uint32_t id,
                    const void *data, uint64_t len);
/* Append a device section: header with name, then the blob. */
int snap_writer_add_device(struct snap_writer *w, uint32_t id, const char *name,
                           const void *blob, uint64_t len);
/* Fill the header, append the CRC. On success the file image is
 * w->buf[0..w->len). */
int snap_writer_finish(struct snap_writer *w, uint32_t arch, const char *husk_version);
void snap_writer_free(struct snap_writer *w);

/* ---- reading ---- */

struct snap_section {
	uint32_t type;
	uint32_t id;
	const uint8_t *data;        /* inside the buffer given to snap_parse */
	uint64_t len;
};

struct snap_file {
	uint32_t format_version;
	uint32_t arch;
	char husk_version[25];
	uint32_t nr_sections;
	struct snap_section *sec;
};

/* Check and index a state file image. Refuses (-EINVAL, reason in err)
 * a short buffer, wrong magic, CRC mismatch, another format version or
 * arch than want_arch, nonzero flags, a section running past the end, a
 * section count that does not match, or trailing bytes. The sections
 * point into buf, which must outlive f. */
int snap_parse(const uint8_t *buf, size_t len, uint32_t want_arch,
               struct snap_file *f, char *err, size_t errlen);
void snap_file_free(struct snap_file *f);
/* The section of this type and id, or NULL. */
const struct snap_section *snap_find(const struct snap_file *f, uint32_t type, uint32_t id);
/* Copy a fixed-size section out (aligned for the caller); -EINVAL if it is
 * missing or its length is not exactly len. */
int snap_get(const struct snap_file *f, uint32_t type, uint32_t id, void *out, size_t len);
/* The device section named name; the blob follows the name header. */
const struct snap_section *snap_find_device(const struct snap_file *f, const char *name,
                                            const uint8_t **blob, uint64_t *blob_len);

#endif
