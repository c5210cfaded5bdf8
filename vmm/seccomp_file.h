/* seccomp_file: --seccomp-filter FILE, a custom filter per thread kind in
 * the JSON of Firecracker's seccompiler (the source format seccompiler-bin
 * compiles; husk compiles it with libseccomp at start-up):
 *
 *   { "vmm":  { "default_action": ACTION, "filter_action": ACTION,
 *               "filter": [ { "syscall": "name",
 *                             "args": [ { "index": 0..5, "type": "dword"|"qword",
 *                                         "op": "eq"|"ne"|"lt"|"le"|"gt"|"ge"
 *                                               | { "masked_eq": MASK },
 *                                         "val": N, "comment": "..." } ],
 *                             "comment": "..." } ] },
 *     "api":  { ... }, "vcpu": { ... } }
 *
 * ACTION: "allow", "kill_process", "kill_thread" (Firecracker's "kill"
 * too), "trap", "log", { "errno": N }. A rule's arguments must all match
 * (AND); several rules for one syscall are alternatives (OR). Every
 * thread kind must be there and nothing else. The file replaces the
 * built-in lists for every thread at every --seccomp-level but 0. */
#ifndef HUSK_SECCOMP_FILE_H
#define HUSK_SECCOMP_FILE_H

#include <stddef.h>

/* Parse and compile path; on success every later seccomp_install uses
 * its filters. 0, or -errno with the reason (the field named) in err. */
int seccomp_filter_file_load(const char *path, char *err, size_t errlen);

#endif
