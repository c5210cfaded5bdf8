/* api_fixture: an API target on a VM that is not built (no KVM needed),
 * for the tests of what the API resources and the config file apply: its
 * vm_config, metrics and vmm, a readable file that serves as a kernel or
 * a disk (nothing is booted) and room for an error message. Its setup and
 * teardown are cmocka's (fx_setup, fx_teardown). Include after <cmocka.h>. */
#ifndef HUSK_TESTS_API_FIXTURE_H
#define HUSK_TESTS_API_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "api/resource.h"
#include "vmm/metrics.h"
#include "vmm/vmm.h"

struct api_fixture {
	struct vmm vmm;
	struct vm_config cfg;
	struct metrics metrics;
	struct api_target t;
	char file[64];
	char err[512];
};

static int fx_setup(void **state)
{
	struct api_fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	config_init(&f->cfg);
	metrics_init(&f->metrics, NULL, NULL);
	f->t = (struct api_target){ .vmm = &f->vmm, .cfg = &f->cfg, .metrics = &f->metrics, .instance_id = "t" };
	snprintf(f->file, sizeof(f->file), "/tmp/husk-test-api-%d", (int)getpid());
	FILE *k = fopen(f->file, "w");
	assert_non_null(k);
	fputs("not really a kernel", k);
	fclose(k);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct api_fixture *f = *state;
	unlink(f->file);
	metrics_close(&f->metrics);
	config_free(&f->cfg);
	free(f);
	return 0;
}

#endif
