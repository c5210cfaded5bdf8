/* vcpu: one thread per vCPU running KVM_RUN; PIO/MMIO exits go to the bus. */
#ifndef HUSK_VCPU_H
#define HUSK_VCPU_H

#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>

struct vm;
struct boot_info;

/* Exits by reason, bumped by the vCPU thread, read by metrics (relaxed). */
struct vcpu_exits {
	atomic_ullong io_in, io_out, mmio_read, mmio_write;
	atomic_ullong unclaimed;   /* I/O or MMIO no device owns */
	atomic_ullong interrupted; /* KVM_RUN left for a kick (pause, stop) */
};

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	struct vcpu_exits exits;
};

int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned id);
/* Start the thread (named "fc_vcpu N"). */
int vcpu_start(struct vcpu *vcpu);
/* Make the thread leave KVM_RUN now (signal + immediate_exit). */
void vcpu_kick(struct vcpu *vcpu);
/* Kick and wait for the thread to end. */
void vcpu_stop(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

/* Every started vCPU leaves KVM_RUN and stays out until vcpus_resume. */
void vcpus_pause(struct vm *vm);
void vcpus_resume(struct vm *vm);

#endif
