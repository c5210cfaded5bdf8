/* seccomp: installing the per-thread filters (see seccomp.h). The lists are
 * data in seccomp_rules.c, compiled to BPF at build time (seccomp_gen). */
#include "vmm/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/seccomp_bpf.h"

/* process-wide, set once before threads start (seccomp.h) */
static enum seccomp_level sc_level = SECCOMP_LEVEL_NONE;
static uint64_t sc_install_ns[SECCOMP_THREAD_KINDS];
static __thread const char *sc_thread_kind = "main";
/* --seccomp-filter's programs, if given (process-wide like the level) */
static struct {
	struct sock_filter *f;
	unsigned len;
} sc_custom[SECCOMP_THREAD_KINDS];

void seccomp_set_custom(enum seccomp_thread kind, struct sock_filter *f, unsigned len)
{
	if ((unsigned)kind >= SECCOMP_THREAD_KINDS) {
		free(f);
		return;
	}
	free(sc_custom[kind].f);
	sc_custom[kind].f = f;
	sc_custom[kind].len = len;
}

bool seccomp_has_custom(void)
{
	return sc_custom[SECCOMP_THREAD_VMM].f != NULL;
}

int seccomp_level_parse(const char *s, enum seccomp_level *out)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "0"))
		*out = SECCOMP_LEVEL_NONE;
	else if (!strcmp(s, "1"))
		*out = SECCOMP_LEVEL_BASIC;
	else if (!strcmp(s, "2"))
		*out = SECCOMP_LEVEL_ADVANCED;
	else if (!strcmp(s, "log"))
		*out = SECCOMP_LEVEL_LOG;
	else
		return -EINVAL;
	return 0;
}

const char *seccomp_level_name(enum seccomp_level level)
{
	static const char *names[] = { "0", "1", "2", "log" };
	return (unsigned)level < 4 ? names[level] : "?";
}

void seccomp_set_level(enum seccomp_level level)
{
	sc_level = level;
}

enum seccomp_level seccomp_get_level(void)
{
	return sc_level;
}

const char *seccomp_thread_name(enum seccomp_thread kind)
{
	static const char *const names[SECCOMP_THREAD_KINDS] = { "vmm", "api", "vcpu" };
	return (unsigned)kind < SECCOMP_THREAD_KINDS ? names[kind] : "?";
}

uint64_t seccomp_last_install_ns(enum seccomp_thread kind)
{
	return (unsigned)kind < SECCOMP_THREAD_KINDS ? sc_install_ns[kind] : 0;
}

/* ---- log mode: SIGSYS handler ---- */

static size_t sc_fmt_u(char *p, unsigned long v)
{
	char tmp[24];
	size_t n = 0, i = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		p[i++] = tmp[--n];
	return i;
}

static size_t sc_fmt_s(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return n;
}

/* The trapped syscall's second argument and its return register. */
#if defined(__x86_64__)
#define SC_ARG1(uc) ((uc)->uc_mcontext.gregs[REG_RSI])
#define SC_RET(uc) ((uc)->uc_mcontext.gregs[REG_RAX])
#elif defined(__aarch64__)
#define SC_ARG1(uc) ((uc)->uc_mcontext.regs[1])
#define SC_RET(uc) ((uc)->uc_mcontext.regs[0])
#endif

/* Async-signal-safe: formats by hand and writes once to stderr. */
static void sc_sigsys(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	char buf[160];
	size_t n = 0;
	int saved = errno;
	(void)sig;
	n += sc_fmt_s(buf + n, "husk: seccomp: ");
	n += sc_fmt_s(buf + n, sc_thread_kind);
	n += sc_fmt_s(buf + n, " thread made forbidden syscall ");
	n += sc_fmt_u(buf + n, (unsigned long)si->si_syscall);
	n += sc_fmt_s(buf + n, " (arg1 ");
	n += sc_fmt_u(buf + n, (unsigned long)SC_ARG1(uc));
	n += sc_fmt_s(buf + n, "); failing it with ENOSYS\n");
	ssize_t r = write(STDERR_FILENO, buf, n);
	(void)r;
	SC_RET(uc) = (unsigned long)-ENOSYS;
	errno = saved;
}

static int sc_install_sigsys(void)
{
	struct sigaction sa = { .sa_sigaction = sc_sigsys, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}

/* ---- loading ---- */

static uint64_t sc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A copy of a build-time filter with every SECCOMP_OWN_PID compare made
 * against this process's pid; -EINVAL if the count differs from what
 * seccomp_gen found (the filter would then not say what it should). */
static int sc_patch_own_pid(struct sock_filter *f, unsigned len, unsigned want)
{
	unsigned n = 0;
	for (unsigned i = 0; i < len; i++)
		if (f[i].code == (BPF_JMP | BPF_JEQ | BPF_K) && f[i].k == SECCOMP_OWN_PID) {
			f[i].k = (uint32_t)getpid();
			n++;
		}
	return n == want ? 0 : -EINVAL;
}

int seccomp_install(enum seccomp_thread kind)
{
	enum seccomp_level level = sc_level;
	if (level == SECCOMP_LEVEL_NONE)
		return 0;
	if ((unsigned)kind >= SECCOMP_THREAD_KINDS || level > SECCOMP_LEVEL_LOG)
		return -EINVAL;
	uint64_t t0 = sc_now_ns();
	if (level == SECCOMP_LEVEL_LOG) {
		int ret = sc_install_sigsys();
		if (ret < 0)
			return ret;
		/* a trapped call must reach our handler even where SIGSYS is
		 * blocked */
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGSYS);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	/* compiled at build time by seccomp_gen from seccomp_rules.c, or
	 * the file's (which has no own-pid placeholders) */
	bool custom = sc_custom[kind].f != NULL;
	unsigned len = custom ? sc_custom[kind].len : sc_bpf[kind][level - 1].len;
	struct sock_filter *f = malloc(len * sizeof(*f));
	if (!f)
		return -ENOMEM;
	memcpy(f, custom ? sc_custom[kind].f : sc_bpf[kind][level - 1].f, len * sizeof(*f));
	int ret = custom ? 0 : sc_patch_own_pid(f, len, sc_bpf[kind][level - 1].pid_refs);
	if (ret < 0) {
		log_err("seccomp: the %s filter's own-pid rules do not match its build", seccomp_thread_name(kind));
		free(f);
		return ret;
	}
	struct sock_fprog prog = { .len = (unsigned short)len, .filter = f };
	/* no_new_privs: required for an unprivileged filter, and exec could
	 * not gain privileges anyway */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		ret = -errno;
		log_err("seccomp: loading the %s filter: %s", seccomp_thread_name(kind), strerror(errno));
		free(f);
		return ret;
	}
	free(f); /* the kernel keeps its own copy */
	sc_thread_kind = seccomp_thread_name(kind);
	sc_install_ns[kind] = sc_now_ns() - t0;
	log_debug("seccomp: %s filter (%s, %u BPF instructions) installed in %llu us",
	          seccomp_thread_name(kind), custom ? "--seccomp-filter" : seccomp_level_name(level), prog.len,
	          (unsigned long long)(sc_install_ns[kind] / 1000));
	return 0;
}

void seccomp_selftest(void)
{
	log_warn("seccomp self-test: making a forbidden syscall (socket AF_INET)");
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* still here: no filter, or level log */
	log_warn("seccomp self-test: the syscall %s", fd >= 0 ? "ran: no filter is on" : "failed and we live on");
	if (fd >= 0)
		close(fd);
}
