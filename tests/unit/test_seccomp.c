/* Each case forks: the child installs a filter and makes one syscall; the
 * parent checks how the child ended. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <setjmp.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/seccomp.h"

enum probe {
	P_GETPID,         /* allowed everywhere */
	P_SOCKET_INET,    /* socket family filtered */
	P_SOCKET_UNIX,    /* vmm: allowed */
	P_MMAP_EXEC,      /* PROT_EXEC refused */
	P_MMAP_RW,        /* allowed */
	P_MPROTECT_EXEC,
	P_IOCTL_KVM_RUN,  /* vcpu: allowed (fails with EBADF) */
	P_IOCTL_CREATE_VM,/* nowhere after start-up */
	P_FCNTL_SETOWN,   /* fcntl command filtered */
	P_FCNTL_GETFL,
	P_EXECVE,
	P_OPENAT,         /* vmm only */
	P_TGKILL_KICK,    /* vmm, vcpu: the kick signal only */
	P_TGKILL_OTHER,
	P_TGKILL_KICK_ELSEWHERE, /* the kick signal, to another thread group */
	P_SENDMSG,        /* vmm only (vsock) */
	P_PWRITE,         /* vmm only (blk) */
	P_BIND,           /* nowhere after start-up */
};

/* Returns 0 if the syscall ran (whatever its result), 1 if it failed with
 * ENOSYS (log mode). A killed child never returns. */
static int probe_run(enum probe p)
{
	long r = 0;
	errno = 0;
	switch (p) {
	case P_GETPID: r = getpid(); break;
	case P_SOCKET_INET: r = socket(AF_INET, SOCK_STREAM, 0); break;
	case P_SOCKET_UNIX: r = socket(AF_UNIX, SOCK_STREAM, 0); break;
	case P_MMAP_EXEC:
		r = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0;
		break;
	case P_MMAP_RW:
		r = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0;
		break;
	case P_MPROTECT_EXEC: {
		static char page[4096] __attribute__((aligned(4096)));
		r = mprotect(page, sizeof(page), PROT_READ | PROT_EXEC);
		break;
	}
	case P_IOCTL_KVM_RUN: r = ioctl(-1, KVM_RUN, 0); break;
	case P_IOCTL_CREATE_VM: r = ioctl(-1, KVM_CREATE_VM, 0); break;
	case P_FCNTL_SETOWN: r = fcntl(0, F_SETOWN, getpid()); break;
	case P_FCNTL_GETFL: r = fcntl(0, F_GETFL); break;
	case P_EXECVE: {
		char *argv[] = { "/bin/true", NULL };
		r = execve("/bin/true", argv, NULL);
		break;
	}
	case P_OPENAT: r = open("/dev/null", O_RDONLY); break;
	/* to this very thread, the signal ignored: the call is all that counts */
	case P_TGKILL_KICK:
	case P_TGKILL_OTHER: {
		int sig = p == P_TGKILL_KICK ? SECCOMP_KICK_SIGNAL : SIGUSR2;
		r = syscall(SYS_tgkill, getpid(), gettid(), sig);
		break;
	}
	/* a pid above pid_max: nobody gets the signal if the filter lets it by */
	case P_TGKILL_KICK_ELSEWHERE: r = syscall(SYS_tgkill, 1 << 23, 1 << 23, SECCOMP_KICK_SIGNAL); break;
	case P_SENDMSG: {
		struct msghdr m = { 0 };
		r = sendmsg(-1, &m, 0);
		break;
	}
	case P_PWRITE: r = pwrite(-1, "", 1, 0); break;
	case P_BIND: {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		r = bind(-1, (struct sockaddr *)&a, sizeof(a));
		break;
	}
	}
	return r < 0 && errno == ENOSYS ? 1 : 0;
}

/* Fork, install (level, kind), probe. Returns the wait status. */
static int run_child(enum seccomp_level level, enum seccomp_thread kind, enum probe p)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		seccomp_set_level(level);
		signal(SECCOMP_KICK_SIGNAL, SIG_IGN);
		signal(SIGUSR2, SIG_IGN);
		if (seccomp_install(kind) < 0)
			_exit(100);
		_exit(probe_run(p) ? 42 : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static bool killed_by_sigsys(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

static bool ran(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* One probe in one kind of thread (EVERY_THREAD: in each kind) */
#define EVERY_THREAD SECCOMP_THREAD_KINDS
struct probe_case {
	int kind;
	enum probe p;
};

static const struct probe_case allowed[] = {
	{ EVERY_THREAD, P_GETPID },
	{ EVERY_THREAD, P_MMAP_RW },
	{ EVERY_THREAD, P_FCNTL_GETFL },
	{ SECCOMP_THREAD_VCPU, P_IOCTL_KVM_RUN },
	{ SECCOMP_THREAD_VMM, P_SOCKET_UNIX },
	{ SECCOMP_THREAD_VMM, P_OPENAT },
	{ SECCOMP_THREAD_VMM, P_TGKILL_KICK },
	{ SECCOMP_THREAD_VCPU, P_TGKILL_KICK },
	{ SECCOMP_THREAD_VMM, P_SENDMSG },
	{ SECCOMP_THREAD_VMM, P_PWRITE },
};

static const struct probe_case forbidden[] = {
	{ EVERY_THREAD, P_EXECVE },
	{ EVERY_THREAD, P_SOCKET_INET },
	{ EVERY_THREAD, P_MMAP_EXEC },
	{ EVERY_THREAD, P_MPROTECT_EXEC },
	{ EVERY_THREAD, P_IOCTL_CREATE_VM },
	{ EVERY_THREAD, P_FCNTL_SETOWN },
	{ SECCOMP_THREAD_API, P_IOCTL_KVM_RUN },
#ifndef __SANITIZE_ADDRESS__ /* the sanitizer runtime needs openat everywhere */
	{ SECCOMP_THREAD_VCPU, P_OPENAT },
#endif
	{ SECCOMP_THREAD_API, P_SOCKET_UNIX },
	/* the vCPU threads do no file or socket I/O of their own */
	{ SECCOMP_THREAD_VCPU, P_SENDMSG },
	{ SECCOMP_THREAD_VCPU, P_PWRITE },
	/* vsock's listener is bound before the vmm filter goes on */
	{ SECCOMP_THREAD_VMM, P_BIND },
#ifndef __SANITIZE_ADDRESS__ /* the sanitizer runtime signals itself */
	/* husk signals nothing but the vCPU kick */
	{ SECCOMP_THREAD_VMM, P_TGKILL_OTHER },
	{ SECCOMP_THREAD_VCPU, P_TGKILL_OTHER },
	{ SECCOMP_THREAD_API, P_TGKILL_KICK },
	/* and only its own threads */
	{ SECCOMP_THREAD_VMM, P_TGKILL_KICK_ELSEWHERE },
	{ SECCOMP_THREAD_VCPU, P_TGKILL_KICK_ELSEWHERE },
#endif
};

/* Each case under the advanced filter of its thread kind ends as want says */
static void check_cases(const struct probe_case *c, size_t n, bool (*want)(int status))
{
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < SECCOMP_THREAD_KINDS; k++)
			if (c[i].kind == EVERY_THREAD || c[i].kind == k) {
				bool ok = want(run_child(SECCOMP_LEVEL_ADVANCED, (enum seccomp_thread)k, c[i].p));
				if (!ok)
					print_message("probe %d in thread kind %d\n", c[i].p, k);
				assert_true(ok);
			}
}

static void test_allowed_calls_run(void **state)
{
	(void)state;
	check_cases(allowed, sizeof(allowed) / sizeof(allowed[0]), ran);
}

static void test_forbidden_calls_kill(void **state)
{
	(void)state;
	check_cases(forbidden, sizeof(forbidden) / sizeof(forbidden[0]), killed_by_sigsys);
}

static void test_basic_level_ignores_arguments(void **state)
{
	(void)state;
	/* level 1: the syscall is listed, its arguments are not checked */
	assert_true(ran(run_child(SECCOMP_LEVEL_BASIC, SECCOMP_THREAD_VMM, P_SOCKET_INET)));
	assert_true(ran(run_child(SECCOMP_LEVEL_BASIC, SECCOMP_THREAD_VCPU, P_IOCTL_CREATE_VM)));
	/* unlisted syscalls still kill */
	assert_true(killed_by_sigsys(run_child(SECCOMP_LEVEL_BASIC, SECCOMP_THREAD_VMM, P_EXECVE)));
}

static void test_log_level_fails_with_enosys(void **state)
{
	(void)state;
	int st = run_child(SECCOMP_LEVEL_LOG, SECCOMP_THREAD_VCPU, P_SOCKET_INET);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 42);
	assert_true(ran(run_child(SECCOMP_LEVEL_LOG, SECCOMP_THREAD_VCPU, P_GETPID)));
}

static void test_level_none_installs_nothing(void **state)
{
	(void)state;
	assert_true(ran(run_child(SECCOMP_LEVEL_NONE, SECCOMP_THREAD_API, P_SOCKET_INET)));
	assert_true(ran(run_child(SECCOMP_LEVEL_NONE, SECCOMP_THREAD_VCPU, P_MMAP_EXEC)));
}

static void test_level_parse(void **state)
{
	(void)state;
	enum seccomp_level l;
	assert_int_equal(seccomp_level_parse("log", &l), 0);
	assert_int_equal(l, SECCOMP_LEVEL_LOG);
	assert_int_equal(seccomp_level_parse("2", &l), 0);
	assert_int_equal(l, SECCOMP_LEVEL_ADVANCED);
	assert_int_equal(seccomp_level_parse("0", &l), 0);
	assert_int_equal(l, SECCOMP_LEVEL_NONE);
	assert_int_equal(seccomp_level_parse("3", &l), -EINVAL);
	assert_int_equal(seccomp_level_parse("", &l), -EINVAL);
	assert_int_equal(seccomp_level_parse(NULL, &l), -EINVAL);
	for (int k = 0; k < SECCOMP_THREAD_KINDS; k++)
		assert_true(seccomp_rule_count(k) > 20);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_allowed_calls_run),
	cmocka_unit_test(test_forbidden_calls_kill),
	cmocka_unit_test(test_basic_level_ignores_arguments),
	cmocka_unit_test(test_log_level_fails_with_enosys),
	cmocka_unit_test(test_level_none_installs_nothing),
	cmocka_unit_test(test_level_parse))
