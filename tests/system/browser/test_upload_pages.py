"""Uploading a multi-page LZW TIFF in the browser: one frame per page, in page order, and the panel says how many."""

import numpy as np
import pytest
from playwright.sync_api import expect

from labeling.choices import Role
from tests.factories import MembershipFactory, ProjectFactory
from tests.labeling.test_storage_tiff import tifffile_pages
from tests.system.browser.conftest import blobs_frame, drop_files, login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dropped_multi_page_tiff_becomes_ordered_frames(live_server, new_page):
    owner = make_user("olga")
    project = ProjectFactory(name="Stacks")
    MembershipFactory(project=project, user=owner, role=Role.OWNER)
    pages = [blobs_frame(seed=seed, dtype=np.uint16) for seed in (1, 2, 3)]
    page = new_page()
    login(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/#/p/{project.pk}")
    drop_files(page, [("night.tif", tifffile_pages(pages, compression="lzw"), "image/tiff")])
    expect(page.locator(".upload-item.ok .result")).to_have_text("stored 3 frames (one per page)")
    expect(page.locator(".bar-row[data-status=new] .n")).to_have_text("3")
    names = list(project.images.order_by("id").values_list("original_name", flat=True))
    assert names == ["night_p0001.tif", "night_p0002.tif", "night_p0003.tif"]
    assert page.js_errors == []
