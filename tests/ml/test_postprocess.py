"""BBM: box slack, clutter removal, one component per point, fallback and adhesion splitting."""

import numpy as np

from ml.postprocess import bbm_instances, instances_touch, review_flags, split_component


def _prob(shape=(20, 20)):
    return np.zeros(shape, dtype=np.float32)


def test_off_target_point_is_kept_through_the_one_pixel_box_slack():
    p = _prob()
    p[5:8, 5:8] = 0.9
    res = bbm_instances(p, np.array([[8.0, 8.0]]))
    assert res.masks[0].sum() == 9 and not res.fallback[0] and not res.adhesion[0]


def test_point_two_pixels_off_keeps_nothing_and_is_flagged_fallback():
    p = _prob()
    p[5:8, 5:8] = 0.9
    res = bbm_instances(p, np.array([[9.0, 9.0]]))
    assert res.fallback == [True]
    assert res.masks[0].sum() == 1 and res.masks[0][9, 9]  # without a fallback: the point's pixel


def test_fallback_function_supplies_the_mask_without_stealing_claimed_pixels():
    p = _prob()
    p[2:5, 2:5] = 0.9
    blob = np.zeros((20, 20), dtype=bool)
    blob[3:12, 3:12] = True
    res = bbm_instances(p, np.array([[3.0, 3.0], [10.0, 10.0]]), fallback=lambda i: blob)
    assert res.fallback == [False, True]
    assert not (res.masks[0] & res.masks[1]).any()
    assert res.masks[1][10, 10] and not res.masks[1][3, 3]


def test_clutter_without_a_point_is_removed_and_threshold_is_strict():
    p = _prob()
    p[2:4, 2:4] = 0.8
    p[12:16, 12:16] = 0.95  # clutter
    p[0, 19] = 0.5  # exactly at threshold: not foreground
    res = bbm_instances(p, np.array([[2.0, 2.0]]))
    assert res.union().sum() == 4 and not res.union()[12:16, 12:16].any()


def test_at_most_one_component_per_point_prefers_the_one_under_it():
    p = _prob()
    p[5:8, 5:8] = 0.9
    p[8:10, 2:4] = 0.9  # separate component whose grown box also holds (x=4, y=7)? no: it holds x<=4,y>=7
    res = bbm_instances(p, np.array([[5.0, 7.0]]))
    assert res.masks[0].sum() == 9


def test_point_near_a_claimed_component_prefers_its_own_free_component():
    p = _prob()
    p[5:8, 5:8] = 0.9
    p[5:8, 9:12] = 0.9  # 1 px gap: two components
    res = bbm_instances(p, np.array([[6.0, 6.0], [8.0, 6.0]]))  # 2nd point on the gap column
    assert res.masks[0].sum() == 9 and res.masks[1].sum() == 9
    assert res.adhesion == [False, False] and res.fallback == [False, False]


def test_two_points_in_one_component_are_split_into_disjoint_flagged_masks():
    p = _prob((12, 20))
    p[4:8, 2:8] = 0.95
    p[4:8, 12:18] = 0.95
    p[5:7, 8:12] = 0.6  # neck joining the two targets
    res = bbm_instances(p, np.array([[4.0, 5.0], [15.0, 6.0]]))
    a, b = res.masks
    assert res.adhesion == [True, True]
    assert not (a & b).any()
    assert a[:, 2:8].sum() == 24 and b[:, 12:18].sum() == 24
    assert a[5, 4] and b[6, 15]
    assert (a | b).sum() == 24 + 24 + 8 - 2  # the later mask gives up a 1-px gap where they touched
    from ml.points import label_components

    assert label_components(a | b)[0] == 2  # the union still shows two targets


def test_without_gaps_split_instances_may_touch_and_keep_the_whole_component():
    """A team whose confirmed masks of a cluster touch: the union keeps every pixel the net found."""
    p = _prob((12, 20))
    p[4:8, 2:8] = 0.95
    p[4:8, 12:18] = 0.95
    p[5:7, 8:12] = 0.6
    clicks = np.array([[4.0, 5.0], [15.0, 6.0]])
    res = bbm_instances(p, clicks, gaps=False)
    a, b = res.masks
    assert res.adhesion == [True, True] and not (a & b).any()
    assert np.array_equal(a | b, p > 0.5)  # nothing carved
    assert instances_touch(res.masks) and not instances_touch(
        bbm_instances(p, np.array([[4.0, 5.0], [15.0, 6.0]])).masks
    )


def test_instances_touch_means_overlapping_or_eight_adjacent():
    def dot(y: int, x: int) -> np.ndarray:
        m = np.zeros((8, 8), bool)
        m[y, x] = True
        return m

    centre = dot(3, 3)
    for y, x in ((3, 4), (4, 3), (4, 4), (4, 2), (2, 2), (2, 4), (3, 3)):
        assert instances_touch([centre, dot(y, x)]), (y, x)
    for y, x in ((3, 5), (5, 3), (5, 5), (1, 3), (0, 0)):
        assert not instances_touch([centre, dot(y, x)]), (y, x)
    assert not instances_touch([centre]) and not instances_touch([])
    assert instances_touch([dot(0, 0), dot(7, 7), dot(6, 6)])  # any pair, not only the first


def test_split_component_follows_the_probability_valley():
    region = np.ones((1, 9), dtype=bool)
    prob = np.array([[0.9, 0.9, 0.9, 0.9, 0.9, 0.6, 0.9, 0.9, 0.9]], dtype=np.float32)
    a, b = split_component(region, prob, [(0, 0), (0, 8)])
    assert a.sum() + b.sum() == 9 and not (a & b).any()
    assert a[0, :5].all() and b[0, 6:].all()


def test_empty_points_give_no_masks():
    p = _prob()
    p[1:3, 1:3] = 0.9
    res = bbm_instances(p, np.zeros((0, 2)))
    assert res.masks == [] and not res.union().any() and res.union().shape == (20, 20)


def test_masks_follow_input_point_order():
    p = _prob()
    p[1:3, 1:3] = 0.9
    p[10:14, 10:14] = 0.9
    res = bbm_instances(p, np.array([[11.0, 11.0], [1.0, 1.0]]))
    assert res.masks[0].sum() == 16 and res.masks[1].sum() == 4


def test_in_a_dense_cluster_no_click_is_left_empty_or_swallowed():
    """One wide blob from the net over three touching targets, one click off it: every click keeps a mask of
    its own, nearer to it than to any other click, in one piece holding (or nearest) its click."""
    p = _prob((20, 30))
    p[6:14, 4:22] = 0.9  # the net saw one blob for the cluster
    clicks = np.array([[6.0, 9.0], [12.0, 9.0], [24.0, 10.0]])  # the third is just off the blob

    def cold(i: int) -> np.ndarray:  # the fallback blob lies under the first instance
        m = np.zeros((20, 30), bool)
        m[8:12, 18:25] = True
        return m

    res = bbm_instances(p, clicks, fallback=cold)
    yy, xx = np.mgrid[0:20, 0:30]
    d = np.stack([(xx - x) ** 2 + (yy - y) ** 2 for x, y in clicks])
    from ml.points import label_components

    for i, m in enumerate(res.masks):
        assert m.any(), f"click {i} was left without a mask"
        assert (np.argmin(d, axis=0)[m] == i).all(), f"mask {i} reaches past a nearer click"
        assert label_components(m)[0] == 1
    assert res.fallback[2] and not (res.masks[0] & res.masks[2]).any()
    old = bbm_instances(p, clicks, fallback=cold, nearest_click=False)
    assert (np.argmin(d, axis=0)[old.masks[1]] != 1).any()  # without the rule a mask crosses into a neighbour's cell


def test_review_flags_name_fallback_adhesion_by_touch_and_size():
    a = np.zeros((12, 12), bool)
    a[2:5, 2:5] = True
    b = np.zeros((12, 12), bool)
    b[2:5, 5:8] = True  # touches a on its right
    far = np.zeros((12, 12), bool)
    far[9:11, 9:11] = True
    coverage = a.astype(np.uint16) + b + far
    assert review_flags(a, a, coverage, fallback=False, adhesion=False, large=100) == ["adhesion"]
    assert review_flags(far, far, coverage, fallback=True, adhesion=False, large=100) == ["fallback"]
    assert review_flags(far, far, coverage, fallback=False, adhesion=False, large=3) == ["too_large"]
    assert review_flags(far, far, coverage, fallback=False, adhesion=True, large=100) == ["adhesion"]  # split by BBM


def test_pixels_cut_at_a_click_cell_border_go_to_that_cell_instance_not_the_background():
    """The net's split and the clicks' cells disagree: the bright click's flood crosses the cell border. The cut
    pixels belong to the neighbour whose cell they lie in; the union keeps every pixel the net found."""
    p = _prob((9, 34))
    xs = np.arange(4, 30)
    p[3:6, 4:30] = 0.99 - 0.01 * np.abs(xs - 10)  # one bar, brightest at the first click, dimming towards the second
    clicks = np.array([[10.0, 4.0], [22.0, 4.0]])  # cell border at x = 16; the flood from the first reaches x = 21
    from ml.points import label_components

    for gaps in (False, True):
        a, b = bbm_instances(p, clicks, gaps=gaps).masks
        assert not a[4, 22] and not b[4, 10]  # no mask holds the other's click
        assert not a[:, 17:].any() and not b[:, :16].any()  # each stays in its own cell
        assert label_components(a)[0] == label_components(b)[0] == 1
        if not gaps:
            assert np.array_equal(a | b, p > 0.5)  # nothing the net found is lost
    a, b = bbm_instances(p, clicks, gaps=True).masks
    assert (a | b).sum() >= (p > 0.5).sum() - 3  # the 1-px gap only
