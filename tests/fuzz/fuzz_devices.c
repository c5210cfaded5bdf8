/* libFuzzer target: a hostile guest driving each virtio device through the
 * virtio-mmio transport, with the vmm thread's loop behind it.
 *
 * Input: byte 0 picks the device (blk, net, vsock, rng, balloon; its high bits pick
 * blk's read-only and cache mode, and a rate limit so tight that blk, net
 * and rng hand chains back to the ring), then a sequence of operations, each an
 * op byte and its operands:
 *   register write (offset, width, value), register read (offset, width),
 *   guest memory write (gpa, length, bytes), QUEUE_NOTIFY of a queue,
 *   a bounded loop round, a whole driver bring-up (features, ring
 *   addresses and sizes for every queue, DRIVER_OK), and a host-side event
 *   (a frame arriving on the tap, a host process connecting to vsock).
 * Guest RAM is 64 KiB of heap at guest address 0, so ASan flags any access
 * the devices make outside it; a device that spins trips -timeout. The
 * device is created and destroyed per input and every fd it opened must be
 * closed again by its destroy. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/net_tap.h"
#include "devices/virtio/balloon.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vsock.h"
#include "vmm/log.h"
#include "vmm/loop.h"
#include "vmm/vm.h"

#define RAM 0x10000ULL
#define BLK_BYTES (64 * 512)
#define LOOP_ROUNDS 8
#define GUEST_CID 3
/* the host port a guest may connect to (a listener at "<uds>_1") */
#define HOST_PORT 1
/* flags in byte 0 above the device choice */
#define F_BLK_RO 1
#define F_BLK_WRITEBACK 2
#define F_LIMITED 4

/* two requests and 1 KiB, refilled only after the input is done: the
 * third chain is throttled and goes back to the ring (unpop) */
static const struct rate_limiter_config tight = {
	.bandwidth = { .set = true, .size = 1024, .refill_time_ms = 1000 },
	.ops = { .set = true, .size = 2, .refill_time_ms = 1000 },
};
static const struct rate_limiter_config unlimited;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- stubs: no KVM, and a socketpair plays the tap ---- */

/* only virtio_env_for_vm calls these, and the target builds its own env */
int vm_ioeventfd(struct vm *vm, int efd, uint64_t addr, uint32_t len, uint64_t datamatch,
                 bool match)
{
	(void)vm; (void)efd; (void)addr; (void)len; (void)datamatch; (void)match;
	abort();
}
int vm_irqfd(struct vm *vm, int efd, unsigned gsi) { (void)vm; (void)efd; (void)gsi; abort(); }

/* A SOCK_SEQPACKET socket keeps frame boundaries like a tap does, and
 * carries the virtio-net header in front of each frame the same way. */
int tap_open(const char *name, int vnet_hdr_len) { (void)name; (void)vnet_hdr_len; abort(); }
int tap_setup_fd(int fd, int vnet_hdr_len)
{
	(void)vnet_hdr_len;
	return fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
}
int tap_get_name(int fd, char name[TAP_NAME_MAX]) { (void)fd; (void)name; return -ENOTTY; }
int tap_set_offload(int fd, unsigned tun_flags, unsigned *applied)
{
	(void)fd;
	if (applied)
		*applied = tun_flags;
	return 0;
}
unsigned tap_offload_from_features(uint64_t guest_features) { return (unsigned)guest_features; }

/* ---- the input ---- */

struct in {
	const uint8_t *p;
	size_t left;
};

static uint8_t in_u8(struct in *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint32_t in_le(struct in *in, int bytes)
{
	uint32_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint32_t)in_u8(in) << (8 * i);
	return v;
}

/* ---- one device under test ---- */

enum dev_kind { DEV_BLK, DEV_NET, DEV_VSOCK, DEV_RNG, DEV_BALLOON, DEV_KINDS };

struct fx {
	uint8_t *ram;
	struct guest_mem gm;
	struct loop loop;
	struct virtio_env env;
	enum dev_kind kind;
	struct virtio_mmio *t;
	void *dev;
	int blk_backing;  /* memfd behind the drive */
	int tap_fd;       /* net: the device's end of the "tap" (ours to close) */
	int tap_peer;     /* net: the host end */
	char uds[64];     /* vsock: the device's socket */
	int port_listen;  /* vsock: the listener at "<uds>_HOST_PORT" */
};

static int blk_up(struct fx *f, uint8_t flags)
{
	char path[64];
	/* a fresh, zeroed disk per input: the previous input's writes gone */
	if (ftruncate(f->blk_backing, 0) < 0 || ftruncate(f->blk_backing, BLK_BYTES) < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", f->blk_backing);
	struct drive_config cfg = {
		.drive_id = "fuzz", .path_on_host = path, .is_root_device = true,
		.is_read_only = flags & F_BLK_RO,
		.cache_type = flags & F_BLK_WRITEBACK ? CACHE_WRITEBACK : CACHE_UNSAFE,
		.io_engine = IO_ENGINE_SYNC,
		.rate_limiter = flags & F_LIMITED ? tight : unlimited,
	};
	struct blk *b;
	int ret = blk_create(&b, &f->env, &cfg, 0);
	if (ret == 0) {
		f->t = &b->t;
		f->dev = b;
	}
	return ret;
}

static int net_up(struct fx *f, uint8_t flags)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	const struct rate_limiter_config *rl = flags & F_LIMITED ? &tight : &unlimited;
	struct net_config cfg = { .has_mac = true, .guest_mac = { 6, 0, 0, 0, 0, 1 },
	                          .rx_rate_limiter = *rl, .tx_rate_limiter = *rl };
	struct net *n;
	int ret = net_create(&n, &f->env, &cfg, sv[0], 0);
	if (ret < 0) {
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	/* MMDS on the interface: guest frames for 169.254.169.254 go to it,
	 * its answers come back through the RX queue (devices/mmds/) */
	static struct mmds mmds;
	static bool mmds_ready;
	if (!mmds_ready) {
		mmds_init(&mmds, 0);
		mmds_ready = true;
	}
	n->dev.mmds = mmds_stack_new(&mmds, 0xa9fea9fe);
	f->tap_fd = sv[0];
	f->tap_peer = sv[1];
	f->t = &n->t;
	f->dev = n;
	return 0;
}

static int vsock_up(struct fx *f)
{
	struct vsock *v;
	int ret = vsock_create(&v, &f->env, GUEST_CID, f->uds, 0);
	if (ret == 0) {
		f->t = &v->t;
		f->dev = v;
	}
	return ret;
}

static int rng_up(struct fx *f, uint8_t flags)
{
	struct rng *r;
	int ret = rng_create(&r, &f->env, 0);
	if (ret == 0) {
		if (flags & F_LIMITED)
			rng_update_rate_limiter(r, &tight);
		f->t = &r->t;
		f->dev = r;
	}
	return ret;
}

/* every queue offered; page numbers from the input hit RAM or not */
static int balloon_up(struct fx *f)
{
	static const struct balloon_config cfg = { .amount_mib = 1, .deflate_on_oom = true,
		                                   .stats_polling_interval_s = 1, .free_page_hinting = true,
		                                   .free_page_reporting = true };
	int ret = balloon_class.create(&f->dev, &f->env, &cfg, 0);
	if (ret == 0)
		f->t = virtio_class_transport(&balloon_class, f->dev);
	return ret;
}

static int dev_up(struct fx *f, uint8_t sel)
{
	uint8_t flags = sel / DEV_KINDS;
	f->kind = (enum dev_kind)(sel % DEV_KINDS);
	switch (f->kind) {
	case DEV_BLK: return blk_up(f, flags);
	case DEV_NET: return net_up(f, flags);
	case DEV_VSOCK: return vsock_up(f);
	case DEV_BALLOON: return balloon_up(f);
	default: return rng_up(f, flags);
	}
}

static void dev_down(struct fx *f)
{
	switch (f->kind) {
	case DEV_BLK: blk_destroy(f->dev); break;
	case DEV_NET:
		net_destroy(f->dev);
		close(f->tap_fd);
		close(f->tap_peer);
		break;
	case DEV_VSOCK: vsock_destroy(f->dev); break;
	case DEV_BALLOON: balloon_class.destroy(f->dev); break;
	default: rng_destroy(f->dev); break;
	}
}

/* ---- what the guest and the host do ---- */

static void mmio_write(struct fx *f, uint64_t off, uint32_t len, uint64_t v)
{
	virtio_mmio_ops.write(f->t, off, &v, len);
}

/* The vmm thread's share: handlers of whatever became ready (notify
 * eventfds, the tap, vsock work and sockets), a bounded number of rounds
 * since a device out of budget asks for another. */
static void run_loop(struct fx *f)
{
	for (int i = 0; i < LOOP_ROUNDS && loop_run_once(&f->loop, 0) > 0; i++)
		;
}

static void op_reg_write(struct fx *f, struct in *in)
{
	uint64_t off = in_le(in, 2) & 0x1ff;
	uint32_t len = 1u << (in_u8(in) & 3);
	mmio_write(f, off, len, in_le(in, 4));
}

static void op_reg_read(struct fx *f, struct in *in)
{
	uint64_t off = in_le(in, 2) & 0x1ff;
	uint32_t len = 1u << (in_u8(in) & 3);
	uint64_t v;
	virtio_mmio_ops.read(f->t, off, &v, len);
}

static void op_mem(struct fx *f, struct in *in)
{
	uint32_t gpa = in_le(in, 2);
	size_t len = in_u8(in);
	if (len > in->left)
		len = in->left;
	if (len > RAM - gpa)
		len = RAM - gpa;
	memcpy(f->ram + gpa, in->p, len);
	in->p += len;
	in->left -= len;
}

static void op_notify(struct fx *f, struct in *in)
{
	mmio_write(f, VMMIO_QUEUE_NOTIFY, 4, in_u8(in) % 4);
	run_loop(f);
}

/* What a driver does at probe, with the input's features and rings, so
 * the fuzzer reaches a live device in one step. */
static void op_bring_up(struct fx *f, struct in *in)
{
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	mmio_write(f, VMMIO_STATUS, 4, 0);
	mmio_write(f, VMMIO_STATUS, 4, st);
	mmio_write(f, VMMIO_DRIVER_FEATURES_SEL, 4, 0);
	mmio_write(f, VMMIO_DRIVER_FEATURES, 4, in_le(in, 4));
	mmio_write(f, VMMIO_DRIVER_FEATURES_SEL, 4, 1);
	mmio_write(f, VMMIO_DRIVER_FEATURES, 4, 1); /* VERSION_1 */
	st |= VIRTIO_STATUS_FEATURES_OK;
	mmio_write(f, VMMIO_STATUS, 4, st);
	for (unsigned q = 0; q < f->t->ops->nr_queues; q++) {
		mmio_write(f, VMMIO_QUEUE_SEL, 4, q);
		mmio_write(f, VMMIO_QUEUE_NUM, 4, 1u << (in_u8(in) % 9));
		mmio_write(f, VMMIO_QUEUE_DESC_LOW, 4, in_le(in, 2));
		mmio_write(f, VMMIO_QUEUE_AVAIL_LOW, 4, in_le(in, 2));
		mmio_write(f, VMMIO_QUEUE_USED_LOW, 4, in_le(in, 2));
		mmio_write(f, VMMIO_QUEUE_READY, 4, 1);
	}
	mmio_write(f, VMMIO_STATUS, 4, st | VIRTIO_STATUS_DRIVER_OK);
	run_loop(f);
}

/* net: a frame (with its virtio-net header) comes in on the tap */
static void host_net(struct fx *f, struct in *in)
{
	size_t len = in_le(in, 2);
	if (len > in->left)
		len = in->left;
	ssize_t r = send(f->tap_peer, in->p, len, MSG_DONTWAIT);
	(void)r; /* a full socket drops it, as a tap would */
	in->p += len;
	in->left -= len;
}

/* vsock: a host process connects and asks for a guest port, or writes
 * more on the connection it has */
static void host_vsock(struct fx *f, struct in *in)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->uds);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		abort();
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
		char line[32];
		int n = snprintf(line, sizeof(line), "CONNECT %u\n", in_le(in, 4));
		ssize_t r = write(s, line, (size_t)n);
		(void)r;
		run_loop(f); /* the mux accepts and asks the guest */
	}
	close(s); /* the mux sees EOF: the connection goes away */
}

static void op_host(struct fx *f, struct in *in)
{
	if (f->kind == DEV_NET)
		host_net(f, in);
	else if (f->kind == DEV_VSOCK)
		host_vsock(f, in);
	run_loop(f);
}

/* vsock connections the guest opened to HOST_PORT, from this input */
static void drop_host_conns(struct fx *f)
{
	int c;
	while ((c = accept4(f->port_listen, NULL, NULL, SOCK_NONBLOCK)) >= 0)
		close(c);
}

static void run_ops(struct fx *f, struct in *in)
{
	while (in->left) {
		switch (in_u8(in) % 7) {
		case 0: op_reg_write(f, in); break;
		case 1: op_reg_read(f, in); break;
		case 2: op_mem(f, in); break;
		case 3: op_notify(f, in); break;
		case 4: run_loop(f); break;
		case 5: op_bring_up(f, in); break;
		default: op_host(f, in); break;
		}
	}
}

static int lowest_free_fd(void)
{
	int fd = dup(0);
	close(fd);
	return fd;
}

/* the listener's path, removed when libFuzzer exits (its time is up) */
static char port_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static void unlink_port_path(void)
{
	unlink(port_path);
}

static void fx_init(struct fx *f)
{
	log_set_level(LOG_ERROR);
	f->ram = calloc(1, RAM);
	if (!f->ram || gm_init_from(&f->gm, f->ram, RAM, RAM) < 0 || loop_init(&f->loop) < 0)
		abort();
	f->env = (struct virtio_env){ .gm = &f->gm, .loop = &f->loop, .mmio_base = 0xd0000000ull,
	                              .gsi_base = 5, .nr_slots = 1 };
	f->blk_backing = memfd_create("fuzz-blk", MFD_CLOEXEC);
	snprintf(f->uds, sizeof(f->uds), "/tmp/husk-fuzz-vsock-%d", (int)getpid());
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(port_path, sizeof(port_path), "%s_%u", f->uds, HOST_PORT);
	memcpy(a.sun_path, port_path, sizeof(port_path));
	unlink(port_path);
	atexit(unlink_port_path);
	f->port_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (f->blk_backing < 0 || f->port_listen < 0 ||
	    bind(f->port_listen, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(f->port_listen, 64) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fx f;
	if (!f.ram)
		fx_init(&f);
	if (size < 1)
		return 0;
	int fd_mark = lowest_free_fd();
	memset(f.ram, 0, RAM);
	if (dev_up(&f, data[0]) < 0)
		abort(); /* set-up of a known-good device must work */
	struct in in = { data + 1, size - 1 };
	run_ops(&f, &in);
	dev_down(&f);
	drop_host_conns(&f);
	/* every eventfd, timerfd, socket and file the device opened is closed */
	if (lowest_free_fd() != fd_mark)
		abort();
	return 0;
}
