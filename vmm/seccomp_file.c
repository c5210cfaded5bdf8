/* seccomp_file: compile a seccompiler JSON filter file (see
 * seccomp_file.h) with libseccomp into one BPF program per thread kind,
 * which seccomp_install then loads instead of the built-in ones. */
#include "vmm/seccomp_file.h"

#include <errno.h>
#include <jansson.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/seccomp.h"

/* Where the error is: "vmm.filter[3].args[0]" and so on. */
struct sf_ctx {
	char *err;
	size_t errlen;
	const char *kind;
	int rule, arg; /* -1: not in one */
};

static int sf_fail(struct sf_ctx *c, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (c->rule < 0)
		snprintf(c->err, c->errlen, "%s: %s", c->kind, what);
	else if (c->arg < 0)
		snprintf(c->err, c->errlen, "%s.filter[%d]: %s", c->kind, c->rule, what);
	else
		snprintf(c->err, c->errlen, "%s.filter[%d].args[%d]: %s", c->kind, c->rule, c->arg, what);
	return -EINVAL;
}

/* Only the keys of allowed (NULL-terminated). */
static int sf_keys(struct sf_ctx *c, const json_t *o, const char *const allowed[])
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)o, key, v) {
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], key) != 0)
			i++;
		if (!allowed[i])
			return sf_fail(c, "unknown field '%s'", key);
	}
	return 0;
}

/* "allow", "kill_process", ..., or {"errno": N} / {"trace": N}. */
static int sf_action(struct sf_ctx *c, const json_t *v, const char *field, uint32_t *out)
{
	static const struct { const char *name; uint32_t act; } plain[] = {
		{ "allow", SCMP_ACT_ALLOW }, { "kill_process", SCMP_ACT_KILL_PROCESS },
		{ "kill_thread", SCMP_ACT_KILL_THREAD }, { "kill", SCMP_ACT_KILL_THREAD },
		{ "trap", SCMP_ACT_TRAP }, { "log", SCMP_ACT_LOG },
	};
	const char *s = json_string_value(v);
	for (size_t i = 0; s && i < sizeof(plain) / sizeof(plain[0]); i++)
		if (!strcmp(s, plain[i].name)) {
			*out = plain[i].act;
			return 0;
		}
	json_t *e = json_object_get(v, "errno"), *t = json_object_get(v, "trace"), *n = e ? e : t;
	if (json_object_size(v) == 1 && json_is_integer(n) && json_integer_value(n) >= 0 &&
	    json_integer_value(n) <= 0xffff) {
		uint16_t val = (uint16_t)json_integer_value(n);
		*out = e ? SCMP_ACT_ERRNO(val) : SCMP_ACT_TRACE(val);
		return 0;
	}
	return sf_fail(c, "%s must be \"allow\", \"kill_process\", \"kill_thread\", \"trap\", \"log\", "
	                  "{\"errno\": N} or {\"trace\": N} (N 0..65535)", field);
}

/* One condition, as seccompiler turns it into libseccomp's: a dword eq
 * compares the low 32 bits only. */
static int sf_arg(struct sf_ctx *c, const json_t *a, struct scmp_arg_cmp *out)
{
	static const char *const keys[] = { "index", "type", "op", "val", "comment", NULL };
	static const struct { const char *name; enum scmp_compare op; } ops[] = {
		{ "eq", SCMP_CMP_EQ }, { "ne", SCMP_CMP_NE }, { "lt", SCMP_CMP_LT },
		{ "le", SCMP_CMP_LE }, { "gt", SCMP_CMP_GT }, { "ge", SCMP_CMP_GE },
	};
	if (!json_is_object(a))
		return sf_fail(c, "must be an object");
	if (sf_keys(c, a, keys) < 0)
		return -EINVAL;
	json_t *idx = json_object_get(a, "index"), *val = json_object_get(a, "val"), *op = json_object_get(a, "op");
	const char *type = json_string_value(json_object_get(a, "type"));
	if (!json_is_integer(idx) || json_integer_value(idx) < 0 || json_integer_value(idx) > 5)
		return sf_fail(c, "index must be 0..5");
	if (!type || (strcmp(type, "dword") && strcmp(type, "qword")))
		return sf_fail(c, "type must be \"dword\" or \"qword\"");
	if (!json_is_integer(val))
		return sf_fail(c, "val must be an integer");
	*out = (struct scmp_arg_cmp){ .arg = (unsigned)json_integer_value(idx),
	                              .datum_a = (scmp_datum_t)json_integer_value(val) };
	json_t *mask = json_is_object(op) ? json_object_get(op, "masked_eq") : NULL;
	if (mask && json_object_size(op) == 1 && json_is_integer(mask)) {
		*out = (struct scmp_arg_cmp){ out->arg, SCMP_CMP_MASKED_EQ, (scmp_datum_t)json_integer_value(mask),
		                              out->datum_a };
		return 0;
	}
	for (size_t i = 0; json_is_string(op) && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(json_string_value(op), ops[i].name)) {
			out->op = ops[i].op;
			if (out->op == SCMP_CMP_EQ && !strcmp(type, "dword"))
				*out = (struct scmp_arg_cmp){ out->arg, SCMP_CMP_MASKED_EQ, 0xffffffffu, out->datum_a };
			return 0;
		}
	return sf_fail(c, "op must be \"eq\", \"ne\", \"lt\", \"le\", \"gt\", \"ge\" or {\"masked_eq\": MASK}");
}

/* One {"syscall", "args"?, "comment"?} rule into ctx. */
static int sf_rule(struct sf_ctx *c, scmp_filter_ctx ctx, uint32_t action, const json_t *r)
{
	static const char *const keys[] = { "syscall", "args", "comment", NULL };
	struct scmp_arg_cmp cmp[6];
	if (!json_is_object(r))
		return sf_fail(c, "must be an object");
	if (sf_keys(c, r, keys) < 0)
		return -EINVAL;
	const char *name = json_string_value(json_object_get(r, "syscall"));
	if (!name)
		return sf_fail(c, "syscall must be a syscall name");
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return sf_fail(c, "unknown syscall '%s'", name);
	json_t *args = json_object_get(r, "args");
	if (args && (!json_is_array(args) || json_array_size(args) > 6))
		return sf_fail(c, "args must be an array of at most 6 conditions");
	size_t n = args ? json_array_size(args) : 0;
	for (c->arg = 0; (size_t)c->arg < n; c->arg++)
		if (sf_arg(c, json_array_get(args, (size_t)c->arg), &cmp[c->arg]) < 0)
			return -EINVAL;
	c->arg = -1;
	int ret = seccomp_rule_add_array(ctx, action, nr, (unsigned)n, cmp);
	if (ret < 0)
		return sf_fail(c, "libseccomp refused the rule for '%s': %s", name, strerror(-ret));
	return 0;
}

/* The BPF libseccomp made of ctx, malloc'd. */
static int sf_export(struct sf_ctx *c, scmp_filter_ctx ctx, struct sock_filter **f, unsigned *len)
{
	int fd = memfd_create("seccomp-filter", MFD_CLOEXEC), ret = 0;
	if (fd < 0)
		return sf_fail(c, "memfd_create: %s", strerror(errno));
	ret = seccomp_export_bpf(ctx, fd);
	off_t size = ret < 0 ? -1 : lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(**f) || size / (off_t)sizeof(**f) > BPF_MAXINSNS) {
		ret = sf_fail(c, "the compiled filter is empty or over %d instructions", BPF_MAXINSNS);
		goto out;
	}
	*f = malloc((size_t)size);
	if (!*f || pread(fd, *f, (size_t)size, 0) != size) {
		free(*f);
		*f = NULL;
		ret = sf_fail(c, "reading the compiled filter back failed");
		goto out;
	}
	*len = (unsigned)(size / (off_t)sizeof(**f));
out:
	close(fd);
	return ret;
}

/* One thread kind's {"default_action", "filter_action", "filter"}. */
static int sf_thread(struct sf_ctx *c, const json_t *t, struct sock_filter **f, unsigned *len)
{
	static const char *const keys[] = { "default_action", "filter_action", "filter", NULL };
	uint32_t def, act;
	if (!json_is_object(t))
		return sf_fail(c, "missing, or not an object");
	if (sf_keys(c, t, keys) < 0 || sf_action(c, json_object_get(t, "default_action"), "default_action", &def) < 0 ||
	    sf_action(c, json_object_get(t, "filter_action"), "filter_action", &act) < 0)
		return -EINVAL;
	const json_t *rules = json_object_get(t, "filter");
	if (!json_is_array(rules))
		return sf_fail(c, "filter must be an array of rules");
	scmp_filter_ctx ctx = seccomp_init(def);
	if (!ctx)
		return sf_fail(c, "libseccomp cannot start a filter");
	int ret = 0;
	for (c->rule = 0; ret == 0 && (size_t)c->rule < json_array_size(rules); c->rule++)
		ret = sf_rule(c, ctx, act, json_array_get(rules, (size_t)c->rule));
	c->rule = -1;
	if (ret == 0)
		ret = sf_export(c, ctx, f, len);
	seccomp_release(ctx);
	return ret;
}

int seccomp_filter_file_load(const char *path, char *err, size_t errlen)
{
	json_error_t je;
	struct sock_filter *f[SECCOMP_THREAD_KINDS] = { NULL };
	unsigned len[SECCOMP_THREAD_KINDS];
	struct sf_ctx c = { err, errlen, "", -1, -1 };
	static const char *const kinds[] = { "vmm", "api", "vcpu", NULL };
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	int ret = -EINVAL;
	if (!root) {
		snprintf(err, errlen, "%s (line %d)", je.text, je.line);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "must be an object of thread kinds (vmm, api, vcpu)");
		goto out;
	}
	c.kind = "file";
	if (sf_keys(&c, root, kinds) < 0)
		goto out;
	for (int k = 0; k < SECCOMP_THREAD_KINDS; k++) {
		c.kind = kinds[k];
		ret = sf_thread(&c, json_object_get(root, kinds[k]), &f[k], &len[k]);
		if (ret < 0)
			goto out;
	}
	for (int k = 0; k < SECCOMP_THREAD_KINDS; k++) {
		seccomp_set_custom((enum seccomp_thread)k, f[k], len[k]);
		f[k] = NULL; /* seccomp.c owns it now */
	}
	ret = 0;
out:
	for (int k = 0; k < SECCOMP_THREAD_KINDS; k++)
		free(f[k]);
	json_decref(root);
	return ret;
}
