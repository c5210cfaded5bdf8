/* config: the whole VM configuration as one typed struct. The CLI, the API
 * resources and the config file all fill this in; the VMM reads only this.
 * Strings are owned (malloc'd) and freed by config_free. */
#ifndef HUSK_CONFIG_H
#define HUSK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_VCPUS 32
#define CONFIG_DEFAULT_CMDLINE \
	"console=ttyS0 reboot=k panic=1 pci=off nomodule 8250.nr_uarts=1 " \
	"i8042.noaux i8042.nomux i8042.dumbkbd"

/* set: the bucket was given (a request named it). In force only with a
 * non-zero size and refill_time: Firecracker's "0 means no limit", which
 * a PATCH uses to remove a limit (token_bucket_config_in_force). */
struct token_bucket_config {
	bool set;
	uint64_t size;           /* bytes or ops per refill_time */
	uint64_t one_time_burst; /* extra, used once */
	uint64_t refill_time_ms;
};

static inline bool token_bucket_config_in_force(const struct token_bucket_config *b)
{
	return b->set && b->size && b->refill_time_ms;
}

struct rate_limiter_config {
	struct token_bucket_config bandwidth;
	struct token_bucket_config ops;
};

/* A PATCH onto a configuration: each bucket the patch gives replaces the
 * one in dst; a bucket it leaves out stays as it is. */
static inline void rate_limiter_config_merge(struct rate_limiter_config *dst,
                                             const struct rate_limiter_config *patch)
{
	if (patch->bandwidth.set)
		dst->bandwidth = patch->bandwidth;
	if (patch->ops.set)
		dst->ops = patch->ops;
}

/* The configuration of a device kind whose type only its own files know
 * (devices/virtio/<kind>.h, api/<resource>.c): owner is its class (a
 * stable address), cfg its malloc'd struct, free_cfg frees cfg with what
 * it owns. */
struct config_device {
	const void *owner;
	void *cfg;
	void (*free_cfg)(void *cfg);
};

#define CONFIG_MAX_DEVICE_KINDS 8

/* Firecracker's static CPU templates (machine-config cpu_template). Which
 * of them a host can run is the architecture's word (arch.h). */
enum cpu_template {
	CPU_TEMPLATE_NONE,
	CPU_TEMPLATE_C3,
	CPU_TEMPLATE_T2,
	CPU_TEMPLATE_T2S,
	CPU_TEMPLATE_T2CL,
	CPU_TEMPLATE_T2A,
};
/* by enum cpu_template, NULL-terminated: the API's names */
extern const char *const cpu_template_names[];

struct machine_config {
	unsigned vcpu_count;
	uint64_t mem_size_mib;
	bool smt;
	bool track_dirty_pages;
	bool huge_pages_2m;
	enum cpu_template cpu_template;
};

/* A custom CPU template (PUT /cpu-config, the config file's cpu-config), in
 * Firecracker's terms: each modifier forces the bits set in filter to
 * their value in value and leaves the others as KVM and husk made them.
 * Firecracker's per-leaf list is kept flat, one entry per register; a
 * leaf given with no register has one entry with filter 0 (its flags
 * still apply). */
enum cpuid_register { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

struct cpuid_modifier {
	uint32_t leaf, subleaf;
	uint32_t flags; /* KVM_CPUID_FLAG_* of the leaf */
	enum cpuid_register reg;
	uint32_t filter, value;
};

struct msr_modifier {
	uint32_t addr;
	uint64_t filter, value;
};

#define CONFIG_MAX_CPUID_MODIFIERS 256
#define CONFIG_MAX_MSR_MODIFIERS 64

struct cpu_config {
	bool set;
	int nr_cpuid;
	struct cpuid_modifier *cpuid; /* malloc'd */
	int nr_msr;
	struct msr_modifier *msr; /* malloc'd */
};

struct boot_config {
	char *kernel_image_path;
	char *initrd_path;
	char *boot_args; /* NULL: CONFIG_DEFAULT_CMDLINE */
};

struct vm_config {
	struct machine_config machine;
	/* a custom template; set replaces machine.cpu_template (the later of
	 * the two requests wins, as in Firecracker) */
	struct cpu_config cpu_config;
	struct boot_config boot;
	/* the kinds configured through config_device_set, in no order */
	struct config_device devices[CONFIG_MAX_DEVICE_KINDS];
	/* the metrics file in force (PUT /metrics, --metrics-path), for GET
	 * /vm/config; struct metrics owns it. NULL: none */
	const char *metrics_path;
	char *serial_out_path; /* NULL: stdout */
	/* PUT /serial's rate_limiter: bytes past it are dropped and counted */
	struct token_bucket_config serial_rate_limiter;
	uint64_t serial_out_limit; /* bytes; applies to a regular-file output; 0: no cap */
	/* --no-acpi: no ACPI tables; the MP table and virtio_mmio.device=
	 * cmdline entries alone announce CPUs and devices */
	bool no_acpi;
};

void config_init(struct vm_config *c); /* defaults: 1 vCPU, 128 MiB */
void config_free(struct vm_config *c);
/* Free what one part owns and clear it. */
void boot_config_free(struct boot_config *b);
/* Where a kernel command line's init args start: the offset of its first
 * " -- " with an even number of '"' before it (as the kernel and
 * Firecracker's linux-loader split it), or strlen(s) when it has none. */
size_t boot_args_init_at(const char *s);
/* owner's configuration, or NULL: that kind is not configured. */
void *config_device(const struct vm_config *c, const void *owner);
/* Make cfg owner's configuration (freeing the one before). -ENOSPC when
 * every slot is taken: cfg is then still the caller's. */
int config_device_set(struct vm_config *c, const void *owner, void *cfg, void (*free_cfg)(void *cfg));
/* owner's configuration, made (size zeroed bytes, freed by free_cfg) the
 * first time: a kind with a list of devices adds to it. NULL: out of
 * memory, or every slot is taken. */
void *config_device_make(struct vm_config *c, const void *owner, size_t size, void (*free_cfg)(void *cfg));
/* The devices (the config_device kinds): free them, or move src's
 * into dst,
 * whose own are freed (src is left with none). */
void config_free_devices(struct vm_config *c);
void config_move_devices(struct vm_config *dst, struct vm_config *src);
void config_cpu_config_free(struct cpu_config *c);
/* Checks that need the whole config (e.g. a kernel set).
 * On error returns -EINVAL and points *what at a static message. */
int config_validate(const struct vm_config *c, const char **what);

#endif
