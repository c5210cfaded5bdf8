/* log: the one process-wide logger (the only global husk has). */
#ifndef HUSK_LOG_H
#define HUSK_LOG_H

#include <stdbool.h>

/* A line is written when its level is at most the one set; Off writes
 * nothing, Trace everything (husk has no finer lines than Debug). */
enum log_level { LOG_OFF = 0, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

/* Parse "Off"/"Error"/"Warning"/"Info"/"Debug"/"Trace" (Firecracker's
 * spellings, case-insensitive; "Warn" too). */
int log_level_parse(const char *s, enum log_level *out);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_options(bool show_level, bool show_origin);
/* Send log lines to a file or FIFO instead of stderr. Returns 0 or -errno. */
int log_set_path(const char *path);
/* What is in force, for GET /vm/config: the path (NULL while lines go to
 * stderr; valid until the next log_set_path) and the line options. */
const char *log_get_path(void);
void log_get_options(bool *show_level, bool *show_origin);
/* Firecracker's spelling of a level ("Warning", "Off", ...). */
const char *log_level_name(enum log_level level);

void log_write(enum log_level level, const char *file, int line,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_err(...) log_write(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

/* A per-call-site budget for lines a guest can trigger at will: a hostile
 * guest must not be able to fill the host's disk or drown other lines. */
struct log_ratelimit {
	unsigned long long window_start_us;
	unsigned printed;    /* in the current window */
	unsigned suppressed; /* since the last line that got through */
};
#define LOG_RATELIMIT_BURST 10
#define LOG_RATELIMIT_WINDOW_US 5000000ULL
/* true: print this one (and say how many were dropped before it). */
bool log_ratelimit_ok(struct log_ratelimit *rl, unsigned *dropped);

/* A warning caused by guest behaviour: at most LOG_RATELIMIT_BURST lines
 * per call site per 5 s, then a count of what was dropped. */
#define log_guest_warn(fmt, ...)                                                              \
	do {                                                                                  \
		static struct log_ratelimit rl_;                                              \
		unsigned dropped_;                                                            \
		if (log_ratelimit_ok(&rl_, &dropped_)) {                                      \
			if (dropped_)                                                         \
				log_warn("(%u similar lines dropped)", dropped_);             \
			log_warn(fmt, ##__VA_ARGS__);                                         \
		}                                                                             \
	} while (0)

/* Count uptime from mono_us (CLOCK_MONOTONIC, microseconds) instead of the
 * process's first instruction; ignored when 0 or in the future. */
void log_set_start_us(unsigned long long mono_us);
/* Microseconds since process start (see log.c), the base of every
 * boot-time figure. */
unsigned long long log_uptime_us(void);
/* Microseconds of CLOCK_MONOTONIC. */
unsigned long long log_now_us(void);

#endif
