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
