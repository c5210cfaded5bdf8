/* limits: token buckets and the rate limiter (see limits.h). */
#include "vmm/limits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS 1000000ull

/* ---- token bucket ----
 * All products are done in 128 bits: size and refill_time are whatever a
 * client sends (up to 2^64-1), and elapsed * size overflows 64 bits fast. */

typedef unsigned __int128 u128;

static uint64_t sat64(u128 v)
{
	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

static u128 tb_period_ns(const struct token_bucket *tb)
{
	return (u128)tb->refill_time_ms * NS_PER_MS;
}

bool token_bucket_enabled(const struct token_bucket *tb)
{
	return tb->size && tb->refill_time_ms;
}

void token_bucket_init(struct token_bucket *tb, uint64_t size, uint64_t one_time_burst,
                       uint64_t refill_time_ms, uint64_t now_ns)
{
	memset(tb, 0, sizeof(*tb));
	tb->size = size;
	tb->refill_time_ms = refill_time_ms;
	tb->one_time_burst = one_time_burst;
	tb->budget = size;
	tb->last_update_ns = now_ns;
}

void token_bucket_refill(struct token_bucket *tb, uint64_t now_ns)
{
	if (now_ns <= tb->last_update_ns)
		return; /* a clock that went back earns nothing */
	if (!token_bucket_enabled(tb)) {
		tb->last_update_ns = now_ns;
		return;
	}
	uint64_t elapsed = now_ns - tb->last_update_ns;
	u128 period = tb_period_ns(tb);
	u128 earned = (u128)elapsed * tb->size / period;
	u128 room = (u128)tb->debt + (tb->size - tb->budget);
	if (earned >= room) {
		/* full: time beyond that is not saved up */
		tb->debt = 0;
		tb->budget = tb->size;
		tb->last_update_ns = now_ns;
		return;
	}
	/* advance by the time the earned tokens cost, so the fraction of a
	 * token earned in the rest of the interval is not lost */
	tb->last_update_ns += (uint64_t)(earned * period / tb->size);
	uint64_t e = (uint64_t)earned;
	if (e <= tb->debt) {
		tb->debt -= e;
		return;
	}
	e -= tb->debt;
	tb->debt = 0;
	tb->budget += e; /* < size - budget: checked above */
}

bool token_bucket_reduce(struct token_bucket *tb, uint64_t n, uint64_t now_ns)
{
	if (!token_bucket_enabled(tb) || n == 0)
		return true;
	token_bucket_refill(tb, now_ns);
	if (tb->one_time_burst) {
		uint64_t b = n < tb->one_time_burst ? n : tb->one_time_burst;
		tb->one_time_burst -= b;
		n -= b;
		if (n == 0)
			return true;
	}
	if (tb->debt)
		return false;
	if (tb->budget >= n) {
		tb->budget -= n;
		return true;
	}
	if (n > tb->size && tb->budget == tb->size) {
		/* never fits: let it pass on a full bucket and owe the rest */
		tb->debt = n - tb->budget;
		tb->budget = 0;
		return true;
	}
	return false;
}

void token_bucket_refund(struct token_bucket *tb, uint64_t n)
{
	if (!token_bucket_enabled(tb))
		return;
	uint64_t d = n < tb->debt ? n : tb->debt;
	tb->debt -= d;
	n -= d;
	/* a refund never fills past size (a burst spent stays spent) */
	tb->budget = n >= tb->size - tb->budget ? tb->size : tb->budget + n;
}

uint64_t token_bucket_wait_ns(const struct token_bucket *tb, uint64_t n, uint64_t now_ns)
{
	if (!token_bucket_enabled(tb))
		return 0;
	struct token_bucket t = *tb;
	token_bucket_refill(&t, now_ns);
	n = n > t.one_time_burst ? n - t.one_time_burst : 0;
	if (n == 0 || (t.debt == 0 && t.budget >= n))
		return 0;
	/* tokens still missing: the debt, then n (capped at a full bucket,
	 * which is what an oversized request waits for) minus what is there */
	uint64_t want = n > t.size ? t.size : n;
	u128 missing = t.debt ? (u128)t.debt + want : (u128)(want - t.budget);
	if (missing == 0)
		return 0;
	u128 period = tb_period_ns(&t);
	/* time for `missing` tokens, rounded up, minus what the partial
	 * interval since last_update already earned */
	if (period > ((u128)-1 - t.size) / missing)
		return UINT64_MAX; /* centuries: as good as never */
	u128 need = (missing * period + t.size - 1) / t.size;
	u128 since = now_ns > t.last_update_ns ? now_ns - t.last_update_ns : 0;
	return need > since ? sat64(need - since) : 1;
}

/* ---- rate limiter ---- */

static uint64_t rl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void rl_set_bucket(struct token_bucket *tb, const struct token_bucket_config *c,
                          uint64_t now)
{
	token_bucket_init(tb, c->size, c->one_time_burst, c->refill_time_ms, now);
}

int rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *cfg)
{
	uint64_t now = rl_now_ns();
	memset(rl, 0, sizeof(*rl));
	rl_set_bucket(&rl->bw, &cfg->bandwidth, now);
	rl_set_bucket(&rl->ops, &cfg->ops, now);
	rl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	return rl->timer_fd < 0 ? -errno : 0;
}

void rate_limiter_destroy(struct rate_limiter *rl)
{
	if (rl->timer_fd >= 0)
		close(rl->timer_fd);
	rl->timer_fd = -1;
}

int rate_limiter_fd(const struct rate_limiter *rl)
{
	return rl->timer_fd;
}

bool rate_limiter_enabled(const struct rate_limiter *rl)
{
	return token_bucket_enabled(&rl->bw) || token_bucket_enabled(&rl->ops);
}

bool rate_limiter_blocked(const struct rate_limiter *rl)
{
	return rl->blocked;
}

bool rate_limiter_consume_at(struct rate_limiter *rl, uint64_t bytes, uint64_t ops,
                             uint64_t now_ns, uint64_t *wait_ns)
{
	*wait_ns = 0;
	if (!token_bucket_reduce(&rl->ops, ops, now_ns)) {
		*wait_ns = token_bucket_wait_ns(&rl->ops, ops, now_ns);
		return false;
	}
	if (!token_bucket_reduce(&rl->bw, bytes, now_ns)) {
		token_bucket_refund(&rl->ops, ops);
		*wait_ns = token_bucket_wait_ns(&rl->bw, bytes, now_ns);
		return false;
	}
	return true;
}

static void rl_arm(struct rate_limiter *rl, uint64_t wait_ns)
{
	struct itimerspec its = { 0 };
	/* at least 1 us, at most an hour: re-armed on expiry if still short */
	if (wait_ns < 1000)
		wait_ns = 1000;
	if (wait_ns > 3600ull * 1000000000ull)
		wait_ns = 3600ull * 1000000000ull;
	its.it_value.tv_sec = (time_t)(wait_ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(wait_ns % 1000000000ull);
	if (rl->timer_fd >= 0 && timerfd_settime(rl->timer_fd, 0, &its, NULL) == 0)
		rl->blocked = true;
}

bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t ops)
{
	uint64_t wait;
	if (rl->blocked)
		return false;
	if (!rate_limiter_enabled(rl))
		return true;
	if (rate_limiter_consume_at(rl, bytes, ops, rl_now_ns(), &wait))
		return true;
	rl->throttled++;
	rl_arm(rl, wait);
	return false;
}

bool rate_limiter_consume_hook(void *rl, uint64_t ops, uint64_t bytes)
{
	return rate_limiter_consume(rl, bytes, ops);
}

int rate_limiter_parse_cli_key(const char *key, const char *val, struct rate_limiter_config *cfg)
{
	bool bw = !strcmp(key, "bw");
	if (!bw && strcmp(key, "ops") != 0)
		return 0;
	if (rate_limiter_parse_rate(val, bw, bw ? &cfg->bandwidth : &cfg->ops) < 0)
		return -EINVAL;
	return 1;
}

void rate_limiter_on_timer(struct rate_limiter *rl)
{
	uint64_t v;
	ssize_t r = read(rl->timer_fd, &v, sizeof(v));
	(void)r; /* nonblocking: a spurious wake reads nothing */
	rl->blocked = false;
}

void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_config *cfg)
{
	uint64_t now = rl_now_ns();
	if (cfg->bandwidth.set)
		rl_set_bucket(&rl->bw, &cfg->bandwidth, now);
	if (cfg->ops.set)
		rl_set_bucket(&rl->ops, &cfg->ops, now);
	if (rl->blocked) {
		/* the new buckets start full: let the device try now */
		struct itimerspec its = { .it_value = { .tv_nsec = 1000 } };
		if (timerfd_settime(rl->timer_fd, 0, &its, NULL) < 0)
			rl->blocked = false;
	}
}

/* ---- configuration ---- */

int rate_limiter_parse_rate(const char *val, bool bytes, struct token_bucket_config *out)
{
	char *end;
	if (!val || *val < '0' || *val > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(val, &end, 10);
	uint64_t mult = 1;
	if (errno)
		return -EINVAL;
	if (bytes && (*end == 'K' || *end == 'k'))
		mult = 1ull << 10, end++;
	else if (bytes && *end == 'M')
		mult = 1ull << 20, end++;
	else if (bytes && *end == 'G')
		mult = 1ull << 30, end++;
	if (strcmp(end, "/s") != 0 && *end != '\0')
		return -EINVAL;
	if (v == 0 || v > UINT64_MAX / mult)
		return -EINVAL;
	v *= mult;
	memset(out, 0, sizeof(*out));
	out->set = true;
	/* a tenth of a second's worth, refilled every 100 ms; a rate too small
	 * for that gets a one-second bucket */
	if (v >= 10) {
		out->size = v / 10;
		out->refill_time_ms = 100;
	} else {
		out->size = v;
		out->refill_time_ms = 1000;
	}
	return 0;
}
