/* cli: the `husk snapshot ...` subcommands (main.c dispatches here). */
#ifndef HUSK_SNAPSHOT_CLI_H
#define HUSK_SNAPSHOT_CLI_H

/* argv[0] is "snapshot". Returns the process exit code. */
int snapshot_cli_main(int argc, char **argv);
/* `husk snapshot create` (cli_create.c); argv[0] is "create". */
int snapshot_cli_create(int argc, char **argv);

#endif
