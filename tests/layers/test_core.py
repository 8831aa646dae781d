"""Dense and Input: their arguments, Dense's initial weights, and an eager call of a Dense."""

import numpy as np
import pytest

from numbanet import layers
from tests.helpers import mlp


def test_bad_layer_arguments():
    for bad in (0, -3, 2.5, True, None):
        with pytest.raises(ValueError, match='units must be a positive int'):
            layers.Dense(bad)
    with pytest.raises(ValueError, match="got 'tanh'"):
        layers.Dense(3, activation='tanh')
    with pytest.raises(TypeError, match='unexpected keyword'):
        layers.Dense(3, kernel_regularizer='l2')
    with pytest.raises(ValueError, match='float32'):
        layers.Dense(3, dtype='float64')
    with pytest.raises(ValueError, match='Input shape must be a positive int, got 0'):
        layers.Input(shape=(0,))
    with pytest.raises(ValueError, match='shape'):
        layers.Input()
    with pytest.raises(ValueError, match='unknown initializer'):
        layers.Dense(3, kernel_initializer='orthogonal')


def test_glorot_uniform_init_and_zero_bias():
    model = mlp(hidden=(200,), n_in=300, seed=0)
    W, b = model.get_weights()[:2]
    limit = np.sqrt(6 / 500)
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.95 * limit
    assert abs(W.std() - limit / np.sqrt(3)) < 0.01 * limit
    assert not b.any()


def test_eager_call_of_a_dense(rng):
    x = rng.standard_normal((37, 12)).astype(np.float32)
    dense = layers.Dense(4, activation='relu')
    out = dense(x)
    W, b = dense.get_weights()
    np.testing.assert_allclose(out, np.maximum(x @ W + b, 0), rtol=1e-5, atol=1e-6)
