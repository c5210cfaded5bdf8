/* balloon_hint: free page hinting (virtio 1.2, 5.5.6.7). The host starts
 * a run by writing a new command id into the config space; the driver
 * answers with that id on the hinting queue, then hands over free ranges
 * it holds for the run, then sends STOP. Those ranges go back to the host
 * like inflated pages, after the same check of every 4 KiB page; the host
 * ends the run with DONE and the driver frees the ranges again (their
 * next touch faults in a zero page). Ranges sent under another id than
 * the host's current run are from a run already over: left alone. */
#include "devices/virtio/balloon.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

static void balloon_hint_set(struct balloon_dev *bd, uint32_t cmd)
{
	bd->hint.host_cmd = cmd;
	if (bd->config_changed)
		bd->config_changed(bd->ctx);
}

int balloon_dev_hint_start(struct balloon_dev *bd, bool ack_on_stop)
{
	if (!bd->active)
		return -ENODEV;
	if (!bd->has_hint)
		return -EOPNOTSUPP;
	uint32_t cmd = bd->hint.last_cmd + 1;
	if (cmd <= BALLOON_HINT_DONE) /* wrapped: 0 and 1 are the spec's */
		cmd = BALLOON_HINT_DONE + 1;
	bd->hint.last_cmd = cmd;
	bd->hint.ack_on_stop = ack_on_stop;
	balloon_hint_set(bd, cmd);
	return 0;
}

int balloon_dev_hint_stop(struct balloon_dev *bd)
{
	if (!bd->active)
		return -ENODEV;
	if (!bd->has_hint)
		return -EOPNOTSUPP;
	balloon_hint_set(bd, BALLOON_HINT_DONE);
	return 0;
}

/* Give back the whole pages of [a, a + len) the guest may hint: each in
 * guest RAM and not in the balloon (a page it gave away is not its to
 * hint); a refused page is counted and splits the range. */
static void balloon_hint_range(struct balloon_dev *bd, uintptr_t a, size_t len)
{
	uintptr_t ram = (uintptr_t)bd->gm->base, end = ram + bd->gm->map_size;
	uintptr_t s = (a + BALLOON_PAGE - 1) & ~(uintptr_t)(BALLOON_PAGE - 1);
	uintptr_t e = (a + len) & ~(uintptr_t)(BALLOON_PAGE - 1);
	uintptr_t run = s;
	bool failed = false;
	for (uintptr_t p = s; p <= e; p += BALLOON_PAGE) {
		bool ok = p < e && p >= ram && p < end && !balloon_dev_in(bd, (p - ram) / BALLOON_PAGE);
		if (ok)
			continue;
		if (p > run) {
			if (balloon_dev_discard(bd, (uint8_t *)run, p - run) < 0)
				failed = true;
			else
				bd->n.hint_freed += p - run;
		}
		if (p < e)
			bd->n.refused++;
		run = p + BALLOON_PAGE;
	}
	bd->n.hint_count++;
	bd->n.hint_fails += failed;
}

/* One chain: 4-byte buffers are the driver's command id, the others free
 * ranges. *stopped: whether the last id the driver sent ends its run. */
static void balloon_hint_chain(struct balloon_dev *bd, const struct vchain *c, bool *stopped)
{
	struct balloon_hint *h = &bd->hint;
	for (int k = 0; k < c->nread + c->nwrite; k++) {
		if (c->iov[k].iov_len == sizeof(uint32_t)) {
			uint32_t cmd;
			memcpy(&cmd, c->iov[k].iov_base, sizeof(cmd));
			h->guest_cmd = le32toh(cmd);
			h->guest_seen = true;
			*stopped = h->guest_cmd <= BALLOON_HINT_DONE;
			continue;
		}
		if (h->host_cmd > BALLOON_HINT_DONE && h->guest_seen && h->guest_cmd == h->host_cmd)
			balloon_hint_range(bd, (uintptr_t)c->iov[k].iov_base, c->iov[k].iov_len);
	}
}

void balloon_dev_hint_drain(struct balloon_dev *bd)
{
	static __thread struct vchain c;
	struct vchain_queue *q = &bd->hintq;
	unsigned budget = VCHAIN_BUDGET;
	bool used = false, stopped = false;
	while (vchain_pop_budget(q, &c, &budget) == 1) {
		balloon_hint_chain(bd, &c, &stopped);
		q->ops->push(q->q, c.head, 0);
		used = true;
	}
	if (used)
		q->ops->publish(q->q);
	/* the driver has hinted all it will: let it have the pages back */
	if (stopped && bd->hint.ack_on_stop && bd->hint.host_cmd > BALLOON_HINT_DONE)
		balloon_hint_set(bd, BALLOON_HINT_DONE);
}
