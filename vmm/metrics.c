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

#include "vmm/log.h"
#include "vmm/loop.h"
#include "vmm/vmm.h"

static const char *const res_names[MRES_COUNT] = {
	"root", "version", "machine_config", "boot_source", "drives", "network_interfaces",
	"vsock", "entropy", "logger", "metrics", "actions", "vm", "vm_config", "snapshot",
	"balloon", "mmds", "serial", "other",
};

const char *metrics_resource_name(enum metrics_resource res)
{
	return res < MRES_COUNT ? res_names[res] : "other";
}

void metrics_init(struct metrics *m, struct vmm *vmm, struct loop *loop)
{
	memset(m, 0, sizeof(*m));
	m->fd = m->timer_fd = -1;
	m->vmm = vmm;
	m->loop = loop;
}

void metrics_count_api(struct metrics *m, enum metrics_resource res, enum metrics_method method,
                       int http_status)
{
	enum metrics_status st = http_status < 400 ? MST_2XX : http_status < 500 ? MST_4XX : MST_5XX;
	if (!m || res >= MRES_COUNT || method >= MM_COUNT)
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
 * and leaf is written; a leaf husk has no figure for stays 0 ---- */

static const char *const agg_leaves[] = { "min_us", "max_us", "sum_us", NULL };
static const char *const block_leaves[] = {
	"activate_fails", "cfg_fails", "no_avail_buffer", "event_fails", "execute_fails",
	"invalid_reqs_count", "flush_count", "queue_event_count", "rate_limiter_event_count",
	"update_count", "update_fails", "read_bytes", "write_bytes", "read_count", "write_count",
	"rate_limiter_throttled_events", "io_engine_throttled_events", "remaining_reqs_count", NULL };
static const char *const block_aggs[] = { "read_agg", "write_agg", NULL };
static const char *const net_leaves[] = {
	"activate_fails", "cfg_fails", "no_rx_avail_buffer", "no_tx_avail_buffer", "event_fails",
	"rx_queue_event_count", "rx_event_rate_limiter_count", "rx_rate_limiter_throttled",
	"rx_tap_event_count", "rx_bytes_count", "rx_packets_count", "rx_fails", "rx_count",
	"tap_read_fails", "tap_write_fails", "tx_bytes_count", "tx_malformed_frames", "tx_fails",
	"tx_count", "tx_packets_count", "tx_queue_event_count", "tx_rate_limiter_event_count",
	"tx_rate_limiter_throttled", "tx_spoofed_mac_count", "tx_remaining_reqs_count", NULL };
static const char *const net_aggs[] = { "tap_write_agg", NULL };
static const char *const vcpu_aggs[] = { "exit_io_in_agg", "exit_io_out_agg", "exit_mmio_read_agg",
                                         "exit_mmio_write_agg", NULL };
static const char *const hotplug_aggs[] = { "plug_agg", "unplug_agg", "state_agg", "unplug_all_agg", NULL };

static const struct metrics_group {
	const char *name;
	const char *const *leaves;
	const char *const *aggs;
} fc_groups[] = {
	{ "api_server", (const char *const[]){ "process_startup_time_us", "process_startup_time_cpu_us", NULL }, NULL },
	{ "balloon", (const char *const[]){ "activate_fails", "inflate_count", "stats_updates_count",
	  "stats_update_fails", "deflate_count", "event_fails", "free_page_report_count",
	  "free_page_report_freed", "free_page_report_fails", "free_page_hint_count",
	  "free_page_hint_freed", "free_page_hint_fails", NULL }, NULL },
	{ "block", block_leaves, block_aggs },
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
	{ "net", net_leaves, net_aggs },
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
	{ "vsock", (const char *const[]){ "activate_fails", "cfg_fails", "rx_queue_event_fails",
	  "tx_queue_event_fails", "ev_queue_event_fails", "muxer_event_fails", "conn_event_fails",
	  "rx_queue_event_count", "tx_queue_event_count", "rx_bytes_count", "tx_bytes_count",
	  "rx_packets_count", "tx_packets_count", "conns_added", "conns_killed", "conns_removed",
	  "killq_resync", "tx_flush_fails", "tx_write_fails", "rx_read_fails", NULL }, NULL },
	{ "entropy", (const char *const[]){ "activate_fails", "entropy_event_fails",
	  "entropy_event_count", "entropy_bytes", "host_rng_fails", "entropy_rate_limiter_throttled",
	  "rate_limiter_event_count", NULL }, NULL },
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

static const struct api_leaf {
	const char *group, *name;
	enum metrics_method method;
	enum metrics_resource res;
} api_leaves[] = {
	{ "get_api_requests", "instance_info", MM_GET, MRES_ROOT },
	{ "get_api_requests", "machine_cfg", MM_GET, MRES_MACHINE_CONFIG },
	{ "get_api_requests", "mmds", MM_GET, MRES_MMDS },
	{ "get_api_requests", "vmm_version", MM_GET, MRES_VERSION },
	{ "put_api_requests", "actions", MM_PUT, MRES_ACTIONS },
	{ "put_api_requests", "boot_source", MM_PUT, MRES_BOOT_SOURCE },
	{ "put_api_requests", "drive", MM_PUT, MRES_DRIVES },
	{ "put_api_requests", "logger", MM_PUT, MRES_LOGGER },
	{ "put_api_requests", "machine_cfg", MM_PUT, MRES_MACHINE_CONFIG },
	{ "put_api_requests", "metrics", MM_PUT, MRES_METRICS },
	{ "put_api_requests", "network", MM_PUT, MRES_NETWORK },
	{ "put_api_requests", "mmds", MM_PUT, MRES_MMDS },
	{ "put_api_requests", "vsock", MM_PUT, MRES_VSOCK },
	{ "put_api_requests", "serial", MM_PUT, MRES_SERIAL },
	{ "patch_api_requests", "drive", MM_PATCH, MRES_DRIVES },
	{ "patch_api_requests", "network", MM_PATCH, MRES_NETWORK },
	{ "patch_api_requests", "machine_cfg", MM_PATCH, MRES_MACHINE_CONFIG },
	{ "patch_api_requests", "mmds", MM_PATCH, MRES_MMDS },
};

static void metrics_fill_api(struct metrics *m, json_t *line)
{
	char key[64];
	for (size_t i = 0; i < sizeof(api_leaves) / sizeof(api_leaves[0]); i++) {
		const struct api_leaf *a = &api_leaves[i];
		json_t *g = json_object_get(line, a->group);
		snprintf(key, sizeof(key), "%s_count", a->name);
		put(g, key, atomic_load(&m->calls[a->res][a->method]));
		if (a->method == MM_GET)
			continue; /* Firecracker counts no GET failures */
		snprintf(key, sizeof(key), "%s_fails", a->name);
		put(g, key, atomic_load(&m->fails[a->res][a->method]));
	}
	json_t *srv = json_object_get(line, "api_server");
	put(srv, "process_startup_time_us", m->startup_us);
	put(srv, "process_startup_time_cpu_us", m->startup_cpu_us);
	static const char *const lat[MLAT_COUNT] = { "full_create_snapshot", "diff_create_snapshot",
	                                             "load_snapshot", "pause_vm", "resume_vm" };
	json_t *l = json_object_get(line, "latencies_us");
	for (int i = 0; i < MLAT_COUNT; i++)
		put(l, lat[i], atomic_load(&m->latency_us[i]));
}

/* Add v to key in the group and in the total beside it. */
static void add(json_t *g, json_t *total, const char *key, unsigned long long v)
{
	put(g, key, v);
	if (total)
		put(total, key, (unsigned long long)json_integer_value(json_object_get(total, key)) + v);
}

static void metrics_fill_block(json_t *line, const struct blk *b, const char *id)
{
	char name[VMM_DEVICE_ID_LEN + 8];
	json_t *g = zeros(block_leaves, block_aggs), *t = json_object_get(line, "block");
	snprintf(name, sizeof(name), "block_%s", id);
	json_object_set_new(line, name, g);
	add(g, t, "read_count", b->stats.reads);
	add(g, t, "write_count", b->stats.writes);
	add(g, t, "flush_count", b->stats.flushes);
	add(g, t, "read_bytes", b->stats.bytes_read);
	add(g, t, "write_bytes", b->stats.bytes_written);
	add(g, t, "execute_fails", b->stats.errors);
	add(g, t, "rate_limiter_throttled_events", b->rl.throttled);
}

static void metrics_fill_net(json_t *line, const struct net *n, const char *id)
{
	char name[VMM_DEVICE_ID_LEN + 8];
	const struct net_stats *s = &n->dev.stats;
	json_t *g = zeros(net_leaves, net_aggs), *t = json_object_get(line, "net");
	snprintf(name, sizeof(name), "net_%s", id);
	json_object_set_new(line, name, g);
	add(g, t, "rx_bytes_count", s->rx_bytes);
	add(g, t, "rx_packets_count", s->rx_packets);
	add(g, t, "rx_count", s->rx_packets);
	add(g, t, "rx_fails", s->rx_dropped + s->rx_malformed);
	add(g, t, "no_rx_avail_buffer", s->rx_no_buffers);
	add(g, t, "tx_bytes_count", s->tx_bytes);
	add(g, t, "tx_packets_count", s->tx_packets);
	add(g, t, "tx_count", s->tx_packets);
	add(g, t, "tx_malformed_frames", s->tx_malformed);
	add(g, t, "tap_write_fails", s->tx_dropped);
	add(g, t, "rx_rate_limiter_throttled", n->rx_rl.throttled);
	add(g, t, "tx_rate_limiter_throttled", n->tx_rl.throttled);
}

static void metrics_fill_vsock(json_t *line, const struct vsock *v)
{
	const struct vsock_stats *s = &v->dev.mux.stats;
	json_t *g = json_object_get(line, "vsock");
	put(g, "rx_bytes_count", s->rx_bytes);
	put(g, "tx_bytes_count", s->tx_bytes);
	put(g, "rx_packets_count", s->rx_packets);
	put(g, "tx_packets_count", s->tx_packets);
	put(g, "conns_added", s->conns_opened);
	put(g, "conns_removed", s->conns_closed);
	put(g, "conns_killed", s->rst_sent);
}

static void metrics_fill_entropy(json_t *line, const struct rng *r)
{
	json_t *g = json_object_get(line, "entropy");
	put(g, "entropy_event_count", r->dev.requests);
	put(g, "entropy_bytes", r->dev.bytes);
	put(g, "entropy_rate_limiter_throttled", r->rl.throttled);
}

static void metrics_fill_balloon(json_t *line, const struct balloon *b)
{
	json_t *g = json_object_get(line, "balloon");
	put(g, "inflate_count", b->dev.n.inflate_count);
	put(g, "deflate_count", b->dev.n.deflate_count);
	put(g, "stats_updates_count", b->dev.n.stats_updates);
	put(g, "stats_update_fails", b->dev.n.stats_fails);
	put(g, "free_page_report_count", b->dev.n.report_count);
	put(g, "free_page_report_freed", b->dev.n.report_freed);
	put(g, "free_page_report_fails", b->dev.n.report_fails);
	/* Firecracker's event_fails: what the guest sent that was refused */
	put(g, "event_fails", b->dev.n.refused);
}

/* Every virtio device's counters, and the interrupts they sent. */
static void metrics_fill_devices(json_t *line, const struct vmm *vmm)
{
	unsigned long long irqs = 0;
	for (int i = 0; i < vmm->devices.nr; i++) {
		const struct vmm_device *d = &vmm->devices.devs[i];
		if (d->cls == &blk_class)
			metrics_fill_block(line, d->dev, d->id);
		else if (d->cls == &net_class)
			metrics_fill_net(line, d->dev, d->id);
		else if (d->cls == &vsock_class)
			metrics_fill_vsock(line, d->dev);
		else if (d->cls == &rng_class)
			metrics_fill_entropy(line, d->dev);
		else if (d->cls == &balloon_class)
			metrics_fill_balloon(line, d->dev);
		irqs += d->cls->transport(d->dev)->irqs_sent;
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
 * cap); of those, husk's uart_missed_write_limit_count were the cap's. */
static void metrics_fill_uart(json_t *line, json_t *husk, struct vmm *vmm)
{
	struct serial_stats st = { 0 };
	serial_get_stats(&vmm->serial, &st);
	json_t *g = json_object_get(line, "uart");
	put(g, "write_count", st.tx_bytes);
	put(g, "missed_write_count", st.tx_dropped);
	put(husk, "uart_missed_write_limit_count", st.tx_over_limit);
}

/* husk's own: API answers by resource and status class, cumulative. */
static json_t *metrics_husk_json(struct metrics *m, const struct vmm *vmm)
{
	static const char *const st_names[MST_COUNT] = { "2xx", "4xx", "5xx" };
	json_t *api = json_object();
	for (int r = 0; r < MRES_COUNT; r++) {
		json_t *c = json_object();
		for (int s = 0; s < MST_COUNT; s++)
			put(c, st_names[s], atomic_load(&m->api[r][s]));
		json_object_set_new(api, res_names[r], c);
	}
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
