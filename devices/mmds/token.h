/* token: MMDS V2 session tokens. A token is 32 random bytes (hex) the
 * guest got from PUT /latest/api/token with a time to live of 1..21600 s;
 * it is valid until then, by CLOCK_MONOTONIC (a host clock change cannot
 * extend it). A fixed table holds the live ones: when it is full the one
 * closest to expiry makes room, so a guest asking for tokens in a loop
 * costs memory once and only ever invalidates its own tokens. */
#ifndef HUSK_MMDS_TOKEN_H
#define HUSK_MMDS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMDS_TOKEN_TTL_MIN 1
#define MMDS_TOKEN_TTL_MAX 21600
#define MMDS_TOKEN_LEN 64 /* hex characters */
#define MMDS_TOKENS_MAX 64

struct mmds_token {
	char text[MMDS_TOKEN_LEN + 1]; /* "" when free */
	uint64_t expires_ns;
};

struct mmds_tokens {
	struct mmds_token t[MMDS_TOKENS_MAX];
	uint64_t (*now_ns)(void); /* the clock; tests replace it */
};

void mmds_tokens_init(struct mmds_tokens *tk);
/* A new token valid for ttl seconds, into out[MMDS_TOKEN_LEN + 1].
 * -EINVAL for a ttl out of range, or the getrandom error. */
int mmds_token_new(struct mmds_tokens *tk, uint32_t ttl, char *out);
/* Whether text (len bytes) is a live token. */
bool mmds_token_valid(const struct mmds_tokens *tk, const char *text, size_t len);

#endif
