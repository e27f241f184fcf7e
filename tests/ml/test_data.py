"""Directory datasets: 8/16-bit PNG and TIFF, size checks, unreadable files, data hash, splits."""

import cv2
import numpy as np
import pytest
import tifffile

from ml.data import data_hash, load_samples, read_image, read_mask, split_selection
from ml.synthetic import make_synthetic_samples


def test_reads_8_and_16_bit_png_and_tiff_keeping_depth(tmp_path):
    a16 = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), a16)
    tifffile.imwrite(tmp_path / "a.tif", a16)
    cv2.imwrite(str(tmp_path / "b.png"), (a16 // 257).astype(np.uint8))
    assert read_image(tmp_path / "a.png").dtype == np.uint16
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), a16)
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif"), a16)
    assert read_image(tmp_path / "b.png").dtype == np.uint8


def test_colour_png_becomes_luminance(tmp_path):
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[..., 1] = 100  # green only
    cv2.imwrite(str(tmp_path / "c.png"), rgb[..., ::-1])
    assert read_image(tmp_path / "c.png")[0, 0] == round(100 * 0.587)


def test_unreadable_image_error_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match="broken.png"):
        read_image(bad)


def test_mask_of_another_size_error_names_the_file(tmp_path):
    cv2.imwrite(str(tmp_path / "m.png"), np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="m.png"):
        read_mask(tmp_path / "m.png", (4, 6))
    m = np.zeros((4, 5), np.uint8)
    m[1, 1] = 255
    m[2, 2] = 127
    cv2.imwrite(str(tmp_path / "m.png"), m)
    assert read_mask(tmp_path / "m.png", (4, 5)).sum() == 1


def test_load_samples_from_a_directory(synthetic_dir):
    train = load_samples(synthetic_dir, "train")
    assert len(train) == 10 and all(s.mask is not None and s.mask.shape == s.image.shape for s in train)
    assert len(load_samples(synthetic_dir, None)) == 13
    with pytest.raises(ValueError, match="split file"):
        load_samples(synthetic_dir, "test")


def test_data_hash_is_stable_and_content_sensitive():
    a = make_synthetic_samples(3, seed=1)
    b = make_synthetic_samples(3, seed=1)
    assert data_hash(a) == data_hash(b)
    b[1].mask[0, 0] = not b[1].mask[0, 0]
    assert data_hash(a) != data_hash(b)


def test_selection_split_is_fixed_and_disjoint():
    s = make_synthetic_samples(20, seed=2)
    tr1, sel1 = split_selection(s, 0.15, 5)
    tr2, sel2 = split_selection(list(reversed(s)), 0.15, 5)
    assert {x.id for x in sel1} == {x.id for x in sel2} and len(sel1) == 3
    assert not {x.id for x in tr1} & {x.id for x in sel1} and len(tr1) + len(sel1) == 20


def test_file_sha256s_fingerprint_the_original_bytes(synthetic_dir):
    import hashlib

    from ml.data import file_sha256s, find_file, read_split

    ids = read_split(synthetic_dir, "train")
    want = sorted(hashlib.sha256(find_file(synthetic_dir / "images", i).read_bytes()).hexdigest() for i in ids)
    assert file_sha256s(synthetic_dir, "train") == want and len(want) == len(ids) > 0


def test_clicks_enter_the_data_hash_only_when_given():
    from ml.data import Sample

    m = np.zeros((3, 4), bool)
    m[1, 2] = True
    a = [Sample("a", np.arange(12, dtype=np.uint8).reshape(3, 4), m)]
    assert data_hash(a) == "311dc77aa0a412ca"  # without clicks: the hash of f310d1e, before clicks existed
    a[0].points = np.array([[3.0, 4.0]])
    first = data_hash(a)
    a[0].points = np.array([[3.0, 1.0]])
    assert first != "311dc77aa0a412ca" and data_hash(a) not in (first, "311dc77aa0a412ca")
