/* racer: attacks husk's virtio devices from two vCPUs. Every device must
 * copy what it reads from guest memory (request headers, segment lists,
 * descriptors, packet headers) once, check the copy and use only the copy;
 * a device that reads twice can be made to act on a value it never
 * checked.
 *
 * race=blk|net|vsock|rng: CPU 0 sets the device up and submits rounds of
 * requests (race_n=N rounds); CPU 1 (an AP, started through smp_lib.c)
 * rewrites what the device reads of them, without pause, until CPU 0 is
 * done. A device that asks for a reset (a rewritten descriptor pointed
 * outside RAM) is reset and set up again, and the rounds go on. Then
 * "husk-guest: race <dev> done ..." and the usual guest_finish.
 *
 * race=blklimit: CPU 0 submits reads whose type CPU 1 flips between FLUSH
 * and IN, for the blk rate limiter: the bytes that get through must be
 * charged (test_race.py reads them in the metrics).
 *
 * flood=rng|net|vsock: CPU 0 hands every used buffer straight back and
 * never stops: the device's queue is never empty for long. It sees a
 * buffer used by the used ring element the device writes (before the
 * device publishes the used index), so it refills within the device's own
 * round. Prints "husk-guest: flood <dev> started", then a progress line
 * every FLOOD_REPORT buffers.
 *
 * Blk safety argument (the host checks the backing file): every sector
 * value any CPU writes is either inside the allowed range
 * race_sector=S race_sectors=N (N >= BLK_SPAN) with every length the
 * device can see, or a hostile one that stays beyond the disk whichever
 * bytes of the old and the new value the device reads (see hostile64 and
 * hostile32). A data descriptor never changes direction: the buffers the
 * device may read (and so take for a segment list) are written by the
 * guest only, with such values; the device writes (disk data, the id)
 * only into buffers it never reads. */
#include "guest.h"
#include "smp.h"
#include "vio.h"

#define QN 32 /* race queues */
#define WAIT_SPINS 400000000ull /* per round; a bound on a dead device */
#define AP_SPINS 40000000       /* for the AP to check in */
#define BUF 4096                /* every data buffer */
#define BAD_ADDR 0x7ffffffff000ull /* never guest RAM */
#define BAD_LEN 0x7ffff000u        /* past the end of guest RAM (< 2 GiB) from any buffer */
#define FLOOD_REPORT 256 /* a ring's worth */
#define FLIPS_PER_ROUND 64 /* rewrites CPU 1 makes between two rounds */

/* ---- cmdline ---- */

/* The value of key=... as a pointer into the cmdline, or NULL. */
static const char *cmd_value(const char *key)
{
	const char *c = boot_cmdline();
	size_t kl = strnlen(key, 64);
	for (size_t i = 0; i < G_CMDLINE_MAX && c[i]; i++)
		if ((i == 0 || c[i - 1] == ' ') && !memcmp(c + i, key, kl) && c[i + kl] == '=')
			return c + i + kl + 1;
	return NULL;
}

static bool cmd_is(const char *key, const char *val)
{
	const char *v = cmd_value(key);
	size_t n = strnlen(val, 16);
	return v && !memcmp(v, val, n) && (v[n] == ' ' || v[n] == '\0');
}

static uint64_t cmd_u64(const char *key, uint64_t dflt)
{
	const char *v = cmd_value(key);
	if (!v || *v < '0' || *v > '9')
		return dflt;
	uint64_t n = 0;
	while (*v >= '0' && *v <= '9')
		n = n * 10 + (uint64_t)(*v++ - '0');
	return n;
}

/* ---- the second CPU ---- */

static struct {
	volatile uint32_t ap_up;
	volatile uint32_t stop;
	void (*volatile flip)(uint64_t r); /* what CPU 1 rewrites; NULL: wait */
	volatile uint64_t flips;
} race;

/* splitmix64: every bit of each output is well mixed. The flips take
 * their choices from the low bits, and xorshift's low bits follow each
 * other so closely that a value once written was nearly always written
 * over at once (a hostile descriptor then lasted too briefly for the
 * device ever to meet one). */
static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void racer_ap(uint32_t index)
{
	uint64_t state = index;
	__atomic_store_n(&race.ap_up, 1, __ATOMIC_RELEASE);
	while (!race.stop) {
		void (*f)(uint64_t) = race.flip;
		uint64_t r = splitmix(&state);
		if (f) {
			f(r);
			race.flips++;
		}
	}
	guest_halt();
}

/* Start one AP running racer_ap; false (and why, printed) if none. */
static bool start_second_cpu(void)
{
	const char *why = smp_lapic_init() < 0 ? "apic base msr" : smp_mptable_read();
	if (why) {
		gprintf("husk-guest: race BAD no SMP: %s\n", why);
		return false;
	}
	smp_prepare(racer_ap);
	for (unsigned i = 0; i < smp_cpus.ncpus; i++) {
		if (smp_cpus.apic_ids[i] == smp_cpus.bsp)
			continue;
		smp_start_ap(smp_cpus.apic_ids[i]);
		for (int s = 0; s < AP_SPINS && !__atomic_load_n(&race.ap_up, __ATOMIC_ACQUIRE); s++)
			cpu_relax();
		if (race.ap_up)
			return true;
	}
	serial_puts("husk-guest: race BAD no second cpu came up (run with 2 vCPUs)\n");
	return false;
}

/* ---- what every race mode shares ---- */

static struct vio_q q0, q1, q2; /* q0: the queue under attack */
static volatile uint8_t *dev;
static uint16_t q0_size = QN;   /* FLOOD_QN for a flood */
static uint64_t more_features;  /* INDIRECT_DESC for a flood */

struct tally {
	uint64_t rounds, resets, ok, ioerr, unsupp, other;
};
static struct tally tally;

static void tally_status(uint8_t st)
{
	if (st == 0)
		tally.ok++;
	else if (st == 1)
		tally.ioerr++;
	else if (st == 2)
		tally.unsupp++;
	else
		tally.other++;
}

/* Rarely (1 in 256) a value that breaks the chain (the device must ask
 * for a reset, and the rounds start over); else one of n good ones. */
static uint64_t pick(uint64_t r, const uint64_t *good, unsigned n, uint64_t bad)
{
	if ((r & 255) == 0)
		return bad;
	return good[(r >> 8) % n];
}

/* A sector value past the disk however it is torn: the low three bytes
 * are those of the good value s (< 2^24), the high five all 0xff, so any
 * mix of the bytes of s and of this is s itself or >= 2^24 sectors. */
static uint64_t hostile64(uint64_t s)
{
	return s | 0xffffffffff000000ull;
}

/* The same for a sector count n < 256: any mix has a 0xff in bytes 1..3
 * (>= 0xff00 sectors, past a disk of fewer) or is n. */
static uint32_t hostile32(uint32_t n)
{
	return n | 0xffffff00u;
}

/* One device under attack: n chains in q0, chain k starting at
 * descriptor k * stride. */
struct race_dev {
	const char *name;
	unsigned n, stride;
	bool (*setup)(void);  /* device up, queues ready */
	void (*chains)(void); /* write the chains' descriptors and headers */
	void (*done)(void);   /* a round is back: read its results */
};

/* The device up with its chains written, at the start and after every
 * reset; the rounds then only offer them again. What the device reads is
 * therefore whatever CPU 1 left there last, not a value CPU 0 has just
 * put back: on a host where the two vCPUs take turns on one CPU the
 * device still meets the rewritten values. */
static bool race_setup(const struct race_dev *d)
{
	if (!d->setup())
		return false;
	d->chains();
	return true;
}

/* Let CPU 1 rewrite a little before the next round. Where the two vCPUs
 * run on CPUs of their own this passes at once; where they take turns on
 * one, the spin's pause makes the hypervisor run the other (pause-loop
 * exiting), so each round meets a state CPU 1 has changed, not the one
 * the last round saw. */
static void wait_for_flips(void)
{
	uint64_t want = race.flips + FLIPS_PER_ROUND;
	for (int s = 0; s < AP_SPINS && race.flips < want; s++)
		cpu_relax();
}

static void race_give(const struct race_dev *d)
{
	wait_for_flips();
	for (unsigned k = 0; k < d->n; k++)
		vio_give(&q0, (uint16_t)(k * d->stride));
	vio_kick(&q0);
}

/* Run race_n rounds of the device's chains; a device asking for a reset
 * is set up again. */
static void run_rounds(const struct race_dev *d)
{
	uint64_t rounds = cmd_u64("race_n", 200);
	const char *name = d->name;
	unsigned n = d->n;
	gprintf("husk-guest: race %s started\n", name);
	for (tally.rounds = 0; tally.rounds < rounds; tally.rounds++) {
		race_give(d);
		int r = vio_wait_used(&q0, (uint16_t)n, WAIT_SPINS);
		if (r == 0) {
			gprintf("husk-guest: race %s BAD round %llu: no answer\n", name,
			        (unsigned long long)tally.rounds);
			break;
		}
		if (r < 0) {
			tally.resets++;
			if (!race_setup(d)) {
				gprintf("husk-guest: race %s BAD set-up after reset failed\n", name);
				break;
			}
			continue;
		}
		d->done();
	}
	race.stop = 1;
	gprintf("husk-guest: race %s done rounds=%llu resets=%llu ok=%llu ioerr=%llu unsupp=%llu "
	        "other=%llu flips=%llu\n", name, (unsigned long long)tally.rounds,
	        (unsigned long long)tally.resets, (unsigned long long)tally.ok,
	        (unsigned long long)tally.ioerr, (unsigned long long)tally.unsupp,
	        (unsigned long long)tally.other, (unsigned long long)race.flips);
}

/* Let CPU 1 loose on the requests: from the first round on. */
static void race_begin(void (*flip)(uint64_t))
{
	race.flip = flip;
}

static void set_desc(struct vio_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* ---- virtio-blk ---- */

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WZ 13
#define F_BLK_FLUSH 9
#define F_BLK_DISCARD 13
#define F_BLK_WZ 14
#define BLK_NREQ 6
#define BLK_SEGS 4
#define BLK_STEP 8 /* sectors between requests: a whole BUF each */
#define BLK_SPAN (BLK_NREQ * BLK_STEP)
#define BLK_TEAR_MAX 0xff00 /* hostile32's bound: the disk must be smaller */

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

struct blk_seg {
	uint64_t sector;
	uint32_t num, flags;
};

static const uint32_t blk_types[BLK_NREQ] = { T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ };
static struct blk_hdr bhdr[BLK_NREQ];
static volatile uint8_t bstatus[BLK_NREQ];
static uint8_t bbuf[BLK_NREQ][2][BUF] __attribute__((aligned(4096)));
static uint64_t allow_lo; /* first allowed sector */
static bool blimit;      /* race=blklimit */

/* The device writes into the data buffer of these (and only these). */
static bool blk_dev_writes(unsigned k)
{
	return blimit || blk_types[k] == T_IN || blk_types[k] == T_GET_ID || blk_types[k] == T_FLUSH;
}

static uint32_t blk_len(unsigned k)
{
	return blk_types[k] == T_DISCARD || blk_types[k] == T_WZ ? BLK_SEGS * sizeof(struct blk_seg) : BUF;
}

/* A segment the device may act on: inside the first BLK_STEP allowed sectors. */
static struct blk_seg blk_good_seg(unsigned j)
{
	return (struct blk_seg){ allow_lo + 2 * (j % BLK_SEGS), 2, 0 };
}

/* Fill a buffer the device reads with good segments only: whatever type
 * and length it sees, the list in it stays inside the allowed range. */
static void blk_fill_segs(uint8_t *b)
{
	for (unsigned j = 0; j < BUF / sizeof(struct blk_seg); j++) {
		struct blk_seg s = blk_good_seg(j);
		memcpy(b + j * sizeof(s), &s, sizeof(s));
	}
}

static bool blk_setup(void)
{
	uint64_t want = 1ull << VIO_F_VERSION_1 | 1u << F_BLK_FLUSH | 1u << F_BLK_DISCARD | 1u << F_BLK_WZ |
	                more_features;
	if (!vio_begin(dev, want) || !vio_queue(&q0, dev, 0, QN))
		return false;
	vio_driver_ok(dev);
	return true;
}

static void blk_chains(void)
{
	for (unsigned k = 0; k < BLK_NREQ; k++) {
		uint16_t d = (uint16_t)(3 * k);
		bool w = blk_dev_writes(k);
		bhdr[k] = (struct blk_hdr){ blimit ? T_FLUSH : blk_types[k], 0, allow_lo + BLK_STEP * k };
		bstatus[k] = 0xee;
		set_desc(&q0.desc[d], (uint64_t)&bhdr[k], sizeof(bhdr[k]), VIO_D_NEXT, (uint16_t)(d + 1));
		set_desc(&q0.desc[d + 1], (uint64_t)bbuf[k][0], blimit ? BUF : blk_len(k),
		         (uint16_t)(VIO_D_NEXT | (w ? VIO_D_WRITE : 0)), (uint16_t)(d + 2));
		set_desc(&q0.desc[d + 2], (uint64_t)&bstatus[k], 1, VIO_D_WRITE, 0);
	}
}

static void blk_done(void)
{
	for (unsigned k = 0; k < BLK_NREQ; k++) {
		tally_status(bstatus[k]);
		bstatus[k] = 0xee;
	}
}

static void blk_flip_hdr(struct blk_hdr *h, uint64_t r)
{
	static const uint32_t types[] = { T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ, 7, 0xdeadbeef };
	uint64_t s = allow_lo + BLK_STEP * ((r >> 8) % BLK_NREQ);
	switch (r & 3) {
	case 0:
	case 1: h->type = types[(r >> 2) % 8]; break;
	case 2: h->sector = (r >> 4) & 1 ? hostile64(s) : s; break;
	default: h->reserved = (uint32_t)(r >> 32); break;
	}
}

/* Mostly good values (1 in 8 hostile): a list passes the device's checks
 * often enough that a device which reads it again after checking would
 * meet a hostile value there. */
static void blk_flip_seg(struct blk_seg *s, uint64_t r)
{
	struct blk_seg g = blk_good_seg((unsigned)(r >> 8));
	bool hostile = ((r >> 4) & 7) == 0;
	switch (r & 3) {
	case 0: s->sector = hostile ? hostile64(g.sector) : g.sector; break;
	case 1: s->num = hostile ? hostile32(g.num) : ((r >> 7) & 3) == 0 ? 0 : g.num; break;
	case 2: s->flags = hostile ? (uint32_t[]){ 1, 2, 0x80000000u, ~0u }[(r >> 7) & 3] : 0; break;
	default: *s = g; break;
	}
}

/* Data descriptor of request k: address, length, end of chain. Its
 * direction never changes (see the safety argument at the top). */
static void blk_flip_desc(unsigned k, uint64_t r)
{
	struct vio_desc *d = &q0.desc[3 * k + 1];
	uint16_t w = blk_dev_writes(k) ? VIO_D_WRITE : 0;
	uint64_t lens[] = { blk_len(k), 512, BUF, 64, 16, 0 };
	uint64_t addrs[] = { (uint64_t)bbuf[k][0], (uint64_t)bbuf[k][1] };
	switch (r & 3) {
	case 0: d->len = (uint32_t)pick(r >> 2, lens, 6, BAD_LEN); break;
	case 1: d->addr = pick(r >> 2, addrs, 2, BAD_ADDR); break;
	case 2: d->flags = (uint16_t)(w | ((r >> 2) & 31 ? VIO_D_NEXT : 0)); break;
	default: q0.desc[3 * k].len = (r >> 2) & 31 ? sizeof(struct blk_hdr) : 8; break;
	}
}

static void blk_flip(uint64_t r)
{
	unsigned k = (unsigned)(r % BLK_NREQ);
	r /= BLK_NREQ;
	switch (r & 3) {
	case 0:
	case 1: blk_flip_hdr(&bhdr[k], r >> 2); break;
	case 2:
		if (!blk_dev_writes(k))
			blk_flip_seg((struct blk_seg *)bbuf[k][(r >> 2) & 1] + ((r >> 3) % BLK_SEGS), r >> 5);
		break;
	default: blk_flip_desc(k, r >> 2); break;
	}
}

/* The limiter attack: only the type moves, between FLUSH (free) and IN. */
static void blk_flip_limit(uint64_t r)
{
	bhdr[r % BLK_NREQ].type = (r >> 8) & 1 ? T_IN : T_FLUSH;
}

static bool blk_check_disk(void)
{
	uint64_t cap = vio_config32(dev, 0) | (uint64_t)vio_config32(dev, 4) << 32;
	uint64_t n = cmd_u64("race_sectors", BLK_SPAN);
	if (n < BLK_SPAN || allow_lo + n > cap || cap >= BLK_TEAR_MAX) {
		gprintf("husk-guest: race blk BAD range %llu+%llu on a disk of %llu sectors (needs >= %u "
		        "sectors, disk < %u)\n", (unsigned long long)allow_lo, (unsigned long long)n,
		        (unsigned long long)cap, BLK_SPAN, BLK_TEAR_MAX);
		return false;
	}
	return true;
}

static void race_blk(void)
{
	allow_lo = cmd_u64("race_sector", 8192);
	static const struct race_dev blk = { "blk", BLK_NREQ, 3, blk_setup, blk_chains, blk_done };
	static const struct race_dev limit = { "blklimit", BLK_NREQ, 3, blk_setup, blk_chains, blk_done };
	if (!race_setup(&blk) || !blk_check_disk()) {
		serial_puts("husk-guest: race blk BAD set-up\n");
		return;
	}
	for (unsigned k = 0; k < BLK_NREQ; k++)
		for (unsigned b = 0; b < 2; b++)
			if (!blk_dev_writes(k))
				blk_fill_segs(bbuf[k][b]);
	race_begin(blimit ? blk_flip_limit : blk_flip);
	run_rounds(blimit ? &limit : &blk);
}

/* ---- virtio-net tx ---- */

#define NET_HDR 12
#define F_NET_CSUM 0
#define NET_NREQ 8
#define NET_RXN 16
#define ETH_MIN 60

static uint8_t nhdr[NET_NREQ][64] __attribute__((aligned(64)));
static uint8_t nframe[NET_NREQ][2][BUF] __attribute__((aligned(4096)));
static uint8_t nrx[NET_RXN][2048] __attribute__((aligned(4096)));

/* A frame for nobody: a locally administered unicast MAC and the local
 * experimental ethertype, so the host's stack drops it. */
static void net_frame(uint8_t *f)
{
	static const uint8_t head[14] = { 0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x88, 0xb5 };
	memcpy(f, head, sizeof(head));
}

static bool net_setup(void)
{
	if (!vio_begin(dev, 1ull << VIO_F_VERSION_1 | 1u << F_NET_CSUM | more_features) ||
	    !vio_queue(&q1, dev, 0, NET_RXN) || !vio_queue(&q0, dev, 1, q0_size))
		return false;
	for (uint16_t i = 0; i < NET_RXN; i++) {
		set_desc(&q1.desc[i], (uint64_t)nrx[i], sizeof(nrx[i]), VIO_D_WRITE, 0);
		vio_give(&q1, i);
	}
	vio_driver_ok(dev);
	vio_kick(&q1);
	return true;
}

static void net_chains(void)
{
	for (unsigned k = 0; k < NET_NREQ; k++) {
		uint16_t d = (uint16_t)(2 * k);
		memset(nhdr[k], 0, NET_HDR);
		net_frame(nframe[k][0]);
		set_desc(&q0.desc[d], (uint64_t)nhdr[k], NET_HDR, VIO_D_NEXT, (uint16_t)(d + 1));
		set_desc(&q0.desc[d + 1], (uint64_t)nframe[k][0], ETH_MIN, 0, 0);
	}
}

static void net_done(void)
{
	tally.ok += NET_NREQ; /* tx answers nothing: used is all there is */
}

static uint16_t net_u16(uint64_t r)
{
	static const uint16_t v[] = { 0, 1, 14, 20, 34, 58, 0xfffe, 0xffff };
	return (r & 8) ? (uint16_t)(r >> 4) : v[r & 7];
}

/* virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset */
static void net_flip_hdr(uint8_t *h, uint64_t r)
{
	static const uint8_t flags[] = { 0, 1, 2, 0xff }, gso[] = { 0, 1, 3, 4, 0x81, 0x55 };
	unsigned f = (unsigned)(r % 6);
	r /= 6;
	if (f == 0)
		h[0] = flags[r & 3];
	else if (f == 1)
		h[1] = gso[r % 6];
	else
		__builtin_memcpy(h + 2 * (f - 1), &(uint16_t){ net_u16(r) }, 2);
}

static void net_flip_desc(unsigned k, uint64_t r)
{
	uint64_t lens[] = { ETH_MIN, 14, 13, 1514, BUF, 0 }, hlens[] = { NET_HDR, NET_HDR, 4, 0 };
	uint64_t addrs[] = { (uint64_t)nframe[k][0], (uint64_t)nframe[k][1] };
	switch (r & 3) {
	case 0: q0.desc[2 * k + 1].len = (uint32_t)pick(r >> 2, lens, 6, BAD_LEN); break;
	case 1: q0.desc[2 * k + 1].addr = pick(r >> 2, addrs, 2, BAD_ADDR); break;
	case 2: q0.desc[2 * k].len = (uint32_t)pick(r >> 2, hlens, 4, BAD_LEN); break;
	default: nframe[k][(r >> 2) & 1][12 + ((r >> 3) & 1)] = (uint8_t)(r >> 4); break;
	}
}

static void net_flip(uint64_t r)
{
	unsigned k = (unsigned)(r % NET_NREQ);
	r /= NET_NREQ;
	if (r & 1)
		net_flip_hdr(nhdr[k], r >> 1);
	else
		net_flip_desc(k, r >> 1);
}

static void race_net(void)
{
	static const struct race_dev net = { "net", NET_NREQ, 2, net_setup, net_chains, net_done };
	if (!race_setup(&net)) {
		serial_puts("husk-guest: race net BAD set-up\n");
		return;
	}
	for (unsigned k = 0; k < NET_NREQ; k++)
		net_frame(nframe[k][1]);
	race_begin(net_flip);
	run_rounds(&net);
}

/* ---- virtio-vsock tx ---- */

#define VS_HOST_CID 2
#define VS_NREQ 8
#define VS_RXN 16
#define VS_PAYLOAD 64
enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST };

struct vs_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

static struct vs_hdr vhdr[VS_NREQ] __attribute__((aligned(64)));
static uint8_t vpay[VS_NREQ][2][BUF] __attribute__((aligned(4096)));
static uint8_t vrx[VS_RXN][BUF + 64] __attribute__((aligned(4096)));
static uint8_t vev[4][8];
static uint64_t vs_cid;
static uint32_t vs_port; /* host port the test listens on */

static bool vs_setup(void)
{
	if (!vio_begin(dev, 1ull << VIO_F_VERSION_1 | more_features) || !vio_queue(&q1, dev, 0, VS_RXN) ||
	    !vio_queue(&q0, dev, 1, q0_size) || !vio_queue(&q2, dev, 2, 4))
		return false;
	vs_cid = vio_config32(dev, 0) | (uint64_t)vio_config32(dev, 4) << 32;
	for (uint16_t i = 0; i < VS_RXN; i++) {
		set_desc(&q1.desc[i], (uint64_t)vrx[i], sizeof(vrx[i]), VIO_D_WRITE, 0);
		vio_give(&q1, i);
	}
	for (uint16_t i = 0; i < 4; i++) {
		set_desc(&q2.desc[i], (uint64_t)vev[i], sizeof(vev[i]), VIO_D_WRITE, 0);
		vio_give(&q2, i);
	}
	vio_driver_ok(dev);
	vio_kick(&q1);
	vio_kick(&q2);
	return true;
}

/* A good packet k: connect, data, credit, shutdown, reset in turn, from
 * one of four guest ports to the host port the test listens on. */
static struct vs_hdr vs_good(unsigned k)
{
	static const uint16_t ops[VS_NREQ] = { OP_REQUEST, OP_RW, OP_CREDIT_REQUEST, OP_CREDIT_UPDATE,
	                                       OP_RW, OP_SHUTDOWN, OP_RST, OP_RESPONSE };
	return (struct vs_hdr){ .src_cid = vs_cid, .dst_cid = VS_HOST_CID, .src_port = 5000 + k % 4,
	                        .dst_port = vs_port, .len = ops[k] == OP_RW ? VS_PAYLOAD : 0,
	                        .type = 1, .op = ops[k], .flags = ops[k] == OP_SHUTDOWN ? 3 : 0,
	                        .buf_alloc = 65536, .fwd_cnt = 0 };
}

/* The driver's side of receiving: take back every used rx buffer. */
static void vs_rx_recycle(void)
{
	uint16_t idx = __atomic_load_n(&q1.used.idx, __ATOMIC_ACQUIRE);
	for (; q1.used_seen != idx; q1.used_seen++) {
		uint32_t id = q1.used.ring[q1.used_seen % VS_RXN].id;
		if (id < VS_RXN)
			vio_give(&q1, (uint16_t)id);
	}
	vio_kick(&q1);
}

static void vs_chains(void)
{
	for (unsigned k = 0; k < VS_NREQ; k++) {
		uint16_t d = (uint16_t)(2 * k);
		vhdr[k] = vs_good(k);
		set_desc(&q0.desc[d], (uint64_t)&vhdr[k], sizeof(vhdr[k]), VIO_D_NEXT, (uint16_t)(d + 1));
		set_desc(&q0.desc[d + 1], (uint64_t)vpay[k][0], VS_PAYLOAD, 0, 0);
	}
}

static void vs_done(void)
{
	tally.ok += VS_NREQ;
	vs_rx_recycle();
}

static void vs_flip_hdr(struct vs_hdr *h, uint64_t r)
{
	static const uint32_t lens[] = { 0, VS_PAYLOAD, BUF, 0xffffffffu, 0x80000000u, 1 };
	static const uint64_t cids[] = { VS_HOST_CID, 3, 0, ~0ull };
	unsigned f = (unsigned)(r % 9);
	r /= 9;
	switch (f) {
	case 0: h->op = (uint16_t)((r & 8) ? 0xffff : r & 7); break;
	case 1: h->len = lens[r % 6]; break;
	case 2: h->src_port = (r & 4) ? 0xffffffffu : 5000 + (uint32_t)(r & 3); break;
	case 3: h->dst_port = (uint32_t[]){ vs_port, vs_port + 1, 0, 0xffffffffu }[r & 3]; break;
	case 4: h->dst_cid = cids[r & 3]; break;
	case 5: h->src_cid = (r & 1) ? vs_cid : vs_cid + 1; break;
	case 6: h->type = (uint16_t[]){ 1, 1, 2, 0xffff }[r & 3]; break;
	case 7: h->flags = (uint32_t)r; break;
	default: h->buf_alloc = (r & 1) ? 65536 : (uint32_t)r; h->fwd_cnt = (uint32_t)(r >> 32); break;
	}
}

static void vs_flip_desc(unsigned k, uint64_t r)
{
	uint64_t lens[] = { VS_PAYLOAD, 0, BUF, 1 }, hlens[] = { sizeof(struct vs_hdr), 20, 8 };
	uint64_t addrs[] = { (uint64_t)vpay[k][0], (uint64_t)vpay[k][1] };
	switch (r % 3) {
	case 0: q0.desc[2 * k + 1].len = (uint32_t)pick(r / 3, lens, 4, BAD_LEN); break;
	case 1: q0.desc[2 * k + 1].addr = pick(r / 3, addrs, 2, BAD_ADDR); break;
	default: q0.desc[2 * k].len = (uint32_t)pick(r / 3, hlens, 3, BAD_LEN); break;
	}
}

static void vs_flip(uint64_t r)
{
	unsigned k = (unsigned)(r % VS_NREQ);
	r /= VS_NREQ;
	if (r & 3)
		vs_flip_hdr(&vhdr[k], r >> 2);
	else
		vs_flip_desc(k, r >> 2);
}

static void race_vsock(void)
{
	vs_port = (uint32_t)cmd_u64("race_port", 1234);
	static const struct race_dev vs = { "vsock", VS_NREQ, 2, vs_setup, vs_chains, vs_done };
	if (!race_setup(&vs)) {
		serial_puts("husk-guest: race vsock BAD set-up\n");
		return;
	}
	race_begin(vs_flip);
	run_rounds(&vs);
}

/* ---- virtio-rng ---- */

#define RNG_NREQ 8
#define RNG_LEN 64

static uint8_t rbuf[RNG_NREQ][2][BUF] __attribute__((aligned(4096)));

static bool rng_setup(void)
{
	if (!vio_begin(dev, 1ull << VIO_F_VERSION_1 | more_features) || !vio_queue(&q0, dev, 0, q0_size))
		return false;
	vio_driver_ok(dev);
	return true;
}

static void rng_chains(void)
{
	for (unsigned k = 0; k < RNG_NREQ; k++)
		set_desc(&q0.desc[k], (uint64_t)rbuf[k][0], RNG_LEN, VIO_D_WRITE, 0);
}

static void rng_done(void)
{
	tally.ok += RNG_NREQ;
}

/* Length, address, direction and chaining of descriptor k; a chain may
 * run on into the next one (all of them are rng buffers). */
static void rng_flip(uint64_t r)
{
	unsigned k = (unsigned)(r % RNG_NREQ);
	struct vio_desc *d = &q0.desc[k];
	uint64_t lens[] = { RNG_LEN, 0, 1, BUF };
	uint64_t addrs[] = { (uint64_t)rbuf[k][0], (uint64_t)rbuf[k][1] };
	r /= RNG_NREQ;
	switch (r & 3) {
	case 0: d->len = (uint32_t)pick(r >> 2, lens, 4, BAD_LEN); break;
	case 1: d->addr = pick(r >> 2, addrs, 2, BAD_ADDR); break;
	case 2: d->flags = (uint16_t[]){ VIO_D_WRITE, VIO_D_WRITE, 0, VIO_D_WRITE | VIO_D_NEXT }[(r >> 2) & 3]; break;
	default: d->next = (uint16_t)((k + 1 + ((r >> 2) & 1)) % RNG_NREQ); break;
	}
}

static void race_rng(void)
{
	static const struct race_dev rng = { "rng", RNG_NREQ, 1, rng_setup, rng_chains, rng_done };
	if (!race_setup(&rng)) {
		serial_puts("husk-guest: race rng BAD set-up\n");
		return;
	}
	race_begin(rng_flip);
	run_rounds(&rng);
}

/* ---- flood: a queue that is never empty ---- */

#define FLOOD_QN VIO_QMAX
#define FLOOD_SEGS 256 /* descriptors per chain: the most a chain may have */
#define FLOOD_SEG 256  /* bytes each: 64 KiB a chain, the most rng fills */
#define SENTINEL 0xffffffffu
#define IDLE_KICK 256 /* polls without progress before notifying again */
#define F_INDIRECT 28
#define D_INDIRECT 4

/* One indirect table that every chain of the flood uses. A chain is as
 * long and as large as the device takes, so a ring of them is a lot of
 * work: without a per-round budget the device cannot finish a ring
 * before the guest has refilled it, even where the VMM and the vCPU take
 * turns on one CPU. */
static struct vio_desc ftable[FLOOD_SEGS] __attribute__((aligned(16)));
static uint8_t fdata[FLOOD_SEGS * FLOOD_SEG] __attribute__((aligned(4096)));

/* The table: `head` (a packet header, len bytes) first, then data, all
 * writable (rng) or all readable (a packet). */
static void flood_table(bool writable, const void *head, uint32_t len)
{
	memcpy(fdata, head, len);
	for (uint16_t i = 0; i < FLOOD_SEGS; i++) {
		bool last = i == FLOOD_SEGS - 1;
		set_desc(&ftable[i], (uint64_t)fdata + (uint64_t)i * FLOOD_SEG,
		         i == 0 && !writable ? len : FLOOD_SEG,
		         (uint16_t)((writable ? VIO_D_WRITE : 0) | (last ? 0 : VIO_D_NEXT)),
		         (uint16_t)(last ? 0 : i + 1));
	}
}

/* Every descriptor of the ring a chain through the table, all offered. */
static void flood_fill(struct vio_q *q)
{
	for (uint16_t i = 0; i < FLOOD_QN; i++) {
		set_desc(&q->desc[i], (uint64_t)ftable, sizeof(ftable), D_INDIRECT, 0);
		q->used.ring[i].id = SENTINEL;
		vio_give(q, i);
	}
}

struct flood_mode {
	const char *name;
	uint32_t device_id;
	bool (*setup)(void);
};

static const struct flood_mode flood_modes[] = {
	{ "rng", VIO_ID_RNG, rng_setup },
	{ "net", VIO_ID_NET, net_setup },
	{ "vsock", VIO_ID_VSOCK, vs_setup },
};

#define FLOOD_PAYLOAD ((FLOOD_SEGS - 1) * FLOOD_SEG)

/* The device up with a FLOOD_QN queue under attack, every chain in it:
 * rng: 64 KiB to fill; net: a 64 KiB frame for nobody; vsock: 64 KiB of
 * data for a connection that does not exist (the host answers RST). */
static bool flood_setup(const struct flood_mode *m)
{
	q0_size = FLOOD_QN;
	more_features = 1ull << F_INDIRECT;
	dev = vio_find(boot_cmdline(), m->device_id);
	if (!dev || !m->setup())
		return false;
	if (m->device_id == VIO_ID_RNG) {
		flood_table(true, NULL, 0);
	} else if (m->device_id == VIO_ID_NET) {
		uint8_t pkt[NET_HDR + 14] = { 0 };
		net_frame(pkt + NET_HDR);
		flood_table(false, pkt, sizeof(pkt));
	} else {
		struct vs_hdr h = { .src_cid = vs_cid, .dst_cid = VS_HOST_CID, .src_port = 7,
		                    .dst_port = 7, .len = FLOOD_PAYLOAD, .type = 1, .op = OP_RW };
		flood_table(false, &h, sizeof(h));
	}
	flood_fill(&q0);
	return true;
}

/* Hand each buffer back as soon as the device has written its used
 * element; never returns. */
static void flood_run(struct vio_q *q, const char *name)
{
	uint64_t n = 0;
	unsigned idle = 0;
	vio_kick(q);
	gprintf("husk-guest: flood %s started\n", name);
	for (uint16_t pos = 0;; ) {
		volatile struct vio_used_elem *e = &q->used.ring[pos % FLOOD_QN];
		uint32_t id = e->id;
		if (id == SENTINEL) {
			if (++idle == IDLE_KICK) {
				idle = 0;
				vio_kick(q);
			}
			cpu_relax();
			continue;
		}
		if (id >= FLOOD_QN) {
			gprintf("husk-guest: flood %s BAD used id %u\n", name, id);
			return;
		}
		e->id = SENTINEL;
		vio_give(q, (uint16_t)id);
		pos++;
		if (++n % 16 == 0)
			vio_kick(q);
		if (n % FLOOD_REPORT == 0)
			gprintf("husk-guest: flood %s %llu\n", name, (unsigned long long)n);
	}
}

static void flood(const struct flood_mode *m)
{
	if (!flood_setup(m)) {
		gprintf("husk-guest: flood %s BAD set-up\n", m->name);
		return;
	}
	flood_run(&q0, m->name);
}

/* ---- main ---- */

struct race_mode {
	const char *name;
	uint32_t device_id;
	void (*run)(void);
	bool limit; /* blk: the rate limiter attack */
};

static const struct race_mode race_modes[] = {
	{ "blk", VIO_ID_BLOCK, race_blk, false },
	{ "blklimit", VIO_ID_BLOCK, race_blk, true },
	{ "net", VIO_ID_NET, race_net, false },
	{ "vsock", VIO_ID_VSOCK, race_vsock, false },
	{ "rng", VIO_ID_RNG, race_rng, false },
};

static void race_run(const struct race_mode *m)
{
	dev = vio_find(boot_cmdline(), m->device_id);
	if (!dev) {
		gprintf("husk-guest: race %s BAD no such device\n", m->name);
		return;
	}
	blimit = m->limit;
	if (start_second_cpu())
		m->run();
}

void guest_main(uint64_t boot_params, uint64_t start_info)
{
	(void)boot_params;
	(void)start_info;
	for (unsigned i = 0; i < sizeof(flood_modes) / sizeof(flood_modes[0]); i++)
		if (cmd_is("flood", flood_modes[i].name)) {
			flood(&flood_modes[i]);
			return;
		}
	for (unsigned i = 0; i < sizeof(race_modes) / sizeof(race_modes[0]); i++)
		if (cmd_is("race", race_modes[i].name)) {
			race_run(&race_modes[i]);
			return;
		}
	serial_puts("husk-guest: racer BAD no race= or flood= on the cmdline\n");
}
