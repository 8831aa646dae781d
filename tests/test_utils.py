"""numbanet.utils: to_categorical and the global seed."""

import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet import Sequential


def test_to_categorical():
    out = numbanet.utils.to_categorical([2, 0, 1], 4)
    assert out.dtype == np.float32 and out.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]]
    assert numbanet.utils.to_categorical(np.array([[1], [0]])).shape == (2, 2)
    with pytest.raises(ValueError, match='out of range'):
        numbanet.utils.to_categorical([3], 3)
    with pytest.raises(ValueError, match='>= 0'):
        numbanet.utils.to_categorical([-1], 3)
    with pytest.raises(TypeError):
        numbanet.utils.to_categorical(['a'], 3)


def test_global_seed_makes_unseeded_models_repeat():
    numbanet.utils.set_random_seed(5)
    a = Sequential([layers.Input(shape=(4,)), layers.Dense(3)]).get_weights()
    numbanet.utils.set_random_seed(5)
    b = Sequential([layers.Input(shape=(4,)), layers.Dense(3)]).get_weights()
    assert np.array_equal(a[0], b[0])
