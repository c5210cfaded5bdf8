/* cli_vm: see cli_vm.h. */
#include "vmm/cli_vm.h"

#include <stdio.h>

#include "vmm/config.h"
#include "vmm/log.h"
#include "vmm/seccomp.h"
#include "vmm/vmm.h"

int cli_vm_main(const struct cli_vm_cmd *cmd, int argc, char **argv, void *ctx)
{
	struct vm_config cfg;
	struct vmm vmm;
	int code;

	config_init(&cfg);
	/* a developer running a guest wants to see its boot time */
	log_set_level(LOG_INFO);
	/* a guest is untrusted, booted or restored: filtered unless told otherwise */
	seccomp_set_level(SECCOMP_LEVEL_ADVANCED);
	code = cmd->parse(argc, argv, &cfg, ctx);
	if (code)
		goto out_cfg;
	code = 1;
	if (vmm_init(&vmm) < 0) {
		fprintf(stderr, "husk: cannot set up the event loop\n");
		goto out_cfg;
	}
	if (cmd->start(&vmm, &cfg, ctx) < 0)
		goto out;
	code = vmm_run(&vmm);
	log_info("VM exited: %s (status %d)", vmm_exit_reason(&vmm), code);
	if (code)
		fprintf(stderr, "husk: %s\n", vmm_exit_reason(&vmm));
out:
	vmm_destroy(&vmm);
out_cfg:
	config_free(&cfg);
	return code;
}
