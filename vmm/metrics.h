/* metrics: Firecracker-style metrics, one JSON object per line written to
 * a file or FIFO: every 60 s and on FlushMetrics. Counters the api thread
 * bumps are atomic; device counters are read from the devices on the vmm
 * thread when a line is written. */
#ifndef HUSK_METRICS_H
#define HUSK_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

struct vmm;
struct loop;

#define METRICS_PERIOD_S 60

/* API resources as metrics keys, in api_server order */
enum metrics_resource {
	MRES_ROOT, MRES_VERSION, MRES_MACHINE_CONFIG, MRES_BOOT_SOURCE, MRES_DRIVES,
	MRES_NETWORK, MRES_VSOCK, MRES_ENTROPY, MRES_LOGGER, MRES_METRICS, MRES_ACTIONS,
	MRES_VM, MRES_VM_CONFIG, MRES_SNAPSHOT, MRES_BALLOON, MRES_MMDS, MRES_SERIAL, MRES_OTHER,
	MRES_COUNT
};
enum metrics_status { MST_2XX, MST_4XX, MST_5XX, MST_COUNT };

struct metrics {
	int fd;       /* -1 until PUT /metrics */
	int timer_fd; /* the 60 s period, in the vmm loop */
	struct loop *loop;
	struct vmm *vmm;
	atomic_ullong api[MRES_COUNT][MST_COUNT];
	unsigned long long lines; /* written so far */
};

void metrics_init(struct metrics *m, struct vmm *vmm, struct loop *loop);
/* Start writing to path (file, created 0600 and appended to; or a FIFO
 * with a reader). Returns 0 or -errno; -EALREADY if already set. */
int metrics_open(struct metrics *m, const char *path);
/* Write one line now. -ENODEV when no metrics_path is set. */
int metrics_flush(struct metrics *m);
void metrics_close(struct metrics *m);
/* Count one API request (any thread). */
void metrics_count_api(struct metrics *m, enum metrics_resource res, int http_status);
const char *metrics_resource_name(enum metrics_resource res);
/* The line metrics_flush would write, malloc'd (for tests). */
char *metrics_line(struct metrics *m);

#endif
