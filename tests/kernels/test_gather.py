"""gather_rows against numpy indexing; out-of-range rows refused."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k


def test_gather_rows(rng):
    src = rng.standard_normal((10, 4)).astype(np.float32)
    labels = np.arange(10, dtype=np.int64)
    idx = np.array([9, 0, 3])
    out = np.empty((3, 4), np.float32)
    k.gather_rows(out, src, idx)
    np.testing.assert_array_equal(out, src[idx])
    lab = np.empty(3, np.int64)
    k.gather_rows(lab, labels, idx)
    np.testing.assert_array_equal(lab, idx)
    with pytest.raises(IndexError):
        k.gather_rows(out, src, np.array([0, 10, 1]))
    with pytest.raises(IndexError):
        k.gather_rows(out, src, np.array([0, -1, 1]))


def test_gather_rows_of_images_and_strided_sources(rng):
    src = rng.standard_normal((7, 5, 3, 2)).astype(np.float32)
    idx = np.array([6, 2, 2, 0])
    out = np.empty((4, 5, 3, 2), np.float32)
    k.gather_rows(out, src, idx)
    np.testing.assert_array_equal(out, src[idx])
    wide = rng.standard_normal((7, 9)).astype(np.float32)
    rows = np.empty((4, 3), np.float32)
    k.gather_rows(rows, wide[:, ::3], idx)  # a strided source is read, not refused
    np.testing.assert_array_equal(rows, wide[:, ::3][idx])


def test_gather_rows_refuses_rows_that_do_not_fit(rng):
    src = rng.standard_normal((7, 6)).astype(np.float32)
    narrow = np.zeros((2, 5), np.float32)
    with pytest.raises(ValueError, match="do not fit"):
        k.gather_rows(narrow, src, np.array([0, 1]))
    assert not narrow.any()
    strided = np.zeros((2, 12), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        k.gather_rows(strided, src, np.array([0, 1]))


def test_gather_rows_refuses_more_indices_than_batch_rows(rng):
    # The kernels write one row per index without bounds checks: a longer index would write past out.
    src = rng.standard_normal((7, 6)).astype(np.float32)
    for out in (np.zeros((2, 6), np.float32), np.zeros(2, np.float32)):
        with pytest.raises(ValueError, match="row numbers for a batch of 2"):
            k.gather_rows(out, src if out.ndim == 2 else src[:, 0].copy(), np.array([0, 1, 2]))
        assert not out.any()


def test_gather_rows_splits_big_batches_between_threads_alike(rng):
    # Large enough to run in parallel; uint8 rows are cast as they are copied.
    src = rng.integers(0, 256, (500, 784)).astype(np.uint8)
    idx = rng.permutation(500)[:300]
    out = np.empty((300, 784), np.float32)
    k.gather_rows(out, src, idx)
    np.testing.assert_array_equal(out, src[idx].astype(np.float32))
    floats = rng.standard_normal((500, 784)).astype(np.float32)
    k.gather_rows(out, floats, idx)
    np.testing.assert_array_equal(out, floats[idx])
    before = out.copy()
    bad = idx.copy()
    bad[-1] = 500
    with pytest.raises(IndexError):
        k.gather_rows(out, floats, bad)
    assert np.array_equal(out, before), 'a refused gather wrote rows'
