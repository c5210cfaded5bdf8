/* cli_vm: the commands whose VM runs in the husk process itself (husk run,
 * husk snapshot load), which differ only in how they read their command
 * line and how the VM starts (booted or restored). */
#ifndef HUSK_VMM_CLI_VM_H
#define HUSK_VMM_CLI_VM_H

struct vm_config;
struct vmm;

struct cli_vm_cmd {
	/* 0, or the exit code of a bad command line (printed) */
	int (*parse)(int argc, char **argv, struct vm_config *cfg, void *ctx);
	/* boot or restore the VM: 0, or -errno with the reason printed */
	int (*start)(struct vmm *vmm, struct vm_config *cfg, void *ctx);
};

/* Log at Info and filter syscalls unless the command line says otherwise,
 * parse, start, run the VM until the guest exits, tear down. The exit
 * code: 2 for a bad command line, 1 if the VM did not start, else the
 * guest's. */
int cli_vm_main(const struct cli_vm_cmd *cmd, int argc, char **argv, void *ctx);

#endif
