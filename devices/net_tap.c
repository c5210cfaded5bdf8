/* net_tap: opening and configuring a tap for virtio-net. */
#include "devices/net_tap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include "devices/virtio/net.h"
#include "vmm/log.h"

static int tap_name_ok(const char *name)
{
	size_t n = name ? strnlen(name, TAP_NAME_MAX) : 0;
	if (n == 0 || n >= TAP_NAME_MAX)
		return 0;
	/* the kernel refuses these too, but say why here */
	for (size_t i = 0; i < n; i++)
		if (name[i] == '/' || name[i] == ' ' || name[i] == ':' || name[i] == '%')
			return 0;
	return strcmp(name, ".") && strcmp(name, "..");
}

static int tap_set_hdr_len(int fd, int vnet_hdr_len)
{
	/* virtio 1.0 always uses the 12-byte header (num_buffers included) */
	if (vnet_hdr_len < 10 || vnet_hdr_len > 64)
		return -EINVAL;
	if (ioctl(fd, TUNSETVNETHDRSZ, &vnet_hdr_len) < 0)
		return -errno;
	return 0;
}

static int tap_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int tap_open(const char *name, int vnet_hdr_len)
{
	if (!tap_name_ok(name))
		return -EINVAL;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, name, strlen(name));
	int ret;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		log_err("tap %s: TUNSETIFF: %s", name, strerror(-ret));
		goto out;
	}
	ret = tap_set_hdr_len(fd, vnet_hdr_len);
	if (ret < 0) {
		log_err("tap %s: TUNSETVNETHDRSZ: %s", name, strerror(-ret));
		goto out;
	}
	return fd;
out:
	close(fd);
	return ret;
}

int tap_setup_fd(int fd, int vnet_hdr_len)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return -errno;
	if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_NO_PI) ||
	    !(ifr.ifr_flags & IFF_VNET_HDR)) {
		log_err("tap fd %d: needs IFF_TAP|IFF_NO_PI|IFF_VNET_HDR (flags 0x%x)",
		        fd, (unsigned)ifr.ifr_flags);
		return -EINVAL;
	}
	int ret = tap_set_hdr_len(fd, vnet_hdr_len);
	if (ret < 0)
		return ret;
	return tap_set_nonblock(fd);
}

int tap_get_name(int fd, char name[TAP_NAME_MAX])
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return -errno;
	memcpy(name, ifr.ifr_name, TAP_NAME_MAX);
	name[TAP_NAME_MAX - 1] = '\0';
	return 0;
}

int tap_set_offload(int fd, unsigned tun_flags, unsigned *applied)
{
	unsigned long f = tun_flags;
	if (ioctl(fd, TUNSETOFFLOAD, f) < 0) {
		int err = errno;
		if (err != EINVAL || !(tun_flags & TUN_F_UFO))
			return -err;
		/* some kernels refuse UFO: keep the rest */
		f &= ~(unsigned long)TUN_F_UFO;
		if (ioctl(fd, TUNSETOFFLOAD, f) < 0)
			return -errno;
	}
	if (applied)
		*applied = (unsigned)f;
	return 0;
}

unsigned tap_offload_from_features(uint64_t g)
{
	unsigned f = 0;
	/* every segmentation offload needs partial checksums first */
	if (!(g & (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	f |= TUN_F_CSUM;
	if (g & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (g & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if ((f & (TUN_F_TSO4 | TUN_F_TSO6)) && (g & (1ULL << VIRTIO_NET_F_GUEST_ECN)))
		f |= TUN_F_TSO_ECN;
	if (g & (1ULL << VIRTIO_NET_F_GUEST_UFO))
		f |= TUN_F_UFO;
	return f;
}
