/* apply: the vmm-thread side of a request, dispatched by kind; replies and
 * freeing of typed requests. */
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "vmm/vmm.h"

void api_str_move(char **dst, char **src)
{
	free(*dst);
	*dst = *src;
	*src = NULL;
}

int api_reply_fault(struct api_reply *rep, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(rep->body);
	rep->status = status;
	rep->body = http_fault_body(msg);
	return -EINVAL;
}

void api_reply_json(struct api_reply *rep, json_t *body)
{
	free(rep->body);
	rep->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	rep->status = rep->body ? 200 : 500;
	json_decref(body);
}

void api_reply_reason(const struct api_reply *rep, char *buf, size_t len)
{
	json_t *o = rep->body ? json_loads(rep->body, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(o, "fault_message"));
	snprintf(buf, len, "%s", m ? m : "failed");
	json_decref(o);
}

bool api_started(const struct api_target *t)
{
	return t->failed || (t->vmm && t->vmm->state != VMM_NOT_STARTED);
}

void api_request_free(struct api_request *r)
{
	switch (r->kind) {
	case API_PUT_BOOT:
		free(r->boot.kernel_image_path);
		free(r->boot.initrd_path);
		free(r->boot.boot_args);
		break;
	case API_PUT_DRIVE:
		free(r->drive.drive_id);
		free(r->drive.path_on_host);
		free(r->drive.partuuid);
		break;
	case API_PATCH_DRIVE:
		free(r->drive_patch.drive_id);
		free(r->drive_patch.path_on_host);
		break;
	case API_PUT_NET:
		free(r->net.iface_id);
		free(r->net.host_dev_name);
		break;
	case API_PATCH_NET:
		free(r->net_patch.iface_id);
		break;
	case API_PUT_VSOCK:
		free(r->vsock.uds_path);
		break;
	case API_PUT_LOGGER:
		free(r->logger.log_path);
		break;
	case API_PUT_METRICS:
		free(r->metrics.metrics_path);
		break;
	case API_SNAPSHOT_CREATE:
		free(r->snap_create.snapshot_path);
		free(r->snap_create.mem_file_path);
		break;
	case API_SNAPSHOT_LOAD:
		free(r->snap_load.snapshot_path);
		free(r->snap_load.backend_path);
		free(r->snap_load.vsock_uds_override);
		for (int i = 0; i < r->snap_load.nr_overrides; i++) {
			free(r->snap_load.overrides[i].iface_id);
			free(r->snap_load.overrides[i].host_dev_name);
		}
		break;
	default:
		break;
	}
	memset(r, 0, sizeof(*r));
}

void api_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	rep->status = 500;
	switch (r->kind) {
	case API_GET_INFO: api_apply_info(t, rep); break;
	case API_GET_MACHINE:
	case API_PUT_MACHINE:
	case API_PATCH_MACHINE: api_apply_machine(t, r, rep); break;
	case API_PUT_BOOT: api_apply_boot_source(t, r, rep); break;
	case API_PUT_DRIVE: api_apply_drive(t, r, rep); break;
	case API_PATCH_DRIVE: api_apply_drive_patch(t, r, rep); break;
	case API_PUT_NET: api_apply_net(t, r, rep); break;
	case API_PATCH_NET: api_apply_net_patch(t, r, rep); break;
	case API_PUT_VSOCK: api_apply_vsock(t, r, rep); break;
	case API_PUT_ENTROPY: api_apply_entropy(t, r, rep); break;
	case API_PUT_LOGGER: api_apply_logger(t, r, rep); break;
	case API_PUT_METRICS: api_apply_metrics(t, r, rep); break;
	case API_ACTION: api_apply_action(t, r, rep); break;
	case API_PATCH_VM: api_apply_vm_state(t, r, rep); break;
	case API_GET_VM_CONFIG: api_apply_vm_config(t, rep); break;
	case API_SNAPSHOT_CREATE: api_apply_snapshot_create(t, r, rep); break;
	case API_SNAPSHOT_LOAD: api_apply_snapshot_load(t, r, rep); break;
	default: api_reply_fault(rep, 500, "request kind %d has no handler", (int)r->kind); break;
	}
}
