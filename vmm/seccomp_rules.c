/* seccomp_rules: the allowlists as data, and building one with
 * libseccomp. Used at build time by seccomp_gen (which compiles every
 * kind and level to BPF into seccomp_bpf.h) and by the tests. */
#include "vmm/seccomp_rules.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#if defined(__SANITIZE_ADDRESS__)
#define SC_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SC_SANITIZER 1
#endif
#endif

enum sc_cmp { SC_ANY = 0, SC_EQ, SC_MASKED_EQ, SC_EQ2 };

struct sc_rule {
	int nr;
	uint8_t cmp;  /* enum sc_cmp */
	uint8_t arg;  /* argument index for SC_EQ / SC_MASKED_EQ / SC_EQ2 */
	uint8_t arg2; /* SC_EQ2: a second argument that must equal val2 */
	uint64_t mask;
	uint64_t val;
	uint64_t val2;
};

struct sc_table {
	const struct sc_rule *rules;
	unsigned n;
};

#define ALLOW(name) { SCMP_SYS(name), SC_ANY, 0, 0, 0, 0, 0 }
#define ALLOW_EQ(name, a, v) { SCMP_SYS(name), SC_EQ, a, 0, 0, (uint64_t)(v), 0 }
#define ALLOW_EQ2(name, a, v, b, w) { SCMP_SYS(name), SC_EQ2, a, b, 0, (uint64_t)(v), (uint64_t)(w) }
#define ALLOW_NO_BITS(name, a, bits) { SCMP_SYS(name), SC_MASKED_EQ, a, 0, (uint64_t)(bits), 0, 0 }
/* kicking a vCPU thread (pthread_kill): husk's own thread group (the
 * placeholder becomes getpid() when the filter is installed) and the kick
 * signal only, so a subverted husk cannot signal another process */
#define ALLOW_KICK ALLOW_EQ2(tgkill, 0, SECCOMP_OWN_PID, 2, SECCOMP_KICK_SIGNAL)
#define IOCTL(req) ALLOW_EQ(ioctl, 1, (unsigned long)(req))
#define FCNTL(cmd) ALLOW_EQ(fcntl, 1, cmd)
#define TABLE(t) { t, sizeof(t) / sizeof(t[0]) }

/* every thread: memory (never executable), fds it already has, exiting,
 * locks, time, the kick signal's return */
static const struct sc_rule rules_common[] = {
	ALLOW(read), ALLOW(write), ALLOW(readv), ALLOW(writev), ALLOW(close),
	ALLOW(futex), ALLOW(rt_sigreturn), ALLOW(rt_sigprocmask), ALLOW(restart_syscall),
	ALLOW(exit), ALLOW(exit_group),
	ALLOW_NO_BITS(mmap, 2, PROT_EXEC), ALLOW_NO_BITS(mprotect, 2, PROT_EXEC),
	ALLOW(munmap), ALLOW(mremap), ALLOW(madvise), ALLOW(brk),
	ALLOW(clock_gettime), ALLOW(clock_nanosleep), ALLOW(nanosleep),
	ALLOW(getpid), ALLOW(gettid), ALLOW(sched_yield), ALLOW(getrandom),
	ALLOW(fstat), ALLOW(newfstatat), ALLOW(lseek),
	FCNTL(F_GETFL), FCNTL(F_SETFL), FCNTL(F_GETFD), FCNTL(F_SETFD), FCNTL(F_DUPFD_CLOEXEC),
};

/* the event loop and its device back ends */
static const struct sc_rule rules_vmm[] = {
	ALLOW(epoll_wait), ALLOW(epoll_pwait), ALLOW(epoll_ctl),
	ALLOW(eventfd2), ALLOW(timerfd_settime), ALLOW(timerfd_gettime), ALLOW(timerfd_create),
	ALLOW(pread64), ALLOW(pwrite64), ALLOW(preadv), ALLOW(pwritev), ALLOW(preadv2),
	ALLOW(pwritev2), ALLOW(fsync), ALLOW(fdatasync), ALLOW(fallocate), ALLOW(ftruncate),
	ALLOW(msync), ALLOW(io_uring_enter),
	/* a Diff snapshot without dirty tracking: the resident pages */
	ALLOW(mincore),
	/* PATCH /drives path_on_host on an Async drive: the new file goes in
	 * the ring's registered table (blk_uring_set_file). The rings are set
	 * up before this filter and restricted to this one register op too. */
	ALLOW_EQ(io_uring_register, 1, IORING_REGISTER_FILES_UPDATE),
	/* files an API call names at run time: a new drive backing file,
	 * snapshot and memory files, log and metrics (the jailer's chroot
	 * bounds what they can reach) */
	ALLOW(openat), ALLOW(statx),
	/* snapshot create: its temporary files renamed into place, or
	 * removed on failure (glibc's rename/unlink: the plain calls on x86,
	 * the *at forms where the architecture has only those, as aarch64) */
#if defined(__x86_64__)
	ALLOW(rename), ALLOW(unlink),
#else
	ALLOW(renameat), ALLOW(renameat2), ALLOW(unlinkat),
#endif
	/* vsock: guest-initiated connections to <uds>_<port> and accepted
	 * host connections, AF_UNIX only. Its listener is bound before this
	 * filter goes on: no bind or listen here. */
	ALLOW_EQ(socket, 0, AF_UNIX), ALLOW(connect), ALLOW(accept4),
	ALLOW(sendmsg), ALLOW(recvmsg), ALLOW(sendto), ALLOW(recvfrom), ALLOW(shutdown),
	ALLOW(getsockopt), ALLOW(poll), ALLOW(ppoll),
	ALLOW_KICK,
	/* snapshot create, dirty tracking, interrupts */
	IOCTL(KVM_RUN), IOCTL(KVM_GET_DIRTY_LOG), IOCTL(KVM_SET_USER_MEMORY_REGION),
	IOCTL(KVM_CHECK_EXTENSION), IOCTL(KVM_GET_MP_STATE),
#if defined(__x86_64__)
	/* the x86 vCPU and VM state a snapshot saves (vmm/arch/x86_64/) */
	IOCTL(KVM_GET_MSR_INDEX_LIST), IOCTL(KVM_GET_TSC_KHZ),
	IOCTL(KVM_GET_REGS), IOCTL(KVM_GET_SREGS), IOCTL(KVM_GET_FPU), IOCTL(KVM_GET_LAPIC),
	IOCTL(KVM_GET_MSRS), IOCTL(KVM_GET_CPUID2), IOCTL(KVM_GET_XSAVE), IOCTL(KVM_GET_XSAVE2),
	IOCTL(KVM_GET_XCRS), IOCTL(KVM_GET_DEBUGREGS),
	IOCTL(KVM_GET_VCPU_EVENTS), IOCTL(KVM_GET_CLOCK), IOCTL(KVM_GET_IRQCHIP),
	IOCTL(KVM_GET_PIT2), IOCTL(KVM_KVMCLOCK_CTRL),
#elif defined(__aarch64__)
	/* the aarch64 vCPU registers and vGIC state (vmm/arch/aarch64/) */
	IOCTL(KVM_GET_REG_LIST), IOCTL(KVM_GET_ONE_REG), IOCTL(KVM_GET_DEVICE_ATTR),
#endif
	IOCTL(KVM_IRQFD), IOCTL(KVM_IOEVENTFD),
	IOCTL(TUNSETOFFLOAD), IOCTL(BLKGETSIZE64),
	/* the console terminal's mode put back at exit */
	IOCTL(TCSETS), IOCTL(TCGETS), /* glibc reads it back to check */
};

/* the HTTP API: a listening socket it already has, one connection at a
 * time, the vmm thread's queue eventfd */
static const struct sc_rule rules_api[] = {
	ALLOW(accept4), ALLOW(accept), ALLOW(recvfrom), ALLOW(recvmsg), ALLOW(sendto),
	ALLOW(sendmsg), ALLOW(shutdown), ALLOW(getsockopt), ALLOW(setsockopt),
	ALLOW(epoll_wait), ALLOW(epoll_pwait), ALLOW(epoll_ctl), ALLOW(poll), ALLOW(ppoll),
	ALLOW(eventfd2),
};

/* the vCPU loop and the device register handlers it runs: a virtio
 * status write activates queues (irqfd/ioeventfd, tap offloads), a reset
 * drains io_uring, the kick signal interrupts KVM_RUN. Queue work never
 * runs here (notifies go to the vmm thread through eventfds), so no
 * file or socket I/O beyond read/write of fds it has (console, eventfds,
 * the tap on activation) */
static const struct sc_rule rules_vcpu[] = {
	IOCTL(KVM_RUN), IOCTL(KVM_IRQFD), IOCTL(KVM_IOEVENTFD), IOCTL(TUNSETOFFLOAD),
	ALLOW(io_uring_enter), ALLOW(epoll_ctl), ALLOW(timerfd_settime),
	ALLOW_KICK,
};

#ifdef SC_SANITIZER
/* AddressSanitizer/LeakSanitizer's runtime: its allocator, error reports
 * (/proc/self/maps, symbolizing) and the leak check at exit, which runs a
 * tracer thread with ptrace. Only in sanitizer builds. */
static const struct sc_rule rules_sanitizer[] = {
	ALLOW(clone), ALLOW(clone3), ALLOW(ptrace), ALLOW(wait4), ALLOW(prctl), ALLOW(sigaltstack),
	ALLOW(rt_sigaction), ALLOW(getppid), ALLOW(sched_getaffinity), ALLOW(readlink),
	ALLOW(readlinkat), ALLOW(open), ALLOW(openat), ALLOW(getdents64), ALLOW(getdents),
	ALLOW(stat), ALLOW(lstat), ALLOW(pipe2), ALLOW(kill), ALLOW(tgkill),
	ALLOW(uname), ALLOW(prlimit64), ALLOW(getrlimit), ALLOW(setrlimit), ALLOW(dup), ALLOW(dup2),
	ALLOW(dup3), ALLOW(mincore), ALLOW(getrusage), ALLOW(set_robust_list), ALLOW(rseq),
	ALLOW(statx), ALLOW(access), ALLOW(faccessat), ALLOW(faccessat2),
	ALLOW(process_vm_readv), ALLOW(arch_prctl),
	ALLOW(fstat), ALLOW(newfstatat), ALLOW(lseek), ALLOW(sched_yield), ALLOW(waitid), ALLOW(nanosleep), ALLOW(clock_nanosleep), ALLOW(exit), ALLOW(getpid),
	ALLOW(gettid), ALLOW(readv), ALLOW(writev),
};
#define SANITIZER_TABLE TABLE(rules_sanitizer),
#else
#define SANITIZER_TABLE
#endif

struct sc_kind {
	const char *name;
	struct sc_table tables[4];
};

static const struct sc_kind sc_kinds[SECCOMP_THREAD_KINDS] = {
	[SECCOMP_THREAD_VMM] = { "vmm", { TABLE(rules_common), TABLE(rules_vmm), SANITIZER_TABLE } },
	[SECCOMP_THREAD_API] = { "api", { TABLE(rules_common), TABLE(rules_api), SANITIZER_TABLE } },
	[SECCOMP_THREAD_VCPU] = { "vcpu", { TABLE(rules_common), TABLE(rules_vcpu), SANITIZER_TABLE } },
};

static int sc_add_rule(scmp_filter_ctx ctx, const struct sc_rule *r, bool args)
{
	int ret;
	if (!args || r->cmp == SC_ANY) {
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
	} else if (r->cmp == SC_EQ) {
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
		                       SCMP_CMP(r->arg, SCMP_CMP_EQ, r->val));
	} else if (r->cmp == SC_EQ2) {
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 2,
		                       SCMP_CMP(r->arg, SCMP_CMP_EQ, r->val),
		                       SCMP_CMP(r->arg2, SCMP_CMP_EQ, r->val2));
	} else {
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
		                       SCMP_CMP(r->arg, SCMP_CMP_MASKED_EQ, r->mask, r->val));
	}
	/* level 1 repeats argument rules as plain ones; a syscall this
	 * architecture lacks (-EDOM/-EFAULT from libseccomp) is skipped */
	if (ret == -EEXIST || r->nr < 0)
		return 0;
	return ret;
}

int seccomp_rules_build(enum seccomp_thread kind, enum seccomp_level level, scmp_filter_ctx *out)
{
	int ret = 0;
	*out = NULL;
	if ((unsigned)kind >= SECCOMP_THREAD_KINDS || level == SECCOMP_LEVEL_NONE)
		return -EINVAL;
	const struct sc_kind *k = &sc_kinds[kind];
	bool args = level != SECCOMP_LEVEL_BASIC;
	uint32_t deny = level == SECCOMP_LEVEL_LOG ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx = seccomp_init(deny);
	if (!ctx)
		return -ENOMEM;
	for (unsigned t = 0; t < 4 && ret == 0; t++)
		for (unsigned i = 0; i < k->tables[t].n && ret == 0; i++)
			ret = sc_add_rule(ctx, &k->tables[t].rules[i], args);
	if (ret < 0) {
		seccomp_release(ctx);
		return ret;
	}
	*out = ctx;
	return 0;
}

unsigned seccomp_rule_count(enum seccomp_thread kind)
{
	unsigned n = 0;
	if ((unsigned)kind >= SECCOMP_THREAD_KINDS)
		return 0;
	for (unsigned t = 0; t < 4; t++)
		n += sc_kinds[kind].tables[t].n;
	return n;
}

