"""Services: every write goes through these functions (they check versions, lock rows and write the audit log)."""

from labeling.services.audit import audit_log
from labeling.services.images import (
    image_claim,
    image_confirm,
    image_create,
    image_delete,
    image_reject,
    image_submit,
    image_update,
    images_upload,
)
from labeling.services.jobs import job_cancel, job_create, job_finish, job_update_progress
from labeling.services.masks import mask_confirm, mask_reject, mask_replace, mask_store_prediction
from labeling.services.projects import (
    membership_add,
    membership_remove,
    membership_update_role,
    project_create,
    project_delete,
    project_settings,
    project_update,
)
from labeling.services.targets import target_add, target_delete, target_move, targets_replace

__all__ = [
    "audit_log",
    "image_claim",
    "image_confirm",
    "image_create",
    "image_delete",
    "image_reject",
    "image_submit",
    "image_update",
    "images_upload",
    "job_cancel",
    "job_create",
    "job_finish",
    "job_update_progress",
    "mask_confirm",
    "mask_reject",
    "mask_replace",
    "mask_store_prediction",
    "membership_add",
    "membership_remove",
    "membership_update_role",
    "project_create",
    "project_delete",
    "project_settings",
    "project_update",
    "target_add",
    "target_delete",
    "target_move",
    "targets_replace",
]
