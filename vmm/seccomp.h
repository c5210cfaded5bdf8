/* seccomp: one syscall allowlist per thread kind, installed by each thread
 * on itself before it handles guest or client data.
 *
 *   vmm:  the event loop: device I/O, eventfds, timerfds, the few files an
 *         API call opens at run time (PATCH drive, snapshot create), AF_UNIX
 *         sockets (the devices' host sockets), the KVM ioctls of snapshotting.
 *   api:  accept/read/write on the API socket, eventfd to the vmm thread.
 *   vcpu: KVM_RUN and what the device register handlers it runs need
 *         (eventfd writes, the irqfd/ioeventfd/tap offload ioctls).
 *
 * Everywhere: mmap/mprotect never with PROT_EXEC, ioctl only with the listed
 * request numbers, socket only AF_UNIX, fcntl only F_GETFL/F_SETFL/F_GETFD/
 * F_SETFD/F_DUPFD_CLOEXEC. Anything else kills the process (SIGSYS,
 * SECCOMP_RET_KILL_PROCESS).
 *
 * Levels (--seccomp-level): 0 none (as --no-seccomp), 1 syscall numbers
 * only, 2 numbers and arguments (the default of `husk run`), log: level 2
 * but a violation traps to a SIGSYS handler that logs the syscall and
 * fails it with ENOSYS instead of killing (debugging only).
 *
 * Filters stack and are inherited: a thread created after its parent
 * installed a filter runs under both. So the vmm thread installs its
 * filter last in InstanceStart, after the vCPU threads exist, and the API
 * thread installs its own at its start. Builds with AddressSanitizer get
 * the extra syscalls its runtime needs (detected at compile time).
 *
 * The lists live in seccomp_rules.c as data; seccomp_gen compiles each
 * kind and level to BPF at build time (libseccomp), so installing is one
 * seccomp(2) call (~0.1 ms, the kernel's JIT) instead of ~0.3 ms. */
#ifndef HUSK_SECCOMP_H
#define HUSK_SECCOMP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* The one signal husk sends (tgkill, to kick a vCPU out of KVM_RUN): the
 * filters allow tgkill with it and no other. */
#define SECCOMP_KICK_SIGNAL SIGUSR1
/* The filters are compiled at build time, before husk's pid is known:
 * rules about "this process" compare with this placeholder, which
 * seccomp_install replaces by getpid() in the loaded copy. A value no pid
 * reaches (pid_max <= 2^22) and no other rule compares with; seccomp_gen
 * checks the latter. */
#define SECCOMP_OWN_PID 0x7ead5eedu

enum seccomp_thread {
	SECCOMP_THREAD_VMM,
	SECCOMP_THREAD_API,
	SECCOMP_THREAD_VCPU,
	SECCOMP_THREAD_KINDS,
};

enum seccomp_level {
	SECCOMP_LEVEL_NONE = 0,
	SECCOMP_LEVEL_BASIC = 1,
	SECCOMP_LEVEL_ADVANCED = 2,
	SECCOMP_LEVEL_LOG = 3,
};

/* "0", "1", "2" or "log". */
int seccomp_level_parse(const char *s, enum seccomp_level *out);
const char *seccomp_level_name(enum seccomp_level level);
/* The level every later seccomp_install uses (process-wide, like the log
 * level: seccomp itself is per process). The library default is NONE, so
 * unit tests and tools that link husk_core are not filtered; `husk run`
 * sets ADVANCED unless told otherwise. Call before any thread starts. */
void seccomp_set_level(enum seccomp_level level);
enum seccomp_level seccomp_get_level(void);
/* Install the filter of kind on the calling thread (no-op at level NONE).
 * Sets no_new_privs. Returns 0 or -errno; a caller that gets an error
 * must not go on to handle untrusted data. */
int seccomp_install(enum seccomp_thread kind);
const char *seccomp_thread_name(enum seccomp_thread kind);
/* Make a syscall no list allows (socket(AF_INET)): with a filter on, the
 * process dies by SIGSYS (or, at level log, logs and goes on). For the
 * tests' hidden `husk run --seccomp-selftest`. */
void seccomp_selftest(void);

/* A custom filter for kind (--seccomp-filter, seccomp_file.c), used by
 * every later seccomp_install instead of the built-in one; takes f
 * (malloc'd). Call before any thread starts. */
struct sock_filter;
void seccomp_set_custom(enum seccomp_thread kind, struct sock_filter *f, unsigned len);
bool seccomp_has_custom(void);

/* How many rules a kind's list has (seccomp_rules.c). */
unsigned seccomp_rule_count(enum seccomp_thread kind);
/* Nanoseconds the last seccomp_install of kind spent building and loading
 * its filter (0 if none), for the start-up benchmark. */
uint64_t seccomp_last_install_ns(enum seccomp_thread kind);

#endif
