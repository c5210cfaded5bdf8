/* libFuzzer target: a hostile snapshot state file through everything load
 * does with it before a byte of state reaches KVM: snapshot_image_open
 * (read, snap_parse with its CRC, machine and memory layout, VM sections),
 * every vCPU's sections (vcpu_state_check against a host without KVM
 * capabilities), the devices' configuration (snapshot_vm_config_apply),
 * and each device section through its device's check and, when accepted,
 * restore. Restored virtio queues are then kicked, so ring addresses that
 * got through restore are used against guest RAM (64 KiB of heap: ASan
 * flags any access outside it).
 *
 * Input: byte 0 bit 0 set keeps the file's own CRC trailer; clear, the
 * target writes the right CRC over the last 8 bytes, so mutations reach
 * the parser behind the CRC check. The rest is the state file.
 *
 * HUSK_FUZZ_SEED_DIR=DIR makes the target write a valid state file there
 * (one of the devices below, saved with snap_writer) and exit: tools/fuzz
 * seeds the corpus with it. */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <jansson.h>

#include "devices/i8042.h"
#include "devices/serial.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vsock.h"
#include "devices/vmgenid.h"
#include "vmm/arch/x86_64/layout.h"
#include "vmm/arch/x86_64/vcpu_state.h"
#include "vmm/config.h"
#include "vmm/log.h"
#include "vmm/snapshot/crc64.h"
#include "vmm/snapshot/mem_file.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/snapshot/vm_config.h"
#include "vmm/vm.h"

#define RAM 0x10000ULL
#define BLK_BYTES (16 * 512)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- stubs: snapshot_restore (memory backends, KVM) is not driven ---- */
int uffd_register_guest_mem(const struct guest_mem *gm) { (void)gm; abort(); }
int uffd_send_to_handler(const char *path, int uffd, const struct guest_mem *gm, char *err, size_t errlen)
{
	(void)path; (void)uffd; (void)gm; (void)err; (void)errlen;
	abort();
}
int vm_ioeventfd(struct vm *vm, int efd, uint64_t addr, uint32_t len, uint64_t datamatch,
                 bool match)
{
	(void)vm; (void)efd; (void)addr; (void)len; (void)datamatch; (void)match;
	abort();
}
int vm_irqfd(struct vm *vm, int efd, unsigned gsi) { (void)vm; (void)efd; (void)gsi; abort(); }

/* ---- the devices a snapshot may carry state for ---- */

struct fx {
	uint8_t *ram;
	struct guest_mem gm;
	struct virtio_env env;
	struct vm vm;          /* no KVM: vm_fd -1, so no capabilities */
	int state_fd;          /* memfd the state file goes through */
	char state_path[64];
	int blk_backing;
	char blk_path[64];
	struct serial serial;
	struct i8042 i8042;
	struct vmgenid vmgenid;
	struct rng *rng;
	struct blk *blk;
	struct snapshot_state snap;
};

static void fx_devices(struct fx *f)
{
	serial_init(&f->serial, -1, -1);
	i8042_init(&f->i8042, -1, NULL, NULL);
	struct drive_config dc = { .drive_id = "rootfs", .path_on_host = f->blk_path,
	                           .is_root_device = true, .io_engine = IO_ENGINE_SYNC };
	if (vmgenid_init(&f->vmgenid, 0xfec00000ull - 4096, 9, -1) < 0 ||
	    rng_create(&f->rng, &f->env, 0) < 0 || blk_create(&f->blk, &f->env, &dc, 1) < 0)
		abort();
	struct snapshot_state *s = &f->snap;
	snapshot_state_init(s);
	if (snapshot_device_register(s, "serial0", &snapshot_plain_ops, &f->serial.snap) < 0 ||
	    snapshot_device_register(s, "i8042", &snapshot_plain_ops, &f->i8042.snap) < 0 ||
	    snapshot_device_register(s, "vmgenid", &vmgenid_snapshot_ops, &f->vmgenid) < 0 ||
	    snapshot_device_register(s, "virtio-rng0", &virtio_mmio_snapshot_ops, &f->rng->t) < 0 ||
	    snapshot_device_register(s, "virtio-blk0", &virtio_mmio_snapshot_ops, &f->blk->t) < 0)
		abort();
}

static void fx_init(struct fx *f)
{
	log_set_level(LOG_ERROR);
	f->ram = calloc(1, RAM);
	if (!f->ram || gm_init_from(&f->gm, f->ram, RAM, RAM) < 0)
		abort();
	f->env = (struct virtio_env){ .gm = &f->gm, .mmio_base = 0xd0000000ull, .gsi_base = 5, .nr_slots = 2 };
	f->vm.kvm_fd = f->vm.vm_fd = -1;
	f->state_fd = memfd_create("fuzz-snap", MFD_CLOEXEC);
	f->blk_backing = memfd_create("fuzz-blk", MFD_CLOEXEC);
	if (f->state_fd < 0 || f->blk_backing < 0 || ftruncate(f->blk_backing, BLK_BYTES) < 0)
		abort();
	snprintf(f->state_path, sizeof(f->state_path), "/proc/self/fd/%d", f->state_fd);
	snprintf(f->blk_path, sizeof(f->blk_path), "/proc/self/fd/%d", f->blk_backing);
	fx_devices(f);
}

/* ---- what load does with the file ---- */

/* Restored queues in use: each virtio device pops what the rings hold. */
static void kick_virtio(struct fx *f)
{
	virtio_mmio_handle_notify(&f->rng->t, 0);
	virtio_mmio_handle_notify(&f->blk->t, 0);
}

/* Every device section through its device, the way load checks them all
 * first and then restores. */
static void devices_check_restore(struct fx *f, const struct snap_file *sf)
{
	for (unsigned i = 0; i < f->snap.nr_devices; i++) {
		const struct snapshot_device *d = &f->snap.dev[i];
		const uint8_t *blob;
		uint64_t len;
		char why[200];
		if (!snap_find_device(sf, d->name, &blob, &len) ||
		    d->ops->check(d->opaque, blob, (size_t)len, why, sizeof(why)) < 0)
			continue;
		if (d->ops->restore(d->opaque, blob, (size_t)len) < 0)
			abort(); /* check accepted it: restore must too */
	}
	kick_virtio(f);
}

static void vm_config_apply(const struct snap_file *sf)
{
	const struct snap_section *s = snap_find(sf, SNAP_SEC_VM_CONFIG, 0);
	if (!s)
		return;
	struct vm_config cfg;
	json_t *overrides = json_pack("{s:[{s:s, s:s}], s:{s:s}}", "network_overrides", "iface_id", "eth0",
	                              "host_dev_name", "tap9", "vsock_override", "uds_path", "/v");
	struct snapshot_load_params p = { .device_overrides = overrides };
	char err[256];
	config_init(&cfg);
	snapshot_vm_config_apply(s->data, (size_t)s->len, &cfg, &p, err, sizeof(err));
	config_free(&cfg);
	json_decref(overrides);
}

static void write_state(struct fx *f, const uint8_t *data, size_t size)
{
	if (ftruncate(f->state_fd, 0) < 0 || pwrite(f->state_fd, data, size, 0) != (ssize_t)size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fx f;
	if (!f.ram)
		fx_init(&f);
	if (size < 1)
		return 0;
	uint8_t *file = malloc(size);
	size_t len = size - 1;
	memcpy(file, data + 1, len);
	if (!(data[0] & 1) && len >= sizeof(uint64_t)) {
		uint64_t crc = crc64(file, len - sizeof(crc));
		memcpy(file + len - sizeof(crc), &crc, sizeof(crc));
	}
	write_state(&f, file, len);
	free(file);
	struct snapshot_image img;
	char err[256];
	memset(f.ram, 0, RAM);
	if (snapshot_image_open(f.state_path, &img, err, sizeof(err)) < 0)
		return 0;
	for (unsigned i = 0; i < img.machine.vcpu_count; i++)
		vcpu_state_check(&f.vm, &img.f, i, err, sizeof(err));
	vm_config_apply(&img.f);
	devices_check_restore(&f, &img.f);
	snapshot_image_close(&img);
	return 0;
}

/* ---- the seed: a valid state file ---- */

static void seed_vcpu(struct snap_writer *w)
{
	struct kvm_mp_state mp = { 0 };
	struct kvm_regs regs = { .rip = 0x100000, .rflags = 2 };
	struct kvm_sregs sregs = { .cr0 = 0x11 };
	struct kvm_lapic_state lapic = { { 0 } };
	struct kvm_fpu fpu = { .fcw = 0x37f };
	uint32_t empty[2] = { 0, 0 }; /* MSRs and CPUID: count 0, padding */
	snap_writer_add(w, SNAP_SEC_VCPU_MP_STATE, 0, &mp, sizeof(mp));
	snap_writer_add(w, SNAP_SEC_VCPU_REGS, 0, &regs, sizeof(regs));
	snap_writer_add(w, SNAP_SEC_VCPU_SREGS, 0, &sregs, sizeof(sregs));
	snap_writer_add(w, SNAP_SEC_VCPU_LAPIC, 0, &lapic, sizeof(lapic));
	snap_writer_add(w, SNAP_SEC_VCPU_FPU, 0, &fpu, sizeof(fpu));
	snap_writer_add(w, SNAP_SEC_VCPU_MSRS, 0, empty, sizeof(empty));
	snap_writer_add(w, SNAP_SEC_VCPU_CPUID, 0, empty, sizeof(empty));
}

static void seed_vm(struct snap_writer *w)
{
	static const uint32_t chips[][2] = {
		{ SNAP_SEC_VM_PIC_MASTER, KVM_IRQCHIP_PIC_MASTER },
		{ SNAP_SEC_VM_PIC_SLAVE, KVM_IRQCHIP_PIC_SLAVE },
		{ SNAP_SEC_VM_IOAPIC, KVM_IRQCHIP_IOAPIC },
	};
	for (size_t i = 0; i < sizeof(chips) / sizeof(chips[0]); i++) {
		struct kvm_irqchip chip = { .chip_id = chips[i][1] };
		snap_writer_add(w, chips[i][0], 0, &chip, sizeof(chip));
	}
	struct kvm_pit_state2 pit;
	memset(&pit, 0, sizeof(pit));
	struct kvm_clock_data clock = { .clock = 1000000 };
	snap_writer_add(w, SNAP_SEC_VM_PIT2, 0, &pit, sizeof(pit));
	snap_writer_add(w, SNAP_SEC_VM_CLOCK, 0, &clock, sizeof(clock));
}

static void seed_machine(struct snap_writer *w)
{
	struct snap_machine m = { .vcpu_count = 1, .mem_size_mib = 128 };
	struct snap_memory mem;
	struct guest_mem gm;
	static const uint8_t mem_id[16] = { 1, 2, 3, 4 };
	if (gm_init_from(&gm, NULL, m.mem_size_mib << 20, LAYOUT_MMIO_GAP_START) < 0)
		abort();
	gm.map_size = m.mem_size_mib << 20;
	mem_file_layout(&gm, &mem);
	snap_writer_add(w, SNAP_SEC_MACHINE, 0, &m, sizeof(m));
	snap_writer_add(w, SNAP_SEC_MEMORY, 0, &mem, sizeof(mem));
	snap_writer_add(w, SNAP_SEC_MEM_ID, 0, mem_id, sizeof(mem_id));
}

static void seed_vm_config(struct fx *f, struct snap_writer *w)
{
	struct vm_config cfg;
	char *json;
	config_init(&cfg);
	struct drive_configs *drives = drive_configs_in(&cfg);
	if (!drives)
		abort();
	drives->nr = 1;
	drives->items[0] = (struct drive_config){ .drive_id = strdup("rootfs"), .path_on_host = strdup(f->blk_path),
	                                          .is_root_device = true };
	drives->items[0].rate_limiter.ops = (struct token_bucket_config){ true, 20, 5, 100 };
	struct net_configs *nets = net_configs_in(&cfg);
	if (!nets)
		abort();
	nets->nr = 1;
	nets->items[0] = (struct net_config){ .iface_id = strdup("eth0"), .host_dev_name = strdup("tap0"),
	                                      .has_mac = true, .guest_mac = { 6, 0, 0xac, 0x10, 0, 2 } };
	struct vsock_config *v = calloc(1, sizeof(*v));
	*v = (struct vsock_config){ .guest_cid = 3, .uds_path = strdup("/tmp/v.sock") };
	if (vsock_config_set(&cfg, v) < 0)
		abort();
	if (rng_config_set(&cfg, calloc(1, sizeof(struct rng_config))) < 0)
		abort();
	if (snapshot_vm_config_encode(&cfg, &json) < 0)
		abort();
	snap_writer_add(w, SNAP_SEC_VM_CONFIG, 0, json, strlen(json));
	free(json);
	config_free(&cfg);
}

/* The rng driven to DRIVER_OK with a ring in RAM, so its saved queue is
 * live and restore re-activates it. */
static void seed_rng_live(struct fx *f)
{
	static const uint32_t regs[][2] = {
		{ VMMIO_STATUS, 3 }, { VMMIO_DRIVER_FEATURES_SEL, 1 }, { VMMIO_DRIVER_FEATURES, 1 },
		{ VMMIO_STATUS, 11 }, { VMMIO_QUEUE_SEL, 0 }, { VMMIO_QUEUE_NUM, 16 },
		{ VMMIO_QUEUE_DESC_LOW, 0x1000 }, { VMMIO_QUEUE_AVAIL_LOW, 0x2000 },
		{ VMMIO_QUEUE_USED_LOW, 0x3000 }, { VMMIO_QUEUE_READY, 1 }, { VMMIO_STATUS, 15 },
	};
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		virtio_mmio_ops.write(&f->rng->t, regs[i][0], &regs[i][1], 4);
}

static void seed_devices(struct fx *f, struct snap_writer *w)
{
	seed_rng_live(f);
	for (unsigned i = 0; i < f->snap.nr_devices; i++) {
		const struct snapshot_device *d = &f->snap.dev[i];
		void *blob;
		size_t len;
		if (d->ops->save(d->opaque, &blob, &len) < 0)
			abort();
		snap_writer_add_device(w, i, d->name, blob, len);
		free(blob);
	}
}

static void write_seed(const char *dir)
{
	static struct fx f;
	struct snap_writer w;
	char path[4096];
	fx_init(&f);
	snap_writer_init(&w);
	seed_machine(&w);
	seed_vm(&w);
	seed_vcpu(&w);
	seed_vm_config(&f, &w);
	seed_devices(&f, &w);
	snprintf(path, sizeof(path), "%s/seed-state", dir);
	FILE *out = fopen(path, "w");
	/* byte 0: keep the CRC the writer computed */
	if (snap_writer_finish(&w, SNAP_ARCH_X86_64, "fuzz") < 0 || !out || fputc(1, out) == EOF ||
	    fwrite(w.buf, 1, w.len, out) != w.len || fclose(out) != 0)
		abort();
	snap_writer_free(&w);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	const char *dir = getenv("HUSK_FUZZ_SEED_DIR");
	if (dir) {
		write_seed(dir);
		exit(0);
	}
	return 0;
}
