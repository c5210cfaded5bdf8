/* metrics: Firecracker's metrics, one JSON object per line written to a
 * file or FIFO: every 60 s and on FlushMetrics. The line has every group
 * and leaf of Firecracker's schema (a leaf husk has nothing for is 0),
 * counters as increments since the previous line, as Firecracker writes
 * them; husk's own figures are under "husk". Counters the api thread
 * bumps are atomic; device counters are read from the devices on the vmm
 * thread when a line is written. */
#ifndef HUSK_METRICS_H
#define HUSK_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct vmm;
struct loop;
struct json_t;
struct api_resource;
struct virtio_class;

#define METRICS_PERIOD_S 60

/* The API resources (api/resource.h) are counted by their place in
 * api_resources; one more slot counts requests to no resource. */
#define METRICS_RESOURCES 32
enum metrics_status { MST_2XX, MST_4XX, MST_5XX, MST_COUNT };
enum metrics_method { MM_GET, MM_PUT, MM_PATCH, MM_OTHER, MM_COUNT };
/* Firecracker's latencies_us: each is measured twice, as Firecracker
 * does, by the API (request in, answer out) and by the VMM (the action
 * itself, on the vmm thread: its "vmm_" leaf) */
enum metrics_latency {
	MLAT_FULL_CREATE_SNAPSHOT, MLAT_DIFF_CREATE_SNAPSHOT, MLAT_LOAD_SNAPSHOT, MLAT_PAUSE_VM,
	MLAT_RESUME_VM, MLAT_COUNT
};

struct metrics {
	int fd;       /* -1 until PUT /metrics */
	char *path;   /* fd's, for GET /vm/config */
	int timer_fd; /* the 60 s period, in the vmm loop */
	struct loop *loop;
	struct vmm *vmm;
	atomic_ullong api[METRICS_RESOURCES + 1][MST_COUNT];
	/* Firecracker's per-method counts: requests, and those answered >= 400 */
	atomic_ullong calls[METRICS_RESOURCES + 1][MM_COUNT], fails[METRICS_RESOURCES + 1][MM_COUNT];
	atomic_ullong latency_us[MLAT_COUNT]; /* the last of each */
	atomic_ullong vmm_latency_us[MLAT_COUNT];
	atomic_ullong deprecated_calls;        /* requests that used a deprecated field */
	unsigned long long startup_us, startup_cpu_us; /* when the API was ready */
	/* counters are written as increments since the previous line, as
	 * Firecracker's are: the absolute values that line saw */
	void *prev; /* json_t */
	unsigned long long lines; /* written so far */
};

void metrics_init(struct metrics *m, struct vmm *vmm, struct loop *loop);
/* Start writing to path (file, created 0600 and appended to; or a FIFO
 * with a reader). Returns 0 or -errno; -EALREADY if already set. */
int metrics_open(struct metrics *m, const char *path);
/* Write one line now. -ENODEV when no metrics_path is set. */
int metrics_flush(struct metrics *m);
void metrics_close(struct metrics *m);
/* Count one API request to res (NULL: a path of no resource), from any
 * thread. */
void metrics_count_api(struct metrics *m, const struct api_resource *res, enum metrics_method method,
                       int http_status);
/* Count one request that used a deprecated field (any thread). */
void metrics_count_deprecated(struct metrics *m);
/* Record what one request of that kind took (any thread): as the API
 * saw it, and as the vmm thread did. */
void metrics_latency(struct metrics *m, enum metrics_latency which, unsigned long long us);
void metrics_vmm_latency(struct metrics *m, enum metrics_latency which, unsigned long long us);
/* The API is ready to serve: api_server's process_startup_time_us (from
 * --start-time-us, or the process start) and _cpu_us: the CPU time used
 * since start_cpu_us (--start-time-cpu-us, 0 if not given) plus
 * parent_cpu_us (--parent-cpu-time-us: what the jailer used), as
 * Firecracker counts it. */
void metrics_mark_startup(struct metrics *m, unsigned long long start_cpu_us,
                          unsigned long long parent_cpu_us);
/* A device's group of Firecracker's schema ("block": its leaves and
 * aggregates), defined beside the resource that configures the device
 * (api/resource.h) with how a device of cls fills it. per_device: each
 * device also has "<name>_<id>", the group itself being their total. */
struct metrics_device_group {
	const char *name;
	const char *const *leaves;
	const char *const *aggs; /* NULL or each an {min_us, max_us, sum_us} */
	const struct virtio_class *cls;
	bool per_device;
	/* the figures of dev, each by metrics_add(g, total, leaf, value) */
	void (*fill)(struct json_t *g, struct json_t *total, const void *dev);
};
/* Set key in g to v and add v to it in total (when not NULL). */
void metrics_add(struct json_t *g, struct json_t *total, const char *key, unsigned long long v);
/* The line metrics_flush would write, malloc'd (for tests). */
char *metrics_line(struct metrics *m);

#endif
