"""Django admin for staff: registrations, thumbnails and actions that call services only."""

from __future__ import annotations

import io

import numpy as np
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from PIL import Image as PILImage

from labeling import storage
from labeling.choices import JobStatus, Split
from labeling.models import AuditLog, Image, Job, Mask, MaskRevision, Membership, ModelVersion, Project, Target
from labeling.services.admin_actions import images_delete, images_set_split, job_requeue, projects_delete

THUMBNAIL_SIDE = 96


def thumbnail_png(pixels: np.ndarray, side: int = THUMBNAIL_SIDE) -> bytes:
    """An 8-bit preview stretched between the 1st and 99.5th percentiles (works for 16-bit frames too)."""
    low, high = np.percentile(pixels, [1.0, 99.5])
    scaled = np.clip((pixels.astype(np.float32) - low) / max(float(high - low), 1e-6), 0, 1)
    preview = PILImage.fromarray((scaled * 255).astype(np.uint8), mode="L")
    preview.thumbnail((side, side), PILImage.Resampling.NEAREST)
    buffer = io.BytesIO()
    preview.save(buffer, format="PNG")
    return buffer.getvalue()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class AuditedDeleteAdmin(admin.ModelAdmin):
    """Deletes go through an audited service; the rows they cascade to (targets, masks, jobs) are read-only here
    on their own, which must not block the whole delete."""

    def get_deleted_objects(self, objs: object, request: HttpRequest) -> tuple:
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected


@admin.register(Project)
class ProjectAdmin(AuditedDeleteAdmin):
    list_display = ["id", "name", "created_by", "created_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at", "version"]
    inlines = [MembershipInline]

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        projects_delete(projects=Project.objects.filter(pk=obj.pk), actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        projects_delete(projects=queryset, actor=request.user)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "user", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]
    autocomplete_fields = ["user", "project"]


@admin.action(description="Move selected images to the train split")
def move_to_train(modeladmin: ImageAdmin, request: HttpRequest, queryset: QuerySet[Image]) -> None:
    _move(modeladmin, request, queryset, Split.TRAIN)


@admin.action(description="Move selected images to the validation split")
def move_to_val(modeladmin: ImageAdmin, request: HttpRequest, queryset: QuerySet[Image]) -> None:
    _move(modeladmin, request, queryset, Split.VAL)


@admin.action(description="Move selected images to the test split")
def move_to_test(modeladmin: ImageAdmin, request: HttpRequest, queryset: QuerySet[Image]) -> None:
    _move(modeladmin, request, queryset, Split.TEST)


def _move(modeladmin: ImageAdmin, request: HttpRequest, queryset: QuerySet[Image], split: str) -> None:
    count = images_set_split(images=queryset, split=split, actor=request.user)
    modeladmin.message_user(request, f"{count} image(s) moved to {split}.", messages.SUCCESS)


@admin.register(Image)
class ImageAdmin(AuditedDeleteAdmin):
    list_display = ["id", "thumbnail", "original_name", "project", "width", "height", "bit_depth", "split", "status"]
    list_filter = ["status", "split", "format", "bit_depth", "project"]
    search_fields = ["original_name", "content_hash"]
    readonly_fields = [
        "thumbnail",
        "file",
        "format",
        "width",
        "height",
        "dtype",
        "bit_depth",
        "channels",
        "file_size",
        "content_hash",
        "status",  # only the review workflow (audited) changes it
        "created_at",
        "updated_at",
        "version",
    ]
    raw_id_fields = ["project", "assigned_to", "uploaded_by"]
    actions = [move_to_train, move_to_val, move_to_test]
    list_per_page = 50
    show_full_result_count = False  # no COUNT(*) over 100k rows on every page

    class Media:
        css = {"all": ["frontend/admin.css"]}  # a class, not a style attribute: the CSP allows no inline style

    @admin.display(description="preview")
    def thumbnail(self, obj: Image) -> str:
        url = reverse("admin:labeling_image_thumbnail", args=[obj.pk])
        return format_html('<img src="{}" alt="" loading="lazy" class="pixelated">', url)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.thumbnail_view)
        return [path("<int:pk>/thumbnail.png", view, name="labeling_image_thumbnail"), *super().get_urls()]

    def delete_model(self, request: HttpRequest, obj: Image) -> None:
        images_delete(images=Image.objects.filter(pk=obj.pk), actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        images_delete(images=queryset, actor=request.user)

    def thumbnail_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        image = get_object_or_404(Image, pk=pk)
        response = HttpResponse(thumbnail_png(storage.read_pixels(image)), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only services write: staff can look, not edit or delete (that would bypass versions and the
    audit log, e.g. a confirmed mask or an audit row vanishing without a trace)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Target)
class TargetAdmin(ReadOnlyAdmin):
    """Targets change through the API (version-checked, audited, masks regenerated), not in the admin."""

    list_display = ["id", "image", "x", "y", "tightness", "created_by", "created_at"]
    search_fields = ["image__original_name"]
    raw_id_fields = ["image", "created_by", "updated_by"]


@admin.register(Mask)
class MaskAdmin(ReadOnlyAdmin):
    list_display = ["id", "target", "image", "state", "source", "area", "model_version", "version", "updated_at"]
    list_filter = ["state", "source"]
    search_fields = ["image__original_name"]


@admin.register(MaskRevision)
class MaskRevisionAdmin(ReadOnlyAdmin):
    list_display = ["id", "mask", "version", "state", "source", "area", "created_by", "created_at"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "number", "arch", "status", "created_at", "promoted_at"]
    list_filter = ["status", "arch"]


@admin.action(description="Re-queue selected failed or cancelled jobs")
def requeue_jobs(modeladmin: JobAdmin, request: HttpRequest, queryset: QuerySet[Job]) -> None:
    done = 0
    for job in queryset.filter(status__in=[JobStatus.FAILED, JobStatus.CANCELLED]):
        job_requeue(job=job, actor=request.user)
        done += 1
    modeladmin.message_user(request, f"{done} job(s) re-queued.", messages.SUCCESS)


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "kind", "status", "progress", "message", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    actions = [requeue_jobs]


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "actor", "project", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor__username", "object_id"]
