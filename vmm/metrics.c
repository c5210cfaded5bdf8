/* metrics: counters gathered into a JSON line on a timer or on request. */
#include "vmm/metrics.h"
#include "vmm/vcpu.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "api/resource.h"
#include "devices/mmds/tcp.h"
#include "devices/virtio/net.h"
#include "vmm/log.h"
#include "vmm/loop.h"
#include "vmm/vmm.h"

/* res's slot in the counters: its place in api_resources, or the last */
static int res_slot(const struct api_resource *res)
{
	for (int i = 0; res && i < METRICS_RESOURCES && api_resources[i]; i++)
		if (api_resources[i] == res)
			return i;
	return METRICS_RESOURCES;
}

void metrics_init(struct metrics *m, struct vmm *vmm, struct loop *loop)
{
	memset(m, 0, sizeof(*m));
	m->fd = m->timer_fd = -1;
	m->vmm = vmm;
	m->loop = loop;
}

void metrics_count_api(struct metrics *m, const struct api_resource *resource, enum metrics_method method,
                       int http_status)
{
	enum metrics_status st = http_status < 400 ? MST_2XX : http_status < 500 ? MST_4XX : MST_5XX;
	int res = res_slot(resource);
	if (!m || method >= MM_COUNT)
		return;
	atomic_fetch_add(&m->api[res][st], 1);
	atomic_fetch_add(&m->calls[res][method], 1);
	if (http_status >= 400)
		atomic_fetch_add(&m->fails[res][method], 1);
}

void metrics_latency(struct metrics *m, enum metrics_latency which, unsigned long long us)
{
	if (m && which < MLAT_COUNT)
		atomic_store(&m->latency_us[which], us);
}

void metrics_vmm_latency(struct metrics *m, enum metrics_latency which, unsigned long long us)
{
	if (m && which < MLAT_COUNT)
		atomic_store(&m->vmm_latency_us[which], us);
}

void metrics_count_deprecated(struct metrics *m)
{
	if (m)
		atomic_fetch_add(&m->deprecated_calls, 1);
}

void metrics_mark_startup(struct metrics *m, unsigned long long start_cpu_us,
                          unsigned long long parent_cpu_us)
{
	struct timespec cpu;
	m->startup_us = log_uptime_us();
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0) {
		unsigned long long now = (unsigned long long)cpu.tv_sec * 1000000 + (unsigned long long)cpu.tv_nsec / 1000;
		/* a start time from another clock's future counts as 0 */
		m->startup_cpu_us = (now > start_cpu_us ? now - start_cpu_us : 0) + parent_cpu_us;
	}
}

/* ---- Firecracker's schema (tests/host_tools/fcmetrics.py): every group
 * and leaf is written; a leaf husk has no figure for stays 0. A device's
 * group is its resource's (api/resource.h: metrics_group). ---- */

static const char *const agg_leaves[] = { "min_us", "max_us", "sum_us", NULL };
static const char *const vcpu_aggs[] = { "exit_io_in_agg", "exit_io_out_agg", "exit_mmio_read_agg",
                                         "exit_mmio_write_agg", NULL };
static const char *const hotplug_aggs[] = { "plug_agg", "unplug_agg", "state_agg", "unplug_all_agg", NULL };

static const struct metrics_group {
	const char *name;
	const char *const *leaves;
	const char *const *aggs;
} fc_groups[] = {
	{ "api_server", (const char *const[]){ "process_startup_time_us", "process_startup_time_cpu_us", NULL }, NULL },
	{ "deprecated_api", (const char *const[]){ "deprecated_http_api_calls", NULL }, NULL },
	{ "get_api_requests", (const char *const[]){ "instance_info_count", "machine_cfg_count",
	  "mmds_count", "vmm_version_count", "hotplug_memory_count", NULL }, NULL },
	{ "i8042", (const char *const[]){ "error_count", "missed_read_count", "missed_write_count",
	  "read_count", "reset_count", "write_count", NULL }, NULL },
	{ "latencies_us", (const char *const[]){ "full_create_snapshot", "diff_create_snapshot",
	  "load_snapshot", "pause_vm", "resume_vm", "vmm_full_create_snapshot",
	  "vmm_diff_create_snapshot", "vmm_load_snapshot", "vmm_pause_vm", "vmm_resume_vm", NULL }, NULL },
	{ "logger", (const char *const[]){ "missed_metrics_count", "metrics_fails", "missed_log_count",
	  "rate_limited_log_count", NULL }, NULL },
	{ "mmds", (const char *const[]){ "rx_accepted", "rx_accepted_err", "rx_accepted_unusual",
	  "rx_bad_eth", "rx_invalid_token", "rx_no_token", "rx_count", "tx_bytes", "tx_count",
	  "tx_errors", "tx_frames", "connections_created", "connections_destroyed", NULL }, NULL },
	{ "patch_api_requests", (const char *const[]){ "drive_count", "drive_fails", "network_count",
	  "network_fails", "machine_cfg_count", "machine_cfg_fails", "mmds_count", "mmds_fails",
	  "hotplug_memory_count", "hotplug_memory_fails", "pmem_count", "pmem_fails", NULL }, NULL },
	{ "put_api_requests", (const char *const[]){ "actions_count", "actions_fails",
	  "boot_source_count", "boot_source_fails", "drive_count", "drive_fails", "logger_count",
	  "logger_fails", "machine_cfg_count", "machine_cfg_fails", "cpu_cfg_count", "cpu_cfg_fails",
	  "metrics_count", "metrics_fails", "network_count", "network_fails", "mmds_count",
	  "mmds_fails", "vsock_count", "vsock_fails", "pmem_count", "pmem_fails", "serial_count",
	  "serial_fails", "hotplug_memory_count", "hotplug_memory_fails", NULL }, NULL },
	{ "seccomp", (const char *const[]){ "num_faults", NULL }, NULL },
	{ "vcpu", (const char *const[]){ "exit_io_in", "exit_io_out", "exit_mmio_read",
	  "exit_mmio_write", "failures", "kvmclock_ctrl_fails", NULL }, vcpu_aggs },
	{ "vmm", (const char *const[]){ "panic_count", NULL }, NULL },
	{ "uart", (const char *const[]){ "error_count", "flush_count", "missed_read_count",
	  "missed_write_count", "read_count", "write_count", "rate_limiter_dropped_bytes", NULL }, NULL },
	{ "signals", (const char *const[]){ "sigbus", "sigsegv", "sigxfsz", "sigxcpu", "sigpipe",
	  "sighup", "sigill", NULL }, NULL },
	{ "interrupts", (const char *const[]){ "triggers", "config_updates", NULL }, NULL },
	{ "pmem", (const char *const[]){ "activate_fails", "cfg_fails", "event_fails",
	  "queue_event_count", "rate_limiter_throttled_events", "rate_limiter_event_count", NULL }, NULL },
	{ "memory_hotplug", (const char *const[]){ "activate_fails", "queue_event_fails",
	  "queue_event_count", "plug_count", "plug_bytes", "plug_fails", "unplug_count",
	  "unplug_bytes", "unplug_fails", "unplug_discard_fails", "state_count", "state_fails",
	  "unplug_all_count", "unplug_all_fails", NULL }, hotplug_aggs },
};

/* Groups whose leaves are values, not counters: never turned into
 * increments. */
static const char *const store_groups[] = { "api_server", "latencies_us", "husk", NULL };

static void put(json_t *o, const char *key, unsigned long long v)
{
	json_object_set_new(o, key, json_integer((json_int_t)v));
}

static json_t *zeros(const char *const *leaves, const char *const *aggs)
{
	json_t *o = json_object();
	for (size_t i = 0; leaves && leaves[i]; i++)
		put(o, leaves[i], 0);
	for (size_t i = 0; aggs && aggs[i]; i++)
		json_object_set_new(o, aggs[i], zeros(agg_leaves, NULL));
	return o;
}

/* ---- what husk has for them ---- */

/* Add v to key in g when Firecracker's schema has it there. */
static void add_known(json_t *g, const char *key, unsigned long long v)
{
	json_t *cur = json_object_get(g, key);
	if (cur)
		put(g, key, (unsigned long long)json_integer_value(cur) + v);
}

/* get/put/patch_api_requests: each resource's requests and failures under
 * its Firecracker name (resources sharing one are summed). */
static void metrics_fill_api(struct metrics *m, json_t *line)
{
	static const char *const groups[MM_COUNT] = { "get_api_requests", "put_api_requests",
		                                      "patch_api_requests", NULL };
	char key[64];
	for (int r = 0; r < METRICS_RESOURCES && api_resources[r]; r++) {
		const char *name = api_resources[r]->fc_metrics;
		for (int mm = 0; name && mm < MM_OTHER; mm++) {
			json_t *g = json_object_get(line, groups[mm]);
			snprintf(key, sizeof(key), "%s_count", name);
			add_known(g, key, atomic_load(&m->calls[r][mm]));
			/* Firecracker counts no GET failures */
			snprintf(key, sizeof(key), "%s_fails", name);
			if (mm != MM_GET)
				add_known(g, key, atomic_load(&m->fails[r][mm]));
		}
	}
	put(json_object_get(line, "deprecated_api"), "deprecated_http_api_calls", atomic_load(&m->deprecated_calls));
	json_t *srv = json_object_get(line, "api_server");
	put(srv, "process_startup_time_us", m->startup_us);
	put(srv, "process_startup_time_cpu_us", m->startup_cpu_us);
	static const char *const lat[MLAT_COUNT] = { "full_create_snapshot", "diff_create_snapshot",
	                                             "load_snapshot", "pause_vm", "resume_vm" };
	json_t *l = json_object_get(line, "latencies_us");
	for (int i = 0; i < MLAT_COUNT; i++) {
		char vmm_key[64];
		put(l, lat[i], atomic_load(&m->latency_us[i]));
		snprintf(vmm_key, sizeof(vmm_key), "vmm_%s", lat[i]);
		put(l, vmm_key, atomic_load(&m->vmm_latency_us[i]));
	}
}

void metrics_add(json_t *g, json_t *total, const char *key, unsigned long long v)
{
	put(g, key, v);
	if (total)
		put(total, key, (unsigned long long)json_integer_value(json_object_get(total, key)) + v);
}

/* The group of the resource that configures devices of cls, or NULL. */
static const struct metrics_device_group *device_group(const struct virtio_class *cls)
{
	for (int i = 0; api_resources[i]; i++)
		if (api_resources[i]->metrics_group && api_resources[i]->metrics_group->cls == cls)
			return api_resources[i]->metrics_group;
	return NULL;
}

/* One device's figures: in its own "<group>_<id>" and the group's total,
 * or in the group itself for a single device. */
static void metrics_fill_device(json_t *line, const struct vmm_device *d)
{
	const struct metrics_device_group *mg = device_group(d->cls);
	char name[VMM_DEVICE_ID_LEN + 32];
	if (!mg)
		return;
	json_t *total = json_object_get(line, mg->name);
	if (!mg->per_device) {
		mg->fill(total, NULL, d->dev);
		return;
	}
	json_t *g = zeros(mg->leaves, mg->aggs);
	snprintf(name, sizeof(name), "%s_%s", mg->name, d->id);
	json_object_set_new(line, name, g);
	mg->fill(g, total, d->dev);
}

/* Every virtio device's counters, and the interrupts they sent. */
static void metrics_fill_devices(json_t *line, const struct vmm *vmm)
{
	unsigned long long irqs = 0;
	for (int i = 0; i < vmm->devices.nr; i++) {
		const struct vmm_device *d = &vmm->devices.devs[i];
		metrics_fill_device(line, d);
		irqs += virtio_class_transport(d->cls, d->dev)->irqs_sent;
	}
	put(json_object_get(line, "interrupts"), "triggers", irqs);
}

/* The endpoints of every interface MMDS is on, summed. */
static struct mmds_stack_stats metrics_mmds_frames(const struct vmm *vmm)
{
	struct mmds_stack_stats t = { 0 };
	for (int i = 0; i < vmm->devices.nr; i++) {
		const struct vmm_device *d = &vmm->devices.devs[i];
		const struct mmds_stack *st = d->cls == &net_class ? ((const struct net *)d->dev)->dev.mmds : NULL;
		if (!st)
			continue;
		t.rx_frames += st->stats.rx_frames;
		t.rx_malformed += st->stats.rx_malformed + st->stats.rx_bad_csum + st->stats.rx_unsupported;
		t.rx_out_of_window += st->stats.rx_out_of_window + st->stats.rx_rst_ignored + st->stats.rx_no_conn +
		                      st->stats.rx_oversized;
		t.tx_frames += st->stats.tx_frames;
		t.tx_bytes += st->stats.tx_bytes;
		t.tx_ctl_dropped += st->stats.tx_ctl_dropped;
		t.conns_opened += st->stats.conns_opened;
		t.conns_closed += st->stats.conns_closed;
	}
	return t;
}

/* MMDS under Firecracker's names: frames the endpoints took (those that
 * failed its checks are rx_accepted_err, those no connection wanted are
 * rx_accepted_unusual), the guests' requests and their tokens. */
static void metrics_fill_mmds(json_t *line, const struct vmm *vmm)
{
	const struct mmds_stats *m = &vmm->mmds.stats;
	struct mmds_stack_stats t = metrics_mmds_frames(vmm);
	json_t *g = json_object_get(line, "mmds");
	put(g, "rx_accepted", t.rx_frames);
	put(g, "rx_accepted_err", t.rx_malformed);
	put(g, "rx_accepted_unusual", t.rx_out_of_window);
	put(g, "rx_invalid_token", m->rx_invalid_token);
	put(g, "rx_no_token", m->rx_no_token);
	put(g, "rx_count", m->rx_requests + m->rx_bad_requests);
	put(g, "tx_bytes", t.tx_bytes);
	put(g, "tx_count", t.tx_frames);
	put(g, "tx_frames", t.tx_frames);
	put(g, "tx_errors", t.tx_ctl_dropped);
	put(g, "connections_created", t.conns_opened);
	put(g, "connections_destroyed", t.conns_closed);
}

/* Exits summed over every vCPU; husk's own beside them. */
static void metrics_fill_vcpu(json_t *line, json_t *husk, const struct vmm *vmm)
{
	unsigned long long io_in = 0, io_out = 0, mmio_rd = 0, mmio_wr = 0, unclaimed = 0, kicks = 0;
	for (unsigned i = 0; vmm->vm.vcpus && i < vmm->vm.nr_vcpus; i++) {
		const struct vcpu_exits *e = &vmm->vm.vcpus[i].exits;
		io_in += atomic_load_explicit(&e->io_in, memory_order_relaxed);
		io_out += atomic_load_explicit(&e->io_out, memory_order_relaxed);
		mmio_rd += atomic_load_explicit(&e->mmio_read, memory_order_relaxed);
		mmio_wr += atomic_load_explicit(&e->mmio_write, memory_order_relaxed);
		unclaimed += atomic_load_explicit(&e->unclaimed, memory_order_relaxed);
		kicks += atomic_load_explicit(&e->interrupted, memory_order_relaxed);
	}
	json_t *g = json_object_get(line, "vcpu");
	put(g, "exit_io_in", io_in);
	put(g, "exit_io_out", io_out);
	put(g, "exit_mmio_read", mmio_rd);
	put(g, "exit_mmio_write", mmio_wr);
	put(husk, "vcpu_exit_unclaimed", unclaimed);
	put(husk, "vcpu_kicks", kicks);
}

/* COM1's output: write_count bytes that reached it, missed_write_count
 * bytes that did not (reader stuck or gone, or past the output file's
 * cap; of those, husk's uart_missed_write_limit_count were the cap's),
 * rate_limiter_dropped_bytes bytes over PUT /serial's rate_limiter. */
static void metrics_fill_uart(json_t *line, json_t *husk, struct vmm *vmm)
{
	struct serial_stats st = { 0 };
	serial_get_stats(&vmm->serial, &st);
	json_t *g = json_object_get(line, "uart");
	put(g, "write_count", st.tx_bytes);
	put(g, "missed_write_count", st.tx_dropped);
	put(g, "rate_limiter_dropped_bytes", st.tx_rate_dropped);
	put(husk, "uart_missed_write_limit_count", st.tx_over_limit);
}

/* Answers to res by status class, added to api[name] (resources that
 * share a name are summed). */
static void add_responses(json_t *api, const char *name, atomic_ullong *counts)
{
	static const char *const st_names[MST_COUNT + 1] = { "2xx", "4xx", "5xx", NULL };
	json_t *c = json_object_get(api, name);
	if (!c)
		json_object_set_new(api, name, c = zeros(st_names, NULL));
	for (int s = 0; s < MST_COUNT; s++)
		add_known(c, st_names[s], atomic_load(&counts[s]));
}

/* husk's own: API answers by resource and status class, cumulative. */
static json_t *metrics_husk_json(struct metrics *m, const struct vmm *vmm)
{
	json_t *api = json_object();
	for (int r = 0; r < METRICS_RESOURCES && api_resources[r]; r++)
		add_responses(api, api_resources[r]->metrics, m->api[r]);
	add_responses(api, "other", m->api[METRICS_RESOURCES]);
	unsigned long long boot_us = vmm ? atomic_load(&vmm->boottimer.boot_time_us) : 0;
	/* the working set the restore learned or prefetched (vmm thread's) */
	const struct ws_stats *ws = vmm ? &vmm->snap.ws_stats : &(const struct ws_stats){ 0 };
	json_t *wsj = json_pack("{s:I, s:I, s:I}", "recorded_pages", (json_int_t)ws->recorded_pages,
	                        "prefetched_pages", (json_int_t)ws->prefetched_pages,
	                        "prefetch_us", (json_int_t)ws->prefetch_us);
	return json_pack("{s:I, s:I, s:o, s:o}", "uptime_us", (json_int_t)log_uptime_us(), "guest_boot_time_us",
	                 (json_int_t)boot_us, "api_responses", api, "working_set", wsj);
}

static bool metrics_is_store(const char *group)
{
	for (size_t i = 0; store_groups[i]; i++)
		if (strcmp(group, store_groups[i]) == 0)
			return true;
	return false;
}

/* cur's counters minus prev's, in place (a leaf prev lacks stays). */
static void metrics_subtract(json_t *cur, json_t *prev)
{
	const char *k;
	json_t *v;
	json_object_foreach(cur, k, v) {
		json_t *p = json_object_get(prev, k);
		if (json_is_object(v) && json_is_object(p))
			metrics_subtract(v, p);
		else if (json_is_integer(v) && json_is_integer(p) && json_integer_value(v) >= json_integer_value(p))
			json_integer_set(v, json_integer_value(v) - json_integer_value(p));
	}
}

/* Every counter as its increment since the last line; store groups as
 * they are. Keeps this line's absolute values for the next. */
static json_t *metrics_increments(struct metrics *m, json_t *abs)
{
	json_t *out = json_deep_copy(abs);
	if (m->prev) {
		const char *k;
		json_t *v;
		json_object_foreach(out, k, v)
			if (!metrics_is_store(k))
				metrics_subtract(v, json_object_get(m->prev, k));
		json_decref(m->prev);
	}
	m->prev = abs;
	return out;
}

char *metrics_line(struct metrics *m)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct vmm *vmm = m->vmm && m->vmm->vm_created ? m->vmm : NULL;
	json_t *abs = json_object();
	for (size_t i = 0; i < sizeof(fc_groups) / sizeof(fc_groups[0]); i++)
		json_object_set_new(abs, fc_groups[i].name, zeros(fc_groups[i].leaves, fc_groups[i].aggs));
	for (int i = 0; api_resources[i]; i++) {
		const struct metrics_device_group *mg = api_resources[i]->metrics_group;
		if (mg)
			json_object_set_new(abs, mg->name, zeros(mg->leaves, mg->aggs));
	}
	json_t *husk = metrics_husk_json(m, vmm);
	metrics_fill_api(m, abs);
	if (vmm) {
		metrics_fill_devices(abs, vmm);
		metrics_fill_mmds(abs, vmm);
		metrics_fill_vcpu(abs, husk, vmm);
		metrics_fill_uart(abs, husk, vmm);
	}
	json_object_set_new(abs, "husk", husk);
	json_t *o = metrics_increments(m, abs);
	put(o, "utc_timestamp_ms", (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

int metrics_flush(struct metrics *m)
{
	if (m->fd < 0)
		return -ENODEV;
	char *line = metrics_line(m);
	if (!line)
		return -ENOMEM;
	size_t len = strlen(line);
	line[len] = '\n'; /* replaces the NUL: write len + 1 bytes */
	ssize_t n = write(m->fd, line, len + 1);
	int ret = n == (ssize_t)(len + 1) ? 0 : n < 0 ? -errno : -EIO;
	free(line);
	if (ret == 0)
		m->lines++;
	else
		log_warn("metrics: cannot write a line: %s", strerror(-ret));
	return ret;
}

static void metrics_on_timer(void *opaque, uint32_t events)
{
	struct metrics *m = opaque;
	uint64_t ticks;
	(void)events;
	if (read(m->timer_fd, &ticks, sizeof(ticks)) == sizeof(ticks))
		metrics_flush(m);
}

int metrics_open(struct metrics *m, const char *path)
{
	int ret;
	if (m->fd >= 0)
		return -EALREADY;
	/* non-blocking: a FIFO without a reader fails now (ENXIO) instead of
	 * hanging the vmm thread, and a slow reader loses lines, not the VM */
	m->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
	if (m->fd < 0)
		return -errno;
	m->path = strdup(path);
	if (!m->path) {
		ret = -ENOMEM;
		goto fail;
	}
	if (!m->loop)
		return 0;
	m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec its = { .it_interval = { METRICS_PERIOD_S, 0 }, .it_value = { METRICS_PERIOD_S, 0 } };
	if (m->timer_fd < 0 || timerfd_settime(m->timer_fd, 0, &its, NULL) < 0) {
		ret = -errno;
		goto fail;
	}
	ret = loop_add(m->loop, m->timer_fd, EPOLLIN, metrics_on_timer, m);
	if (ret < 0)
		goto fail;
	return 0;
fail:
	metrics_close(m);
	return ret;
}

void metrics_close(struct metrics *m)
{
	json_decref(m->prev);
	m->prev = NULL;
	if (m->timer_fd >= 0) {
		if (m->loop)
			loop_del(m->loop, m->timer_fd);
		close(m->timer_fd);
	}
	if (m->fd >= 0)
		close(m->fd);
	m->fd = m->timer_fd = -1;
	free(m->path);
	m->path = NULL;
}
