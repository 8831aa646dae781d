"""The clipping kernels against numpy: sums of squares (float64), scaling, clipping to a limit."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k


@pytest.mark.parametrize('n', [0, 1, 17, 40_001])
def test_squared_norm_scale_and_clip(rng, n):
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    assert k.squared_norm(x) == pytest.approx(np.sum(x.astype(np.float64) ** 2), rel=1e-12, abs=0)
    y = x.copy()
    k.scale_values(y, 0.3)
    np.testing.assert_array_equal(y, x * np.float32(0.3))
    k.clip_values(y, 0.5)
    np.testing.assert_array_equal(y, np.clip(x * np.float32(0.3), -0.5, 0.5))


def test_clip_keeps_nan_and_norm_sees_it():
    x = np.array([np.nan, 2.0, -2.0], np.float32)
    k.clip_values(x, 1.0)
    assert np.isnan(x[0]) and list(x[1:]) == [1.0, -1.0]
    assert np.isnan(k.squared_norm(x))
