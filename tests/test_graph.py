"""Building a graph of layers, and the graphs that are refused."""

import pytest

from numbanet import layers
from numbanet import Model


def test_graph_disconnected_and_bad_graphs():
    a, b = layers.Input(shape=(3,)), layers.Input(shape=(3,))
    out = layers.Add()([a, b])
    with pytest.raises(ValueError, match='disconnected'):
        Model(a, out)
    with pytest.raises(ValueError, match='one shape'):
        layers.Add()([a, layers.Input(shape=(4,))])
    with pytest.raises(ValueError, match='list of tensors'):
        layers.Add()(a)
    with pytest.raises(NotImplementedError, match='one output'):
        Model(a, [a, out])
    d = layers.Dense(2)
    d(a)
    with pytest.raises(ValueError, match='built for input shape'):
        d(layers.Input(shape=(5,)))
