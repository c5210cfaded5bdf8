/* vcpu: per-vCPU thread, KVM_RUN loop and exit dispatch. */
#include "vmm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vmm/log.h"
#include "vmm/seccomp.h"
#include "vmm/vm.h"

/* The kick signal only has to interrupt KVM_RUN; its handler does nothing.
 * A constant (SIGRTMIN is a glibc run-time value), so that the seccomp
 * filters, compiled at build time, allow tgkill with this signal only. */
#define VCPU_KICK_SIGNAL SECCOMP_KICK_SIGNAL

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

static int vcpu_install_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: KVM_RUN must return EINTR */
	return sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0 ? -errno : 0;
}

int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned id)
{
	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0) {
		int ret = -errno;
		log_err("KVM_CREATE_VCPU %u: %s", id, strerror(errno));
		return ret;
	}
	vcpu->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		int ret = -errno;
		vcpu->run = NULL;
		log_err("mmap kvm_run of vCPU %u: %s", id, strerror(errno));
		return ret;
	}
	return 0;
}

static void vcpu_count(atomic_ullong *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static void vcpu_handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	vcpu_count(is_write ? &vcpu->exits.io_out : &vcpu->exits.io_in);
	for (uint32_t i = 0; i < run->io.count; i++) {
		if (!bus_access(&vcpu->vm->pio, run->io.port, data, run->io.size, is_write))
			vcpu_count(&vcpu->exits.unclaimed);
		data += run->io.size;
	}
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	vcpu_count(run->mmio.is_write ? &vcpu->exits.mmio_write : &vcpu->exits.mmio_read);
	if (!bus_access(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data,
	                run->mmio.len, run->mmio.is_write)) {
		vcpu_count(&vcpu->exits.unclaimed);
		log_debug("vCPU %u: unclaimed MMIO %s at 0x%llx", vcpu->id,
		          run->mmio.is_write ? "write" : "read",
		          (unsigned long long)run->mmio.phys_addr);
	}
}

/* Returns false when the VM should end. */
static bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(vcpu);
		return true;
	case KVM_EXIT_SHUTDOWN:
		/* triple fault: what a guest's reboot=t reset looks like */
		vm_request_exit(vm, 0, "guest reset (shutdown) on vCPU %u", vcpu->id);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		vm_request_exit(vm, 0, "guest %s on vCPU %u",
		                run->system_event.type == KVM_SYSTEM_EVENT_RESET ? "reset" : "poweroff",
		                vcpu->id);
		return false;
	case KVM_EXIT_HLT:
		vm_request_exit(vm, 0, "guest halted on vCPU %u", vcpu->id);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vm_request_exit(vm, 1, "vCPU %u: KVM_EXIT_FAIL_ENTRY reason 0x%llx", vcpu->id,
		                (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
#if defined(__aarch64__)
	case KVM_EXIT_ARM_NISV:
		vm_request_exit(vm, 1, "vCPU %u: guest MMIO access at 0x%llx that KVM cannot decode "
		                "(no instruction syndrome: a load/store pair or writeback)", vcpu->id,
		                (unsigned long long)run->arm_nisv.fault_ipa);
		return false;
#endif
	case KVM_EXIT_INTERNAL_ERROR:
		vm_request_exit(vm, 1, "vCPU %u: KVM internal error, suberror %u", vcpu->id,
		                run->internal.suberror);
		return false;
	default:
		vm_request_exit(vm, 1, "vCPU %u: unhandled KVM exit reason %u", vcpu->id,
		                run->exit_reason);
		return false;
	}
}

static void vcpu_park(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_requested) && !atomic_load(&vm->exiting))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->nr_parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	/* before the first guest instruction: from here on this thread runs
	 * guest-driven device handlers */
	if (seccomp_install(SECCOMP_THREAD_VCPU) < 0) {
		vm_request_exit(vm, 1, "vCPU %u: cannot install its seccomp filter", vcpu->id);
		goto out;
	}
	if (vcpu->id == 0)
		log_info("phase: first KVM_RUN at %llu us", log_uptime_us());
	while (!atomic_load(&vm->exiting)) {
		if (atomic_load(&vm->pause_requested)) {
			vcpu_park(vcpu);
			continue;
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu_count(&vcpu->exits.interrupted);
				/* the fence orders this store before the next
				 * pause_requested load: otherwise a kick that sets
				 * the flag between the two is overwritten, and
				 * KVM_RUN goes back in with the pause unseen */
				vcpu->run->immediate_exit = 0;
				__atomic_thread_fence(__ATOMIC_SEQ_CST);
				continue;
			}
			vm_request_exit(vm, 1, "vCPU %u: KVM_RUN: %s", vcpu->id, strerror(errno));
			break;
		}
		if (!vcpu_handle_exit(vcpu))
			break;
	}
out:
	/* a pauser may be waiting for this thread to park */
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	int ret = vcpu_install_kick_handler();
	if (ret < 0)
		return ret;
	ret = -pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (ret < 0) {
		log_err("cannot start vCPU %u thread: %s", vcpu->id, strerror(-ret));
		return ret;
	}
	char name[16];
	snprintf(name, sizeof(name), "fc_vcpu %u", vcpu->id);
	pthread_setname_np(vcpu->thread, name);
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	/* immediate_exit covers the window before the thread enters KVM_RUN;
	 * the signal covers a thread already inside it */
	vcpu->run->immediate_exit = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_stop(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	vcpu_kick(vcpu);
	pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	vcpu_stop(vcpu);
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static unsigned vcpus_started(const struct vm *vm)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		n += vm->vcpus[i].started;
	return n;
}

void vcpus_pause(struct vm *vm)
{
	atomic_store(&vm->pause_requested, true);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	unsigned want = vcpus_started(vm);
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->nr_parked < want)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vcpus_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_requested, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}
