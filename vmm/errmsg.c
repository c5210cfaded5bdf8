/* errmsg: see errmsg.h. */
#include "vmm/errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int errmsg_set(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

const char *errmsg_os(int err, char *buf, size_t len)
{
	snprintf(buf, len, "%s (os error %d)", strerror(err), err);
	return buf;
}
