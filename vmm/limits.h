/* limits: token buckets and the rate limiter of a device queue.
 *
 * A token bucket (Firecracker's shape) holds up to `size` tokens (bytes or
 * operations), refilled linearly: `size` tokens per `refill_time_ms`. A
 * `one_time_burst` is an extra budget spent first and never refilled. A
 * bucket with size 0 or refill_time 0 does not limit anything. A request
 * bigger than `size` is let through when the bucket is full, and the
 * excess becomes a debt the refill pays before anything else passes, so
 * the long-run rate holds for any request size.
 *
 * The rate limiter pairs a bandwidth and an ops bucket with a timerfd.
 * A device asks rate_limiter_consume(rl, bytes, 1) before it does a
 * request; on false it stops processing that queue (the request stays in
 * the ring or is held, never dropped), and the rate limiter has armed its
 * timerfd for the moment the buckets can pay. The timerfd is on the vmm
 * loop; its handler calls rate_limiter_on_timer and processes the queue
 * again.
 *
 * The configuration structs (struct rate_limiter_config, struct
 * token_bucket_config) are in vmm/config.h; the devices' configs carry
 * them. Use:
 *     struct rate_limiter rl;
 *     rate_limiter_init(&rl, &cfg->rate_limiter);   // -errno: no timerfd
 *     loop_add(loop, rate_limiter_fd(&rl), EPOLLIN, on_timer, dev);
 *     if (!rate_limiter_consume(&rl, len, 1)) { keep the request; return; }
 *     ...
 *     on_timer: rate_limiter_on_timer(&rl); process the queue again.
 *     PATCH:    rate_limiter_update(&rl, &new_cfg);  // only buckets with .set
 *     rate_limiter_destroy(&rl);
 */
#ifndef HUSK_LIMITS_H
#define HUSK_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/config.h"

typedef struct json_t json_t;

struct token_bucket {
	uint64_t size;            /* 0: no limit */
	uint64_t refill_time_ms;  /* 0: no limit */
	uint64_t one_time_burst;  /* what is left of it */
	uint64_t budget;          /* tokens now, <= size */
	uint64_t debt;            /* tokens owed by an oversized request */
	uint64_t last_update_ns;
};

/* Set up a bucket, full, at time now_ns (any monotonic clock). */
void token_bucket_init(struct token_bucket *tb, uint64_t size, uint64_t one_time_burst,
                       uint64_t refill_time_ms, uint64_t now_ns);
bool token_bucket_enabled(const struct token_bucket *tb);
/* Add what the time since the last update earned. */
void token_bucket_refill(struct token_bucket *tb, uint64_t now_ns);
/* Take n tokens at now_ns: true if they were there (or the bucket was
 * full and n exceeds its size: the rest becomes debt). */
bool token_bucket_reduce(struct token_bucket *tb, uint64_t n, uint64_t now_ns);
/* Give back n tokens (of a reduce whose request did not go ahead). */
void token_bucket_refund(struct token_bucket *tb, uint64_t n);
/* Nanoseconds from now_ns until reduce(n) can succeed; 0 if now. Never
 * more than UINT64_MAX (huge refill times saturate). */
uint64_t token_bucket_wait_ns(const struct token_bucket *tb, uint64_t n, uint64_t now_ns);

struct rate_limiter {
	struct token_bucket bw, ops;
	int timer_fd;   /* -1 until init */
	bool blocked;   /* timer armed: do not consume until it fires */
	uint64_t throttled; /* times a consume was refused (metrics) */
};

/* timer_fd is created CLOEXEC|NONBLOCK even without limits, so a later
 * rate_limiter_update can add some. */
int rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *cfg);
void rate_limiter_destroy(struct rate_limiter *rl);
int rate_limiter_fd(const struct rate_limiter *rl);
bool rate_limiter_enabled(const struct rate_limiter *rl);
/* Take bytes from the bandwidth bucket and ops from the ops bucket, both
 * or neither. On false the timer is armed and the limiter is blocked. */
bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t ops);
/* Same, at an explicit time (unit tests), without touching the timer. */
bool rate_limiter_consume_at(struct rate_limiter *rl, uint64_t bytes, uint64_t ops,
                             uint64_t now_ns, uint64_t *wait_ns);
/* The devices' hook shape (struct vchain_limit): consume(bucket = the
 * struct rate_limiter, ops, bytes). */
bool rate_limiter_consume_hook(void *rl, uint64_t ops, uint64_t bytes);
/* Parse "bw=RATE" / "ops=RATE" (prefix "rx_"/"tx_" stripped by the caller)
 * into cfg: 1 if key was one of them, 0 if not ours, -EINVAL if bad. */
int rate_limiter_parse_cli_key(const char *key, const char *val, struct rate_limiter_config *cfg);
/* The timerfd fired: drain it, unblock. The caller resumes its queue. */
void rate_limiter_on_timer(struct rate_limiter *rl);
bool rate_limiter_blocked(const struct rate_limiter *rl);
/* Replace the buckets whose config has .set (size 0 removes the limit);
 * the others keep their state. An unblocked limiter stays as it is; a
 * blocked one is re-armed for the new buckets (the caller should then
 * process the queue if rate_limiter_blocked() turned false). */
void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_config *cfg);

/* Parse the CLI form "bw=BYTES/s" or "ops=N/s" values (a rate per second,
 * with an optional K/M/G suffix, powers of 1024 for bandwidth) into a
 * bucket of size rate/10 refilled every 100 ms, so bursts stay short. */
int rate_limiter_parse_rate(const char *val, bool bytes, struct token_bucket_config *out);

#endif
