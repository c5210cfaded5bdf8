/* config_file: Firecracker's --config-file, one JSON document holding the
 * bodies of the pre-boot API calls ("boot-source", "machine-config",
 * "drives": [...], ...). Parsed by the API's resource parsers and applied
 * by the same apply step, so a file and a sequence of PUTs agree. */
#ifndef HUSK_CONFIG_FILE_H
#define HUSK_CONFIG_FILE_H

#include <stddef.h>

struct api_target;

#define CONFIG_FILE_MAX_BYTES (1 << 20)

/* Read path and apply it to t (nothing started). On error returns
 * -EINVAL (or -errno reading the file) with one line in err naming the
 * key and the reason, e.g. "machine-config: vcpu_count: must be ...". */
int config_file_load(const char *path, struct api_target *t, char *err, size_t errlen);
/* The same from a string (the unit tests). */
int config_file_apply_text(const char *text, size_t len, struct api_target *t, char *err,
                           size_t errlen);

#endif
