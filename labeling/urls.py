"""API routes under /api/v1/, grouped per resource; every name here has a row in the permission-matrix test."""

from django.urls import path

from labeling.apis.auth import AuthTokenApi, MeApi
from labeling.apis.calibration import ProjectCalibrationApi
from labeling.apis.dashboard import ImageDoubleApi, ProjectQaApi, ProjectQualityApi, ProjectStatsApi
from labeling.apis.datasets import DatasetExportApi, DatasetExportDownloadApi, DatasetImportApi
from labeling.apis.gallery import GalleryListApi, TargetCropApi
from labeling.apis.generation import ImageGenerationApi
from labeling.apis.images import (
    ImageClaimApi,
    ImageConfirmApi,
    ImageDetailApi,
    ImageFileApi,
    ImageListApi,
    ImagePixelsApi,
    ImageRejectApi,
    ImageSubmitApi,
)
from labeling.apis.jobs import JobCancelApi, JobDetailApi, JobListApi
from labeling.apis.masks import ImageMasksApi, MaskConfirmApi, MaskRejectApi, TargetMaskApi
from labeling.apis.members import MemberDetailApi, MemberListApi
from labeling.apis.models import AuditListApi, ModelVersionListApi
from labeling.apis.projects import ProjectDetailApi, ProjectListApi
from labeling.apis.ranking import ProjectRankApi
from labeling.apis.suggestions import (
    ProjectSuggestionDetectApi,
    SuggestionAcceptAllApi,
    SuggestionAcceptApi,
    SuggestionCarryApi,
    SuggestionDetectImageApi,
    SuggestionListApi,
    SuggestionRejectApi,
)
from labeling.apis.targets import TargetDetailApi, TargetListApi
from labeling.apis.training import ModelTrainApi, ModelVersionPromoteApi, ModelVersionRetireApi, ProjectPrelabelApi
from labeling.apis.users import InvitationCreateApi, UserDetailApi, UserListApi, UserPasswordResetApi

auth_urls = [
    path("auth/token/", AuthTokenApi.as_view(), name="auth-token"),
    path("me/", MeApi.as_view(), name="me"),
]

user_urls = [
    path("users/", UserListApi.as_view(), name="user-list"),
    path("users/<int:user_id>/", UserDetailApi.as_view(), name="user-detail"),
    path("users/<int:user_id>/password-reset/", UserPasswordResetApi.as_view(), name="user-password-reset"),
]

project_urls = [
    path("projects/", ProjectListApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/members/", MemberListApi.as_view(), name="member-list"),
    path("projects/<int:project_id>/members/<int:membership_id>/", MemberDetailApi.as_view(), name="member-detail"),
    path("projects/<int:project_id>/invitations/", InvitationCreateApi.as_view(), name="member-invite"),
    path("projects/<int:project_id>/images/", ImageListApi.as_view(), name="image-list"),
    path("projects/<int:project_id>/images/claim/", ImageClaimApi.as_view(), name="image-claim"),
    path("projects/<int:project_id>/jobs/", JobListApi.as_view(), name="job-list"),
    path("projects/<int:project_id>/imports/", DatasetImportApi.as_view(), name="dataset-import"),
    path("projects/<int:project_id>/exports/", DatasetExportApi.as_view(), name="dataset-export"),
    path("projects/<int:project_id>/model-versions/", ModelVersionListApi.as_view(), name="model-version-list"),
    path("projects/<int:project_id>/model-versions/train/", ModelTrainApi.as_view(), name="model-train"),
    path("projects/<int:project_id>/prelabel/", ProjectPrelabelApi.as_view(), name="project-prelabel"),
    path(
        "projects/<int:project_id>/suggestions/detect/",
        ProjectSuggestionDetectApi.as_view(),
        name="project-suggestion-detect",
    ),
    path("projects/<int:project_id>/rank/", ProjectRankApi.as_view(), name="project-rank"),
    path("projects/<int:project_id>/audit/", AuditListApi.as_view(), name="audit-list"),
    path("projects/<int:project_id>/calibration/", ProjectCalibrationApi.as_view(), name="project-calibration"),
    path("projects/<int:project_id>/stats/", ProjectStatsApi.as_view(), name="project-stats"),
    path("projects/<int:project_id>/quality/", ProjectQualityApi.as_view(), name="project-quality"),
    path("projects/<int:project_id>/qa/", ProjectQaApi.as_view(), name="project-qa"),
    path("projects/<int:project_id>/gallery/", GalleryListApi.as_view(), name="gallery-list"),
]

image_urls = [
    path("images/<int:image_id>/", ImageDetailApi.as_view(), name="image-detail"),
    path("images/<int:image_id>/file/", ImageFileApi.as_view(), name="image-file"),
    path("images/<int:image_id>/pixels/", ImagePixelsApi.as_view(), name="image-pixels"),
    path("images/<int:image_id>/targets/", TargetListApi.as_view(), name="target-list"),
    path("images/<int:image_id>/masks/", ImageMasksApi.as_view(), name="image-masks"),
    path("images/<int:image_id>/generation/", ImageGenerationApi.as_view(), name="image-generation"),
    path("images/<int:image_id>/submit/", ImageSubmitApi.as_view(), name="image-submit"),
    path("images/<int:image_id>/confirm/", ImageConfirmApi.as_view(), name="image-confirm"),
    path("images/<int:image_id>/reject/", ImageRejectApi.as_view(), name="image-reject"),
    path("images/<int:image_id>/double/", ImageDoubleApi.as_view(), name="image-double"),
    path("images/<int:image_id>/suggestions/", SuggestionListApi.as_view(), name="suggestion-list"),
    path("images/<int:image_id>/suggestions/detect/", SuggestionDetectImageApi.as_view(), name="suggestion-detect"),
    path("images/<int:image_id>/suggestions/accept/", SuggestionAcceptAllApi.as_view(), name="suggestion-accept-all"),
    path("images/<int:image_id>/suggestions/carry/", SuggestionCarryApi.as_view(), name="suggestion-carry"),
]

suggestion_urls = [
    path("suggestions/<int:suggestion_id>/accept/", SuggestionAcceptApi.as_view(), name="suggestion-accept"),
    path("suggestions/<int:suggestion_id>/reject/", SuggestionRejectApi.as_view(), name="suggestion-reject"),
]

target_urls = [
    path("targets/<int:target_id>/", TargetDetailApi.as_view(), name="target-detail"),
    path("targets/<int:target_id>/mask/", TargetMaskApi.as_view(), name="target-mask"),
    path("targets/<int:target_id>/mask/confirm/", MaskConfirmApi.as_view(), name="mask-confirm"),
    path("targets/<int:target_id>/mask/reject/", MaskRejectApi.as_view(), name="mask-reject"),
    path("targets/<int:target_id>/crop/", TargetCropApi.as_view(), name="target-crop"),
]

job_urls = [
    path("jobs/<int:job_id>/", JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel/", JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<int:job_id>/download/", DatasetExportDownloadApi.as_view(), name="dataset-export-download"),
]

model_version_urls = [
    path("model-versions/<int:version_id>/promote/", ModelVersionPromoteApi.as_view(), name="model-version-promote"),
    path("model-versions/<int:version_id>/retire/", ModelVersionRetireApi.as_view(), name="model-version-retire"),
]

urlpatterns = (
    auth_urls + user_urls + project_urls + image_urls + suggestion_urls + target_urls + job_urls + model_version_urls
)
