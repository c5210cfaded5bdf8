/* uffd: register guest RAM with a userfaultfd and pass it to a handler. */
#include "vmm/snapshot/uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "vmm/errmsg.h"
#include "vmm/log.h"

/* A userfaultfd that also catches the kernel's faults (no
 * UFFD_USER_MODE_ONLY: KVM's own accesses to guest RAM must fault through
 * the handler too). userfaultfd(2) refuses that to an unprivileged process
 * where vm.unprivileged_userfaultfd is 0, as in a jail; the
 * /dev/userfaultfd device (Linux 6.1, which the jailer creates) hands one
 * out to whoever may open it. */
static int uffd_open(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 || errno != EPERM)
		return fd < 0 ? -errno : fd;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		log_err("userfaultfd: not permitted, and /dev/userfaultfd: %s", strerror(errno));
		return -EPERM;
	}
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	int ret = fd < 0 ? -errno : fd;
	close(dev);
	if (ret >= 0)
		log_info("userfaultfd: userfaultfd(2) not permitted, one from /dev/userfaultfd");
	return ret;
}

int uffd_register_guest_mem(const struct guest_mem *gm)
{
	int fd = uffd_open();
	if (fd < 0) {
		log_err("userfaultfd: %s", strerror(-fd));
		return fd;
	}
	/* EVENT_REMOVE: pages the balloon drops (MADV_DONTNEED) are announced
	 * to the handler, which must then not serve them from the file again */
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMOVE };
	if (ioctl(fd, UFFDIO_API, &api) < 0)
		goto fail;
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)gm->base, .len = gm->map_size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
		goto fail;
	if (!(reg.ioctls & ((uint64_t)1 << _UFFDIO_COPY))) {
		errno = ENOTSUP;
		goto fail;
	}
	return fd;
fail:;
	int ret = -errno;
	log_err("userfaultfd setup: %s", strerror(errno));
	close(fd);
	return ret;
}

int uffd_layout_json(const struct guest_mem *gm, char *buf, size_t len)
{
	size_t off = 0;
	int n = snprintf(buf, len, "[");
	for (int i = 0; n >= 0 && (size_t)n < len - off && i < gm->nr_regions; i++) {
		off += (size_t)n;
		const struct gm_region *r = &gm->region[i];
		n = snprintf(buf + off, len - off,
		             "%s{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":%llu,"
		             "\"page_size\":%llu,\"page_size_kib\":%llu}",
		             i ? "," : "", (unsigned long long)(uintptr_t)r->hva,
		             (unsigned long long)r->size, (unsigned long long)(r->hva - gm->base),
		             (unsigned long long)gm->page_size, (unsigned long long)gm->page_size >> 10);
	}
	if (n < 0 || (size_t)n >= len - off)
		return -ENOSPC;
	off += (size_t)n;
	n = snprintf(buf + off, len - off, "]");
	if (n < 0 || (size_t)n >= len - off)
		return -ENOSPC;
	return (int)(off + (size_t)n);
}

int uffd_send_to_handler(const char *socket_path, int uffd, const struct guest_mem *gm,
                         char *err, size_t errlen)
{
	char json[1024];
	int len = uffd_layout_json(gm, json, sizeof(json));
	if (len < 0)
		return errmsg_set(err, errlen, len, "uffd layout does not fit");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return errmsg_set(err, errlen, -ENAMETOOLONG, "uffd socket path too long");
	strcpy(sa.sun_path, socket_path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return errmsg_set(err, errlen, -errno, "socket: %s", strerror(errno));
	int ret = 0;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = errmsg_set(err, errlen, -errno, "cannot connect to the uffd handler at %s: %s",
		                socket_path, strerror(errno));
		goto out;
	}
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { .iov_base = json, .iov_len = (size_t)len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &uffd, sizeof(int));
	ssize_t sent;
	do
		sent = sendmsg(s, &msg, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent != len)
		ret = errmsg_set(err, errlen, sent < 0 ? -errno : -EIO, "sending the uffd to %s failed",
		                socket_path);
out:
	close(s);
	return ret;
}
