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

void metrics_count_api(struct metrics *m, enum metrics_resource res, int http_status)
{
	enum metrics_status st = http_status < 400 ? MST_2XX : http_status < 500 ? MST_4XX : MST_5XX;
	if (!m || res >= MRES_COUNT)
		return;
	atomic_fetch_add(&m->api[res][st], 1);
}

static json_t *metrics_api_json(struct metrics *m)
{
	static const char *const st_names[MST_COUNT] = { "2xx", "4xx", "5xx" };
	json_t *o = json_object();
	for (int r = 0; r < MRES_COUNT; r++) {
		json_t *c = json_object();
		for (int s = 0; s < MST_COUNT; s++)
			json_object_set_new(c, st_names[s], json_integer((json_int_t)atomic_load(&m->api[r][s])));
		json_object_set_new(o, res_names[r], c);
	}
	return o;
}

static json_t *metrics_block_json(const struct vmm *vmm)
{
	json_t *o = json_object();
	for (int i = 0; vmm && i < vmm->devices.nr; i++) {
		if (vmm->devices.devs[i].cls != &blk_class)
			continue;
		const struct blk_stats *s = &((const struct blk *)vmm->devices.devs[i].dev)->stats;
		json_object_set_new(o, vmm->devices.devs[i].id,
		                    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "read_count", (json_int_t)s->reads,
		                              "write_count", (json_int_t)s->writes, "flush_count",
		                              (json_int_t)s->flushes, "read_bytes", (json_int_t)s->bytes_read,
		                              "write_bytes", (json_int_t)s->bytes_written, "errors",
		                              (json_int_t)s->errors));
	}
	return o;
}

static json_t *metrics_net_json(const struct vmm *vmm)
{
	json_t *o = json_object();
	for (int i = 0; vmm && i < vmm->devices.nr; i++) {
		if (vmm->devices.devs[i].cls != &net_class)
			continue;
		const struct net_stats *s = &((const struct net *)vmm->devices.devs[i].dev)->dev.stats;
		json_object_set_new(o, vmm->devices.devs[i].id,
		                    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rx_bytes_count",
		                              (json_int_t)s->rx_bytes, "rx_packets_count", (json_int_t)s->rx_packets,
		                              "rx_dropped", (json_int_t)(s->rx_dropped + s->rx_no_buffers),
		                              "rx_malformed", (json_int_t)s->rx_malformed, "tx_bytes_count",
		                              (json_int_t)s->tx_bytes, "tx_packets_count", (json_int_t)s->tx_packets,
		                              "tx_dropped", (json_int_t)(s->tx_dropped + s->tx_malformed)));
	}
	return o;
}

/* Exits summed over every vCPU (Firecracker's "vcpu" group). */
static json_t *metrics_vcpu_json(const struct vmm *vmm)
{
	unsigned long long io_in = 0, io_out = 0, mmio_rd = 0, mmio_wr = 0, unclaimed = 0, kicks = 0;
	for (unsigned i = 0; vmm && vmm->vm.vcpus && i < vmm->vm.nr_vcpus; i++) {
		const struct vcpu_exits *e = &vmm->vm.vcpus[i].exits;
		io_in += atomic_load_explicit(&e->io_in, memory_order_relaxed);
		io_out += atomic_load_explicit(&e->io_out, memory_order_relaxed);
		mmio_rd += atomic_load_explicit(&e->mmio_read, memory_order_relaxed);
		mmio_wr += atomic_load_explicit(&e->mmio_write, memory_order_relaxed);
		unclaimed += atomic_load_explicit(&e->unclaimed, memory_order_relaxed);
		kicks += atomic_load_explicit(&e->interrupted, memory_order_relaxed);
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "exit_io_in", (json_int_t)io_in, "exit_io_out",
	                 (json_int_t)io_out, "exit_mmio_read", (json_int_t)mmio_rd, "exit_mmio_write",
	                 (json_int_t)mmio_wr, "exit_unclaimed", (json_int_t)unclaimed, "kicks",
	                 (json_int_t)kicks);
}

/* COM1's output under Firecracker's "uart" names: write_count bytes that
 * reached it, missed_write_count bytes that did not (reader stuck or gone,
 * or past the output file's cap); of those, missed_write_limit_count
 * (husk's own) were dropped by the cap. */
static json_t *metrics_uart_json(struct vmm *vmm)
{
	struct serial_stats st = { 0 };
	if (vmm)
		serial_get_stats(&vmm->serial, &st);
	return json_pack("{s:I, s:I, s:I}", "write_count", (json_int_t)st.tx_bytes, "missed_write_count",
	                 (json_int_t)st.tx_dropped, "missed_write_limit_count", (json_int_t)st.tx_over_limit);
}

char *metrics_line(struct metrics *m)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct vmm *vmm = m->vmm && m->vmm->vm_created ? m->vmm : NULL;
	unsigned long long boot_us = vmm ? atomic_load(&vmm->boottimer.boot_time_us) : 0;
	json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:{s:I}}", "utc_timestamp_ms",
	                      (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, "uptime_us",
	                      (json_int_t)log_uptime_us(), "api_server", metrics_api_json(m), "block",
	                      metrics_block_json(vmm), "net", metrics_net_json(vmm), "vcpu",
	                      metrics_vcpu_json(vmm), "uart", metrics_uart_json(vmm), "boot",
	                      "guest_boot_time_us", (json_int_t)boot_us);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
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
	if (m->timer_fd >= 0) {
		if (m->loop)
			loop_del(m->loop, m->timer_fd);
		close(m->timer_fd);
	}
	if (m->fd >= 0)
		close(m->fd);
	m->fd = m->timer_fd = -1;
}
