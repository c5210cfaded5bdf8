/* log: the process-wide logger. Lines go to stderr until a log path is set.
 * One mutex keeps lines whole when several threads log at once. */
#include "vmm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static struct {
	pthread_mutex_t lock;
	enum log_level level;
	bool show_level;
	bool show_origin;
	int fd;
	char *path; /* of fd, NULL for stderr */
	unsigned long long start_us;
} g_log = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.level = LOG_WARN,
	.show_level = true,
	.show_origin = false,
	.fd = STDERR_FILENO,
};

static const char *const level_names[] = { "Off", "Error", "Warning", "Info", "Debug", "Trace" };

int log_level_parse(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "Warn") == 0) {
		*out = LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	return (unsigned)level < sizeof(level_names) / sizeof(level_names[0]) ? level_names[level] : "?";
}

void log_set_level(enum log_level level) { g_log.level = level; }
enum log_level log_get_level(void) { return g_log.level; }

void log_set_options(bool show_level, bool show_origin)
{
	g_log.show_level = show_level;
	g_log.show_origin = show_origin;
}

int log_set_path(const char *path)
{
	/* O_NONBLOCK so a FIFO without a reader does not stall the open. */
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0)
		return -errno;
	char *copy = strdup(path);
	if (!copy) {
		close(fd);
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_log.lock);
	if (g_log.fd != STDERR_FILENO)
		close(g_log.fd);
	g_log.fd = fd;
	free(g_log.path);
	g_log.path = copy;
	pthread_mutex_unlock(&g_log.lock);
	return 0;
}

const char *log_get_path(void)
{
	return g_log.path;
}

void log_get_options(bool *show_level, bool *show_origin)
{
	*show_level = g_log.show_level;
	*show_origin = g_log.show_origin;
}

unsigned long long log_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}

/* The origin of every "at N us" and of the guest boot time: the earliest
 * point this process runs its own code (a constructor, before main). The
 * kernel's record of the exec (/proc/self/stat starttime) would be earlier,
 * but it has clock-tick (10 ms) resolution, too coarse for a boot that takes
 * a few ms. A launcher that knows the real start passes it with
 * --start-time-us (log_set_start_us), as Firecracker's jailer does. */
__attribute__((constructor)) static void log_init_clock(void)
{
	g_log.start_us = log_now_us();
}

void log_set_start_us(unsigned long long mono_us)
{
	if (mono_us && mono_us <= log_now_us())
		g_log.start_us = mono_us;
}

unsigned long long log_uptime_us(void)
{
	return log_now_us() - g_log.start_us;
}

bool log_ratelimit_ok(struct log_ratelimit *rl, unsigned *dropped)
{
	unsigned long long now = log_now_us();
	bool ok;
	*dropped = 0;
	pthread_mutex_lock(&g_log.lock);
	if (now - rl->window_start_us >= LOG_RATELIMIT_WINDOW_US || rl->window_start_us == 0) {
		rl->window_start_us = now;
		rl->printed = 0;
	}
	ok = rl->printed < LOG_RATELIMIT_BURST;
	if (ok) {
		rl->printed++;
		*dropped = rl->suppressed;
		rl->suppressed = 0;
	} else {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&g_log.lock);
	return ok;
}

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	if (level > g_log.level)
		return;
	char buf[1024];
	int off = 0;
	unsigned long long t = log_now_us();
	off += snprintf(buf + off, sizeof(buf) - (size_t)off, "%llu.%06llu ",
	                t / 1000000ULL, t % 1000000ULL);
	if (g_log.show_level)
		off += snprintf(buf + off, sizeof(buf) - (size_t)off, "[%s] ", level_names[level]);
	if (g_log.show_origin)
		off += snprintf(buf + off, sizeof(buf) - (size_t)off, "%s:%d: ", file, line);
	va_list ap;
	va_start(ap, fmt);
	if (off < (int)sizeof(buf))
		off += vsnprintf(buf + off, sizeof(buf) - (size_t)off, fmt, ap);
	va_end(ap);
	if (off >= (int)sizeof(buf) - 1)
		off = (int)sizeof(buf) - 2;
	buf[off++] = '\n';
	pthread_mutex_lock(&g_log.lock);
	ssize_t r = write(g_log.fd, buf, (size_t)off);
	(void)r; /* nowhere to report a failed log write */
	pthread_mutex_unlock(&g_log.lock);
}
