/* snapshot: save a paused VM to a state file plus a memory file, and
 * restore one into a freshly created VM (PUT /snapshot/create and
 * /snapshot/load, `husk snapshot create|load`).
 *
 * State file: format.h. Memory file: guest RAM in host-mapping order, region
 * i at file offset (region hva - gm.base), exactly gm.map_size bytes; a
 * Full snapshot leaves all-zero pages as holes, a Diff snapshot holds only
 * the pages dirtied since the previous snapshot at the same offsets (every
 * other range a hole) and is layered onto its base with
 * tools/snapshot-merge.
 *
 * Everything a file controls is checked before the first byte of state is
 * applied: CRC and version (format.c), machine and memory layout against
 * the new VM, memory file size, every vCPU section, VM sections and every
 * registered device's blob. */
#ifndef HUSK_SNAPSHOT_H
#define HUSK_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/snapshot/format.h"
#include "vmm/snapshot/working_set.h"

struct vm;
struct machine_config;

enum snapshot_type { SNAPSHOT_FULL = 0, SNAPSHOT_DIFF };
enum snapshot_mem_backend { SNAPSHOT_MEM_FILE = 0, SNAPSHOT_MEM_UFFD };

struct snapshot_create_params {
	enum snapshot_type type;
	const char *snapshot_path;
	const char *mem_file_path;
};

struct json_t;

struct snapshot_load_params {
	const char *snapshot_path;
	enum snapshot_mem_backend mem_backend;
	/* File: the memory file. Uffd: the Unix socket a page-fault handler
	 * listens on; it gets the userfaultfd and the region layout as JSON. */
	const char *backend_path;
	bool enable_diff_snapshots;
	bool resume_vm;
	/* the guest's kvmclock moves on by the host's realtime since the
	 * snapshot (Firecracker's clock_realtime) */
	bool clock_realtime;
	/* the devices' overrides: an object of a resource's load_override_key
	 * -> its value (api/resource.h), or NULL */
	const struct json_t *device_overrides;
	struct ws_params ws; /* husk-only working-set prefetch; ws.file NULL: off */
};

/* ---- device state: each device owns its persist code ---- */

struct snapshot_dev_ops {
	/* Serialise the device into a malloc'd blob (freed by the caller). */
	int (*save)(void *opaque, void **blob, size_t *len);
	/* Would this blob restore? Must not change the device. */
	int (*check)(void *opaque, const uint8_t *blob, size_t len, char *err, size_t errlen);
	/* Apply a blob that check accepted. */
	int (*restore)(void *opaque, const uint8_t *blob, size_t len);
};

#define SNAPSHOT_MAX_DEVICES 32

struct snapshot_device {
	char name[SNAP_DEVICE_NAME_LEN];
	const struct snapshot_dev_ops *ops;
	void *opaque;
};

/* Per-VM snapshot bookkeeping (one per struct vmm). */
struct snapshot_state {
	struct snapshot_device dev[SNAPSHOT_MAX_DEVICES];
	unsigned nr_devices;
	bool dirty_log;      /* KVM_MEM_LOG_DIRTY_PAGES is on for every slot */
	int uffd;            /* kept open: the handler's faults need it alive */
	uint64_t *vmm_dirty; /* pages the VMM wrote (gm->vmm_dirty points here) */
	/* set by snapshot_create for the save in progress: the devices'
	 * configuration (vm_config.h), written as SNAP_SEC_VM_CONFIG */
	const char *vm_config_json;
	/* the file guest RAM is MAP_PRIVATE of, if any: never overwrite it */
	bool mem_backed;
	dev_t mem_dev;
	ino_t mem_ino;
	/* working set (working_set.h): learning after this restore, and the
	 * figures of the last learn or prefetch */
	struct ws_recorder ws_rec;
	struct ws_stats ws_stats;
};

void snapshot_state_init(struct snapshot_state *s);
void snapshot_state_destroy(struct snapshot_state *s);
/* A device whose state is one plain struct saves it as a version word and
 * a copy of the struct: snapshot_struct_save makes that blob;
 * snapshot_struct_check checks its length and version (err names what)
 * and copies the struct out into state (len bytes): a blob inside a state
 * file has no alignment to read it in place. */
int snapshot_struct_save(uint32_t version, const void *state, size_t len, void **blob, size_t *blob_len);
int snapshot_struct_check(const char *what, uint32_t version, const uint8_t *blob, size_t blob_len,
                          void *state, size_t len, char *err, size_t errlen);
/* The ops of such a device when that copy is all there is to it
 * (opaque = its struct snapshot_plain, devices/plain_state.h): save copies
 * the struct under its lock, check also asks valid(), restore copies it
 * back. */
extern const struct snapshot_dev_ops snapshot_plain_ops;

/* name: unique, 1..79 bytes, stable across versions (it is the key). */
int snapshot_device_register(struct snapshot_state *s, const char *name,
                             const struct snapshot_dev_ops *ops, void *opaque);

/* Turn dirty-page logging on for every memory slot (track_dirty_pages at
 * boot, enable_diff_snapshots at load). */
int snapshot_dirty_log_enable(struct snapshot_state *s, struct vm *vm);

/* ---- save (save.c) ---- */

/* Every vCPU must be paused (out of KVM_RUN, threads parked). Writes the
 * memory file, then the state file (to a temporary name renamed into
 * place, so a state file never refers to a half-written memory file). */
int snapshot_save(struct snapshot_state *s, struct vm *vm, const struct machine_config *mc,
                  const struct snapshot_create_params *p, char *err, size_t errlen);

/* ---- load (load.c) ---- */

/* A state file read into memory and checked (CRC, version, arch, machine
 * and memory sections, VM sections). */
struct snapshot_image {
	uint8_t *buf;
	size_t len;
	struct snap_file f;
	struct snap_machine machine;
	struct snap_memory mem;
	/* the memory file's id (SNAP_SEC_MEM_ID); state files older than the
	 * id have none, and their memory file has no trailer */
	bool has_mem_id;
	uint8_t mem_id[16];
};

/* Step 1, before any VM exists: read and check the file. The caller
 * creates the VM with machine.vcpu_count and machine.mem_size_mib, creates
 * its vCPUs (vcpu_create, no vcpu_configure: the snapshot sets them up),
 * sets up and registers its devices, then calls snapshot_restore. */
int snapshot_image_open(const char *path, struct snapshot_image *img, char *err, size_t errlen);
/* --describe-snapshot: the format version a state file was written in,
 * read from its header alone (also for versions this husk cannot load).
 * 0, or -errno with the reason in err. */
int snapshot_describe(const char *path, uint32_t *format_version, char *err, size_t errlen);
void snapshot_image_close(struct snapshot_image *img);

/* Step 2: check everything against the new VM (layout, memory file size,
 * every vCPU and device section), then back guest RAM by the memory file
 * or the uffd handler and apply VM, vCPU and device state. Returns with
 * the vCPUs created but not started; the caller starts them (resume_vm)
 * or leaves the VM paused. */
int snapshot_restore(struct snapshot_state *s, struct vm *vm, const struct snapshot_image *img,
                     const struct snapshot_load_params *p, char *err, size_t errlen);

#endif
