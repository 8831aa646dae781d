"""concat_forward and concat_backward against numpy and central differences; offsets that do not
fit are refused."""
import numpy as np
import pytest

from numbanet.kernels import cpu as k
from tests.helpers import check_grad


def test_concat(rng):
    a, b = rng.standard_normal((7, 3)), rng.standard_normal((7, 5))
    out = np.empty((7, 8))
    k.concat_forward(out, a, 0)
    k.concat_forward(out, b, 3)
    np.testing.assert_array_equal(out, np.concatenate([a, b], 1))
    R = rng.standard_normal((7, 8))
    db = np.empty_like(b)
    k.concat_backward(db, R, 3)
    np.testing.assert_array_equal(db, R[:, 3:])

    def loss():
        k.concat_forward(out, a, 0)
        k.concat_forward(out, b, 3)
        return float((out * R).sum())
    check_grad(loss, b, db, rng, eps=1e-6, rtol=1e-6, atol=1e-9)
    with pytest.raises(IndexError):
        k.concat_forward(out, b, 4)
