/* uffd: lazy restore through a page-fault handler process. Guest RAM is
 * registered with a userfaultfd; the fd and the region layout go to the
 * handler listening on a Unix socket, as Firecracker does it:
 *
 *   one sendmsg: SCM_RIGHTS with the uffd, and as data a JSON array with
 *   one object per guest memory region:
 *     {"base_host_virt_addr": N, "size": N, "offset": N,
 *      "page_size": 4096, "page_size_kib": 4}
 *   offset is where the region starts in the memory file.
 *
 * After that nothing more is said on the socket; the handler answers each
 * fault with UFFDIO_COPY (tools/uffd-handler is an example). */
#ifndef HUSK_SNAPSHOT_UFFD_H
#define HUSK_SNAPSHOT_UFFD_H

#include <stddef.h>

#include "vmm/guest_mem.h"

/* Create a userfaultfd and register all of guest RAM with it (missing
 * pages). Returns the fd or a negative errno. */
int uffd_register_guest_mem(const struct guest_mem *gm);
/* Connect to socket_path and hand over uffd and the layout. */
int uffd_send_to_handler(const char *socket_path, int uffd, const struct guest_mem *gm,
                         char *err, size_t errlen);
/* The JSON layout message (exposed for tests). Returns its length or a
 * negative errno if it does not fit. */
int uffd_layout_json(const struct guest_mem *gm, char *buf, size_t len);

#endif
