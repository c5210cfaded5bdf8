/* mmds: the microVM metadata service. One struct mmds per VM holds the
 * data store, the V2 session tokens and the counters; each network
 * interface that may reach it has a struct mmds_stack (tcp.h) that
 * answers the guest at the MMDS address. Everything runs on the vmm
 * thread: the API's requests and the interfaces' frames alike. */
#ifndef HUSK_MMDS_H
#define HUSK_MMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/mmds/store.h"
#include "devices/mmds/token.h"
#include "vmm/snapshot/snapshot.h"

/* what the guest's requests did; frame-level drops are in mmds_stack */
struct mmds_stats {
	uint64_t rx_requests;      /* complete HTTP requests */
	uint64_t rx_bad_requests;  /* unparsable or oversized */
	uint64_t rx_no_token;      /* GETs without a token (V1 counts too) */
	uint64_t rx_invalid_token; /* GETs with a wrong or expired one */
	uint64_t tokens_issued;
};

struct mmds {
	struct mmds_store store;
	struct mmds_tokens tokens;
	int version;      /* 1 or 2 */
	bool imds_compat; /* IMDS text whatever the Accept header says */
	struct mmds_stats stats;
};

/* PUT /mmds/config, the config file's mmds-config: which interfaces
 * reach the service, at which address, speaking which version; kept in a
 * vm_config as a config_device (mmds_config.c). */
#define MMDS_MAX_IFACES 8 /* as many as there can be interfaces */
struct mmds_config {
	int version;   /* 1 or 2 */
	uint32_t ipv4; /* host order; 169.254.169.254 by default */
	bool imds_compat;
	int nr_ifaces;
	char *ifaces[MMDS_MAX_IFACES];
};

#define MMDS_DEFAULT_IPV4 0xa9fea9feu

struct vm_config;
/* c's MMDS configuration, or NULL: none. */
const struct mmds_config *mmds_config_of(const struct vm_config *c);
/* Make m (malloc'd) c's; -ENOSPC (m still the caller's) if c has no room. */
int mmds_config_set(struct vm_config *c, struct mmds_config *m);
/* Free m with its interface names (NULL is fine). */
void mmds_config_free(void *m);

void mmds_init(struct mmds *m, size_t size_limit);
void mmds_destroy(struct mmds *m);

/* Snapshots keep the data store (the configuration travels with the
 * devices' in the snapshot's vm_config); the blob is the store's JSON
 * text, empty when nothing was ever PUT. Session tokens are not kept:
 * a restored guest asks for a new one, as on Firecracker, whose token
 * key is made anew by every process. */
extern const struct snapshot_dev_ops mmds_snapshot_ops;

/* ---- the guest's HTTP (http.c) ---- */

/* The largest request the guest may send: headers included. */
#define MMDS_HTTP_MAX_REQUEST 4096

/* Look at the bytes the guest has sent so far on one connection. 0: no
 * whole request head yet; n > 0: the first n bytes were one request head
 * and *resp (malloc'd, *resp_len bytes) is the whole HTTP response to
 * send (a 400 "Invalid request." for a head that is not HTTP or that
 * announces a body, as Firecracker's MMDS answers); -EINVAL: no head
 * within MMDS_HTTP_MAX_REQUEST bytes (*resp then holds a 400 to send
 * before closing). -ENOMEM when out of memory. */
int mmds_http_handle(struct mmds *m, const char *req, size_t len, char **resp, size_t *resp_len);

#endif
