"""factory_boy factories: users, projects with members, images with real files, targets, masks, jobs."""

import hashlib
import io

import factory
import numpy as np
from django.contrib.auth import get_user_model
from PIL import Image as PILImage

from labeling import storage
from labeling.choices import JobKind, MaskSource, MaskState, ModelStatus, Role
from labeling.models import Image, Job, Mask, Membership, ModelVersion, Project, Target, image_upload_path


def png_bytes(array: np.ndarray) -> bytes:
    """A PNG of a (H, W) uint8/uint16 or (H, W, 3) uint8 array."""
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def gradient(height: int = 16, width: int = 24, seed: int = 0, dtype: type = np.uint8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    return rng.integers(0, top, size=(height, width), endpoint=True, dtype=dtype)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("pw")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"project {n}")
    created_by = factory.SubFactory(UserFactory)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


class ImageFactory(factory.django.DjangoModelFactory):
    """An image row with a real PNG in storage; pass `data=` (bytes) or `pixels=` (array) to choose the content."""

    class Meta:
        model = Image

    project = factory.SubFactory(ProjectFactory)
    original_name = factory.Sequence(lambda n: f"frame_{n:05d}.png")

    @classmethod
    def _create(cls, model_class, *args, data: bytes | None = None, pixels: np.ndarray | None = None, **kwargs):
        if data is None:
            seed = int(hashlib.sha256(kwargs["original_name"].encode()).hexdigest()[:8], 16)
            data = png_bytes(gradient(seed=seed) if pixels is None else pixels)
        decoded = storage.decode_image(data)
        fields = {
            "format": decoded.format,
            "width": decoded.width,
            "height": decoded.height,
            "dtype": decoded.dtype,
            "bit_depth": decoded.bit_depth,
            "channels": decoded.channels,
            "file_size": len(data),
            "content_hash": hashlib.sha256(data).hexdigest(),
        }
        fields.update(kwargs)
        image = model_class(*args, **fields)
        image.file.name, _ = storage.save_bytes(image_upload_path(image, image.original_name), data)
        image.save()
        return image


class TargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Target

    image = factory.SubFactory(ImageFactory)
    x = 5.0
    y = 4.0


class MaskFactory(factory.django.DjangoModelFactory):
    """A mask with a 3x3 square around its target's point."""

    class Meta:
        model = Mask

    target = factory.SubFactory(TargetFactory)
    image = factory.SelfAttribute("target.image")
    source = MaskSource.COLDSTART
    state = MaskState.PREDICTED

    @classmethod
    def _create(cls, model_class, *args, raster: np.ndarray | None = None, **kwargs):
        target, image = kwargs["target"], kwargs["image"]
        if raster is None:
            raster = np.zeros((image.height, image.width), bool)
            cx, cy = round(target.x), round(target.y)
            raster[max(cy - 1, 0) : cy + 2, max(cx - 1, 0) : cx + 2] = True
        kwargs["rle"], kwargs["area"], kwargs["bbox"] = storage.mask_encode(raster)
        return super()._create(model_class, *args, **kwargs)


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    project = factory.SubFactory(ProjectFactory)
    number = factory.Sequence(lambda n: n + 1)
    arch = "edgsp-unet"
    checkpoint = "models/test.pt"
    status = ModelStatus.CANDIDATE


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    project = factory.SubFactory(ProjectFactory)
    kind = JobKind.PRELABEL
