/* token: MMDS V2 session tokens (see token.h). */
#include "devices/mmds/token.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static uint64_t token_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void mmds_tokens_init(struct mmds_tokens *tk)
{
	memset(tk, 0, sizeof(*tk));
	tk->now_ns = token_clock;
}

/* The slot for a new token: a free or expired one, else the one that
 * expires first. */
static struct mmds_token *token_slot(struct mmds_tokens *tk, uint64_t now)
{
	struct mmds_token *best = &tk->t[0];
	for (int i = 0; i < MMDS_TOKENS_MAX; i++) {
		struct mmds_token *t = &tk->t[i];
		if (!t->text[0] || t->expires_ns <= now)
			return t;
		if (t->expires_ns < best->expires_ns)
			best = t;
	}
	return best;
}

int mmds_token_new(struct mmds_tokens *tk, uint32_t ttl, char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[MMDS_TOKEN_LEN / 2];
	if (ttl < MMDS_TOKEN_TTL_MIN || ttl > MMDS_TOKEN_TTL_MAX)
		return -EINVAL;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	uint64_t now = tk->now_ns();
	struct mmds_token *t = token_slot(tk, now);
	for (size_t i = 0; i < sizeof(raw); i++) {
		t->text[2 * i] = hex[raw[i] >> 4];
		t->text[2 * i + 1] = hex[raw[i] & 15];
	}
	t->text[MMDS_TOKEN_LEN] = 0;
	t->expires_ns = now + (uint64_t)ttl * 1000000000ull;
	memcpy(out, t->text, MMDS_TOKEN_LEN + 1);
	return 0;
}

/* Compare without an early exit: the time taken says nothing about how
 * much of a guess was right. */
static bool token_equal(const char *a, const char *b)
{
	unsigned diff = 0;
	for (int i = 0; i < MMDS_TOKEN_LEN; i++)
		diff |= (unsigned)(a[i] ^ b[i]);
	return diff == 0;
}

bool mmds_token_valid(const struct mmds_tokens *tk, const char *text, size_t len)
{
	bool ok = false;
	if (len != MMDS_TOKEN_LEN)
		return false;
	uint64_t now = tk->now_ns();
	for (int i = 0; i < MMDS_TOKENS_MAX; i++) {
		const struct mmds_token *t = &tk->t[i];
		if (t->text[0] && t->expires_ns > now && token_equal(t->text, text))
			ok = true;
	}
	return ok;
}
