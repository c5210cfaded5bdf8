/* seccomp_rules: the per-thread allowlists and their libseccomp build
 * (internal to seccomp.c, seccomp_gen.c and the tests). */
#ifndef HUSK_SECCOMP_RULES_H
#define HUSK_SECCOMP_RULES_H

#include <seccomp.h>

#include "vmm/seccomp.h"

/* A libseccomp filter of kind at level (BASIC, ADVANCED or LOG): deny
 * action KILL_PROCESS, or TRAP for LOG. The caller releases it. */
int seccomp_rules_build(enum seccomp_thread kind, enum seccomp_level level, scmp_filter_ctx *out);

#endif
