/* errmsg: the "reason for the caller" half of an error return. Functions
 * that fail on untrusted input (snapshot files, KVM state) write a one-line
 * reason into the caller's buffer and return the negative errno. */
#ifndef HUSK_ERRMSG_H
#define HUSK_ERRMSG_H

#include <stddef.h>

/* Format the reason into err (if err and errlen) and return ret. */
int errmsg_set(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* An errno as Rust's io::Error prints it, as Firecracker's answers do:
 * "No such file or directory (os error 2)"; returns buf. */
const char *errmsg_os(int err, char *buf, size_t len);

#endif
