/* smp: what smp.c and smp_tramp.S share. */
#ifndef HUSK_GUEST_SMP_H
#define HUSK_GUEST_SMP_H

#define SMP_MAX_CPUS 64
/* below 1 MiB, clear of 0x500..0xbfff (VMM tables), 0x20000 (cmdline) and
 * 0x9fc00 (MP table); SIPI vector = TRAMP_BASE >> 12 */
#define TRAMP_BASE 0x10000
#define AP_STACK_SHIFT 12 /* 4 KiB per AP */

#endif
