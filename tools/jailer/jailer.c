/* husk-jailer: start husk in a jail, as Firecracker's jailer does.
 *
 *   husk-jailer --id ID --exec-file /path/to/husk --uid N --gid N
 *               [--chroot-base-dir DIR] [--netns /var/run/netns/NAME]
 *               [--cgroup-version 1|2] [--cgroup FILE=VALUE]...
 *               [--parent-cgroup NAME] [--resource-limit fsize=N|no-file=N]...
 *               [--daemonize] [--new-pid-ns] -- [husk arguments...]
 *
 * In order: validate every argument; close every inherited fd but 0-2;
 * set the resource limits; create <base>/<exec name>/<id>/root and copy the
 * binary into it; make the cgroup <mount>/<parent>/<id>, write the FILE
 * values and join it; join the network namespace; unshare a mount
 * namespace and pivot_root into the jail (the host filesystem is then
 * unmounted from it); mknod /dev/kvm, /dev/net/tun, /dev/urandom (and
 * /dev/null) owned by uid:gid; optionally a new PID namespace (the jailer
 * forks, the child is PID 1, the parent writes <exec name>.pid in the
 * jail and exits) and setsid + stdio to /dev/null; drop to gid/uid
 * (supplementary groups cleared; a jail that stays uid 0 keeps only
 * CAP_NET_ADMIN, with a warning) and exec /<exec name> with the arguments
 * after `--` and an empty environment.
 *
 * Exit status 1 with a "husk-jailer: ..." line on any error, before
 * anything of the jailed program ran. Must run as root. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#define JAIL_ID_MAX 64
#define JAIL_PATH_MAX 1024
#define JAIL_MAX_CGROUPS 16
#define JAIL_CG_VALUE_MAX 256
#define JAIL_DEFAULT_BASE "/srv/jailer"
#define JAIL_DEFAULT_NOFILE 2048

struct jail_cgroup {
	char *file;  /* e.g. cpu.max */
	char *value; /* e.g. "50000 100000" */
};

struct jail {
	const char *id;
	const char *exec_file;
	const char *exec_name; /* basename of exec_file */
	const char *base;
	const char *netns;
	const char *parent_cgroup;
	uid_t uid;
	gid_t gid;
	bool have_uid, have_gid;
	int cgroup_version;
	struct jail_cgroup cgroups[JAIL_MAX_CGROUPS];
	int nr_cgroups;
	long long rlimit_fsize;  /* -1: leave */
	long long rlimit_nofile;
	bool daemonize, new_pid_ns;
	char **exec_argv;        /* after "--" */
	int exec_argc;
	char root[JAIL_PATH_MAX]; /* <base>/<exec_name>/<id>/root */
	/* the host's /dev/userfaultfd, read from sysfs before pivot_root
	 * (kernels before 6.1 have none: then the jail has none either) */
	bool has_uffd;
	unsigned uffd_major, uffd_minor;
	/* for --start-time-us and --parent-cpu-time-us, as Firecracker's
	 * jailer: when it started (monotonic), its CPU clock then, and the
	 * CPU a parent that forked into a PID namespace had used */
	unsigned long long start_us, start_cpu_us, forked_parent_cpu_us;
};

static int jail_fail(const char *fmt, ...)
{
	va_list ap;
	int e = errno;
	fprintf(stderr, "husk-jailer: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	errno = e;
	return -1;
}

/* ---- validation ---- */

static bool jail_id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > JAIL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '-')
			return false;
	return true;
}

/* An absolute path of printable characters, no "." or ".." component, no
 * empty component (//), within JAIL_PATH_MAX / 2 so joined paths fit. */
static bool jail_path_ok(const char *p)
{
	size_t n = strlen(p);
	if (n < 2 || n > JAIL_PATH_MAX / 2 || p[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)p[i]))
			return false;
	for (const char *c = p; *c; ) {
		c++; /* past '/' */
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if ((len == 0 && end) || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!end)
			break;
		c = end;
	}
	return true;
}

/* A cgroup file name: controller '.' setting, [a-z0-9_.] only. */
static bool jail_cg_file_ok(const char *f)
{
	const char *dot = strchr(f, '.');
	if (!dot || dot == f || !dot[1] || strlen(f) > 64)
		return false;
	for (const char *c = f; *c; c++)
		if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '_' && *c != '.')
			return false;
	/* the cgroup core files are not ours to write */
	return strncmp(f, "cgroup.", 7) != 0;
}

static bool jail_cg_value_ok(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > JAIL_CG_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isprint((unsigned char)v[i]) || v[i] == '/')
			return false;
	return true;
}

static int jail_parse_u32(const char *s, const char *what, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *s == '-' || *end || errno || v > 0xfffffffeul)
		return jail_fail("%s must be a number, got '%s'", what, s);
	*out = (unsigned)v;
	return 0;
}

static int jail_parse_rlimit(struct jail *j, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *end;
	if (!eq)
		return jail_fail("--resource-limit wants fsize=N or no-file=N, got '%s'", arg);
	errno = 0;
	long long v = strtoll(eq + 1, &end, 10);
	if (!eq[1] || *end || errno || v < 0)
		return jail_fail("--resource-limit %s: not a number", arg);
	if (!strncmp(arg, "fsize=", 6))
		j->rlimit_fsize = v;
	else if (!strncmp(arg, "no-file=", 8))
		j->rlimit_nofile = v;
	else
		return jail_fail("--resource-limit: unknown resource in '%s' (fsize, no-file)", arg);
	return 0;
}

static int jail_parse_cgroup(struct jail *j, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (j->nr_cgroups == JAIL_MAX_CGROUPS)
		return jail_fail("too many --cgroup options");
	if (!eq)
		return jail_fail("--cgroup wants FILE=VALUE, got '%s'", arg);
	char *file = strndup(arg, (size_t)(eq - arg));
	char *value = strdup(eq + 1);
	if (!file || !value)
		return jail_fail("out of memory");
	if (!jail_cg_file_ok(file) || !jail_cg_value_ok(value)) {
		free(file);
		free(value);
		return jail_fail("--cgroup '%s': bad file name or value", arg);
	}
	j->cgroups[j->nr_cgroups++] = (struct jail_cgroup){ file, value };
	return 0;
}

static void jail_usage(void)
{
	fprintf(stderr,
	        "usage: husk-jailer --id ID --exec-file PATH --uid N --gid N\n"
	        "                   [--chroot-base-dir DIR] [--netns PATH] [--cgroup-version 1|2]\n"
	        "                   [--cgroup FILE=VALUE]... [--parent-cgroup NAME]\n"
	        "                   [--resource-limit fsize=N|no-file=N]... [--daemonize] [--new-pid-ns]\n"
	        "                   [--node N (ignored)]\n"
	        "       husk-jailer --version\n"
	        "                   -- [husk arguments]\n");
}

enum { O_ID = 1, O_EXEC, O_UID, O_GID, O_BASE, O_NETNS, O_CGV, O_CG, O_PARENT, O_RLIMIT,
       O_DAEMON, O_PIDNS, O_NODE };

/* One option into j; -1 when it is bad (said on stderr). */
static int jail_parse_opt(struct jail *j, int c, const char *arg)
{
	unsigned v = 0; /* set by jail_parse_u32 on success; -O3 cannot tell */
	switch (c) {
	case O_ID: j->id = arg; return 0;
	case O_EXEC: j->exec_file = arg; return 0;
	case O_UID:
		if (jail_parse_u32(arg, "--uid", &v) < 0)
			return -1;
		j->uid = v, j->have_uid = true;
		return 0;
	case O_GID:
		if (jail_parse_u32(arg, "--gid", &v) < 0)
			return -1;
		j->gid = v, j->have_gid = true;
		return 0;
	case O_BASE: j->base = arg; return 0;
	case O_NETNS: j->netns = arg; return 0;
	case O_CGV:
		if (strcmp(arg, "1") && strcmp(arg, "2"))
			return jail_fail("--cgroup-version must be 1 or 2");
		j->cgroup_version = arg[0] - '0';
		return 0;
	case O_CG: return jail_parse_cgroup(j, arg) < 0 ? -1 : 0;
	case O_PARENT: j->parent_cgroup = arg; return 0;
	case O_RLIMIT: return jail_parse_rlimit(j, arg) < 0 ? -1 : 0;
	case O_DAEMON: j->daemonize = true; return 0;
	case O_PIDNS: j->new_pid_ns = true; return 0;
	case O_NODE: return jail_parse_u32(arg, "--node", &v) < 0 ? -1 : 0;
	default: jail_usage(); return -1;
	}
}

/* Everything given, every path and name safe to build the jail from. */
static int jail_check(struct jail *j)
{
	if (!j->id || !jail_id_ok(j->id))
		return jail_fail("--id must be 1-%d letters, digits or '-'", JAIL_ID_MAX);
	if (!j->exec_file || !jail_path_ok(j->exec_file))
		return jail_fail("--exec-file must be an absolute path without '.' or '..' parts");
	if (!j->have_uid || !j->have_gid)
		return jail_fail("--uid and --gid are required");
	if (!jail_path_ok(j->base))
		return jail_fail("--chroot-base-dir must be an absolute path without '.' or '..' parts");
	if (j->netns && !jail_path_ok(j->netns))
		return jail_fail("--netns must be an absolute path without '.' or '..' parts");
	if (j->parent_cgroup && !jail_id_ok(j->parent_cgroup))
		return jail_fail("--parent-cgroup must be letters, digits or '-'");
	j->exec_name = strrchr(j->exec_file, '/') + 1;
	size_t en = strlen(j->exec_name);
	if (en == 0 || en > JAIL_ID_MAX || strspn(j->exec_name, "abcdefghijklmnopqrstuvwxyz"
	                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != en)
		return jail_fail("--exec-file name must be 1-%d letters, digits, '-', '_' or '.'", JAIL_ID_MAX);
	if (!j->parent_cgroup)
		j->parent_cgroup = j->exec_name;
	struct stat st;
	if (stat(j->exec_file, &st) < 0 || !S_ISREG(st.st_mode))
		return jail_fail("--exec-file %s is not a regular file", j->exec_file);
	int n = snprintf(j->root, sizeof(j->root), "%s/%s/%s/root", j->base, j->exec_name, j->id);
	if (n < 0 || (size_t)n >= sizeof(j->root))
		return jail_fail("jail path too long");
	return 0;
}

static int jail_parse(struct jail *j, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, O_ID },
		{ "exec-file", required_argument, NULL, O_EXEC },
		{ "uid", required_argument, NULL, O_UID },
		{ "gid", required_argument, NULL, O_GID },
		{ "chroot-base-dir", required_argument, NULL, O_BASE },
		{ "netns", required_argument, NULL, O_NETNS },
		{ "cgroup-version", required_argument, NULL, O_CGV },
		{ "cgroup", required_argument, NULL, O_CG },
		{ "parent-cgroup", required_argument, NULL, O_PARENT },
		{ "resource-limit", required_argument, NULL, O_RLIMIT },
		{ "daemonize", no_argument, NULL, O_DAEMON },
		{ "new-pid-ns", no_argument, NULL, O_PIDNS },
		/* the NUMA node of old jailers, which Kata still passes */
		{ "node", required_argument, NULL, O_NODE },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	memset(j, 0, sizeof(*j));
	j->base = JAIL_DEFAULT_BASE;
	j->cgroup_version = 2;
	j->rlimit_fsize = -1;
	j->rlimit_nofile = JAIL_DEFAULT_NOFILE;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1)
		if (jail_parse_opt(j, c, optarg) < 0)
			return -1;
	/* "+": option parsing stops at the first non-option; only "--" may
	 * end it, so a stray word is not silently taken for husk */
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0)
		return jail_fail("unexpected argument '%s' (husk arguments go after --)", argv[optind]);
	j->exec_argv = argv + optind;
	j->exec_argc = argc - optind;
	return jail_check(j);
}

/* ---- steps ---- */

static int jail_close_fds(void)
{
	/* close_range since Linux 5.9; fall back to walking the table */
	if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
		return 0;
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < max; fd++)
		close((int)fd);
	return 0;
}

static int jail_rlimits(const struct jail *j)
{
	struct rlimit r;
	if (j->rlimit_fsize >= 0) {
		r.rlim_cur = r.rlim_max = (rlim_t)j->rlimit_fsize;
		if (setrlimit(RLIMIT_FSIZE, &r) < 0)
			return jail_fail("setrlimit fsize: %s", strerror(errno));
	}
	if (j->rlimit_nofile >= 0) {
		r.rlim_cur = r.rlim_max = (rlim_t)j->rlimit_nofile;
		if (setrlimit(RLIMIT_NOFILE, &r) < 0)
			return jail_fail("setrlimit no-file: %s", strerror(errno));
	}
	return 0;
}

/* mkdir -p, each new directory root-owned 0755 */
static int jail_mkdirs(const char *path)
{
	char buf[JAIL_PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;
			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return jail_fail("mkdir %s: %s", buf, strerror(errno));
			*p = saved;
			if (!saved)
				break;
		}
	}
	return 0;
}

static int jail_copy_exec(const struct jail *j)
{
	char dst[JAIL_PATH_MAX + JAIL_ID_MAX + 2];
	int in = -1, out = -1, ret = -1;
	snprintf(dst, sizeof(dst), "%s/%s", j->root, j->exec_name);
	in = open(j->exec_file, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		jail_fail("open %s: %s", j->exec_file, strerror(errno));
		goto out;
	}
	unlink(dst); /* a left-over copy from an earlier jail of this id */
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0755);
	if (out < 0) {
		jail_fail("create %s: %s", dst, strerror(errno));
		goto out;
	}
	/* a copy, not a link: the jailed uid must not reach the host's binary */
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n == 0)
			break;
		if (n < 0) {
			char b[65536];
			ssize_t r = read(in, b, sizeof(b));
			if (r == 0)
				break;
			if (r < 0 || write(out, b, (size_t)r) != r) {
				jail_fail("copy %s: %s", j->exec_file, strerror(errno));
				goto out;
			}
		}
	}
	ret = fchmod(out, 0755) < 0 ? jail_fail("chmod %s: %s", dst, strerror(errno)) : 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return ret;
}

/* The mount point of cgroup2, or of the v1 hierarchy holding controller. */
static int jail_cgroup_mount(int version, const char *controller, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char dev[256], dir[JAIL_PATH_MAX], type[64], opts[1024];
	int ret = -1;
	if (!f)
		return jail_fail("cannot read /proc/self/mounts");
	while (fscanf(f, "%255s %1023s %63s %1023s %*d %*d", dev, dir, type, opts) == 4) {
		if (version == 2 && strcmp(type, "cgroup2") == 0) {
			ret = 0;
			break;
		}
		if (version == 1 && strcmp(type, "cgroup") == 0) {
			char *save, *o;
			for (o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
				if (strcmp(o, controller) == 0)
					break;
			if (o) {
				ret = 0;
				break;
			}
		}
	}
	fclose(f);
	if (ret < 0)
		return jail_fail("no cgroup v%d mount%s%s", version, version == 1 ? " for " : "",
		                 version == 1 ? controller : "");
	snprintf(out, len, "%s", dir);
	return 0;
}

static int jail_write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return jail_fail("open %s: %s", path, strerror(errno));
	ssize_t n = write(fd, value, strlen(value));
	int e = errno;
	close(fd);
	if (n != (ssize_t)strlen(value)) {
		errno = e;
		return jail_fail("write '%s' to %s: %s", value, path, n < 0 ? strerror(e) : "short write");
	}
	return 0;
}

/* Create <mount>/<parent>/<id>, write the settings, move ourselves in. */
static int jail_cgroup_dir(const struct jail *j, const char *mnt, char *dir, size_t len)
{
	snprintf(dir, len, "%s/%s/%s", mnt, j->parent_cgroup, j->id);
	return jail_mkdirs(dir);
}

static int jail_cgroup_v2(const struct jail *j)
{
	char mnt[JAIL_PATH_MAX], dir[JAIL_PATH_MAX + 200], path[JAIL_PATH_MAX + 300], pid[32];
	if (jail_cgroup_mount(2, NULL, mnt, sizeof(mnt)) < 0) {
		/* no cgroup2 at all: only an error if settings were asked for */
		return j->nr_cgroups ? -1 : 0;
	}
	if (jail_cgroup_dir(j, mnt, dir, sizeof(dir)) < 0)
		return -1;
	/* controllers the settings need, enabled from the root down to the
	 * parent (the parent holds no processes, as v2 wants) */
	for (int i = 0; i < j->nr_cgroups; i++) {
		char ctl[70];
		snprintf(ctl, sizeof(ctl), "+%.*s", (int)(strchr(j->cgroups[i].file, '.') - j->cgroups[i].file),
		         j->cgroups[i].file);
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control", mnt);
		if (jail_write_file(path, ctl) < 0)
			return -1;
		snprintf(path, sizeof(path), "%s/%s/cgroup.subtree_control", mnt, j->parent_cgroup);
		if (jail_write_file(path, ctl) < 0)
			return -1;
	}
	for (int i = 0; i < j->nr_cgroups; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, j->cgroups[i].file);
		if (jail_write_file(path, j->cgroups[i].value) < 0)
			return -1;
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return jail_write_file(path, pid);
}

static int jail_cgroup_v1(const struct jail *j)
{
	char mnt[JAIL_PATH_MAX], dir[JAIL_PATH_MAX + 200], path[JAIL_PATH_MAX + 300], pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (int i = 0; i < j->nr_cgroups; i++) {
		char ctl[70];
		snprintf(ctl, sizeof(ctl), "%.*s", (int)(strchr(j->cgroups[i].file, '.') - j->cgroups[i].file),
		         j->cgroups[i].file);
		if (jail_cgroup_mount(1, ctl, mnt, sizeof(mnt)) < 0 ||
		    jail_cgroup_dir(j, mnt, dir, sizeof(dir)) < 0)
			return -1;
		snprintf(path, sizeof(path), "%s/%s", dir, j->cgroups[i].file);
		if (jail_write_file(path, j->cgroups[i].value) < 0)
			return -1;
		snprintf(path, sizeof(path), "%s/tasks", dir);
		if (jail_write_file(path, pid) < 0)
			return -1;
	}
	return 0;
}

static int jail_netns(const struct jail *j)
{
	if (!j->netns)
		return 0;
	int fd = open(j->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return jail_fail("open netns %s: %s", j->netns, strerror(errno));
	int ret = setns(fd, CLONE_NEWNET);
	int e = errno;
	close(fd);
	if (ret < 0) {
		errno = e;
		return jail_fail("join netns %s: %s", j->netns, strerror(e));
	}
	return 0;
}

static int jail_pivot(const struct jail *j)
{
	if (unshare(CLONE_NEWNS) < 0)
		return jail_fail("unshare mount namespace: %s", strerror(errno));
	/* nothing we do here may propagate back to the host */
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return jail_fail("make / a slave mount: %s", strerror(errno));
	/* pivot_root wants the new root to be a mount point */
	if (mount(j->root, j->root, NULL, MS_BIND | MS_REC, NULL) < 0)
		return jail_fail("bind mount %s: %s", j->root, strerror(errno));
	if (chdir(j->root) < 0)
		return jail_fail("chdir %s: %s", j->root, strerror(errno));
	if (mkdir("old_root", 0700) < 0 && errno != EEXIST)
		return jail_fail("mkdir old_root: %s", strerror(errno));
	if (syscall(SYS_pivot_root, ".", "old_root") < 0)
		return jail_fail("pivot_root: %s", strerror(errno));
	if (chdir("/") < 0)
		return jail_fail("chdir /: %s", strerror(errno));
	if (umount2("old_root", MNT_DETACH) < 0)
		return jail_fail("unmount the old root: %s", strerror(errno));
	if (rmdir("old_root") < 0)
		return jail_fail("rmdir old_root: %s", strerror(errno));
	return 0;
}

static int jail_mknod(const struct jail *j, const char *path, unsigned maj, unsigned min, mode_t mode)
{
	unlink(path);
	if (mknod(path, S_IFCHR | mode, makedev(maj, min)) < 0)
		return jail_fail("mknod %s: %s", path, strerror(errno));
	if (chown(path, j->uid, j->gid) < 0 || chmod(path, mode) < 0)
		return jail_fail("chown %s: %s", path, strerror(errno));
	return 0;
}

/* On the host: the userfaultfd misc device's numbers, "10:126". */
static void jail_find_uffd(struct jail *j)
{
	FILE *f = fopen("/sys/class/misc/userfaultfd/dev", "re");
	if (!f)
		return;
	j->has_uffd = fscanf(f, "%u:%u", &j->uffd_major, &j->uffd_minor) == 2;
	fclose(f);
}

/* Inside the jail (after pivot_root). /dev/userfaultfd lets a jailed,
 * unprivileged husk restore with the Uffd backend where the kernel
 * refuses userfaultfd(2) to it (vm.unprivileged_userfaultfd=0). */
static int jail_devices(const struct jail *j)
{
	if ((mkdir("/dev", 0755) < 0 && errno != EEXIST) ||
	    (mkdir("/dev/net", 0755) < 0 && errno != EEXIST))
		return jail_fail("mkdir /dev: %s", strerror(errno));
	if (jail_mknod(j, "/dev/kvm", 10, 232, 0660) < 0 ||
	    jail_mknod(j, "/dev/net/tun", 10, 200, 0660) < 0 ||
	    jail_mknod(j, "/dev/urandom", 1, 9, 0660) < 0 ||
	    jail_mknod(j, "/dev/null", 1, 3, 0666) < 0)
		return -1;
	if (j->has_uffd && jail_mknod(j, "/dev/userfaultfd", j->uffd_major, j->uffd_minor, 0660) < 0)
		return -1;
	return 0;
}

static unsigned long long jail_clock_us(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
}

/* The PID namespace takes effect for children: fork, the parent records
 * the child's (host) pid in the jail and leaves. */
static int jail_pid_ns(struct jail *j)
{
	if (!j->new_pid_ns)
		return 0;
	if (unshare(CLONE_NEWPID) < 0)
		return jail_fail("unshare pid namespace: %s", strerror(errno));
	/* the child's CPU clock starts at 0: it reports the parent's share */
	j->forked_parent_cpu_us = jail_clock_us(CLOCK_PROCESS_CPUTIME_ID) - j->start_cpu_us;
	j->start_cpu_us = 0;
	pid_t pid = fork();
	if (pid < 0)
		return jail_fail("fork: %s", strerror(errno));
	if (pid == 0)
		return 0;
	char name[JAIL_ID_MAX + 8], buf[32];
	snprintf(name, sizeof(name), "/%s.pid", j->exec_name);
	snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
		jail_fail("write %s: %s", name, strerror(errno));
	if (fd >= 0)
		close(fd);
	_exit(0);
}

static int jail_daemonize(const struct jail *j)
{
	if (!j->daemonize)
		return 0;
	if (setsid() < 0)
		return jail_fail("setsid: %s", strerror(errno));
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return jail_fail("open /dev/null: %s", strerror(errno));
	for (int i = 0; i < 3; i++)
		if (dup2(fd, i) < 0)
			return jail_fail("dup2: %s", strerror(errno));
	if (fd > 2)
		close(fd);
	return 0;
}

/* A jail that keeps uid 0 (Kata's runtime asks for exactly that) keeps
 * only CAP_NET_ADMIN, which husk needs to attach a tap that has no owner,
 * and which acts on the jail's own network namespace only. Every other
 * capability leaves the bounding set, so the exec that follows cannot
 * grant it back to root. */
#define JAIL_ROOT_KEEPS_CAP CAP_NET_ADMIN

static int jail_drop_root_caps(void)
{
	int last = CAP_LAST_CAP;
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
	if (f) {
		if (fscanf(f, "%d", &last) != 1)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	for (int cap = 0; cap <= last; cap++) {
		if (cap == JAIL_ROOT_KEEPS_CAP)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return jail_fail("dropping capability %d: %s", cap, strerror(errno));
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return jail_fail("clearing ambient capabilities: %s", strerror(errno));
	return 0;
}

static int jail_drop_privileges(const struct jail *j)
{
	if (j->uid == 0 && jail_drop_root_caps() < 0)
		return -1;
	if (setgroups(0, NULL) < 0)
		return jail_fail("setgroups: %s", strerror(errno));
	if (setresgid(j->gid, j->gid, j->gid) < 0)
		return jail_fail("setresgid %u: %s", (unsigned)j->gid, strerror(errno));
	if (setresuid(j->uid, j->uid, j->uid) < 0)
		return jail_fail("setresuid %u: %s", (unsigned)j->uid, strerror(errno));
	return 0;
}

/* Like Firecracker's jailer, husk in API mode (its arguments start with a
 * flag, or there are none) gets --id, the jailer's start time, its CPU
 * clock now (what husk's startup CPU time counts from) and the CPU the
 * jailer used; a subcommand (`run`, `snapshot`) is passed as it is. */
static int jail_exec(const struct jail *j)
{
	char path[JAIL_ID_MAX + 2], start[24], start_cpu[24], parent_cpu[24];
	char **argv = calloc((size_t)j->exec_argc + 10, sizeof(*argv));
	char *envp[] = { NULL };
	int n = 0;
	if (!argv)
		return jail_fail("out of memory");
	snprintf(path, sizeof(path), "/%s", j->exec_name);
	argv[n++] = path;
	if (j->exec_argc == 0 || j->exec_argv[0][0] == '-') {
		unsigned long long cpu_now = jail_clock_us(CLOCK_PROCESS_CPUTIME_ID);
		snprintf(start, sizeof(start), "%llu", j->start_us);
		snprintf(start_cpu, sizeof(start_cpu), "%llu", cpu_now);
		snprintf(parent_cpu, sizeof(parent_cpu), "%llu",
		         cpu_now - j->start_cpu_us + j->forked_parent_cpu_us);
		argv[n++] = "--id";
		argv[n++] = (char *)j->id;
		argv[n++] = "--start-time-us";
		argv[n++] = start;
		argv[n++] = "--start-time-cpu-us";
		argv[n++] = start_cpu;
		argv[n++] = "--parent-cpu-time-us";
		argv[n++] = parent_cpu;
	}
	for (int i = 0; i < j->exec_argc; i++)
		argv[n++] = j->exec_argv[i];
	execve(path, argv, envp);
	return jail_fail("exec %s: %s", path, strerror(errno));
}

/* Firecracker's jailer (its argument parser): --version anywhere before
 * the "--" that starts husk's arguments, unless --help or -h is there too */
static bool jail_wants_version(int argc, char **argv)
{
	bool version = false;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return false;
		version |= strcmp(argv[i], "--version") == 0;
	}
	return version;
}

int main(int argc, char **argv)
{
	struct jail j;
	unsigned long long start_us = jail_clock_us(CLOCK_MONOTONIC);
	unsigned long long start_cpu_us = jail_clock_us(CLOCK_PROCESS_CPUTIME_ID);
	if (jail_wants_version(argc, argv)) {
		/* Firecracker's jailer's shape, as husk --version */
		printf("husk-jailer v%s\nhusk-jailer %s, following the jailer of Firecracker v%s\n",
		       FIRECRACKER_API_VERSION, HUSK_VERSION, FIRECRACKER_API_VERSION);
		return 0;
	}
	if (jail_parse(&j, argc, argv) < 0)
		return 1;
	j.start_us = start_us;
	j.start_cpu_us = start_cpu_us;
	jail_find_uffd(&j);
	if (geteuid() != 0) {
		jail_fail("must run as root");
		return 1;
	}
	/* accepted, as Firecracker's jailer does (Kata passes 0:0), but said:
	 * here, before --daemonize points stderr at /dev/null */
	if (j.uid == 0 || j.gid == 0)
		fprintf(stderr, "husk-jailer: warning: --uid %u --gid %u keeps the jail as root: it "
		        "keeps only CAP_NET_ADMIN, but files and processes owned by root stay within "
		        "its reach wherever the jail can see them\n", (unsigned)j.uid, (unsigned)j.gid);
	int (*const host_steps[])(const struct jail *) = {
		jail_rlimits,
	};
	jail_close_fds();
	for (size_t i = 0; i < sizeof(host_steps) / sizeof(host_steps[0]); i++)
		if (host_steps[i](&j) < 0)
			return 1;
	if (jail_mkdirs(j.root) < 0 || jail_copy_exec(&j) < 0)
		return 1;
	if ((j.cgroup_version == 2 ? jail_cgroup_v2(&j) : jail_cgroup_v1(&j)) < 0)
		return 1;
	if (jail_netns(&j) < 0 || jail_pivot(&j) < 0 || jail_devices(&j) < 0 ||
	    jail_pid_ns(&j) < 0 || jail_daemonize(&j) < 0 || jail_drop_privileges(&j) < 0)
		return 1;
	jail_exec(&j);
	return 1;
}
