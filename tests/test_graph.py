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
    with pytest.raises(ValueError, match='disconnected'):
        Model(a, [a, out])
    h = layers.Dense(2, name='h')(a)
    with pytest.raises(NotImplementedError, match="output 'h' is also read"):
        Model(a, [h, layers.Dense(1)(h)]).compile(loss='mse')
    with pytest.raises(ValueError, match='each made by a different layer'):
        Model(a, [h, h])
    d = layers.Dense(2)
    d(a)
    with pytest.raises(ValueError, match='built for input shape'):
        d(layers.Input(shape=(5,)))


def test_with_layers_swaps_nodes_and_leaves_the_original_graph():
    from numbanet.graph import Graph
    inputs = layers.Input(shape=(3,))
    first = layers.Dense(4, name='first')
    out = layers.Dense(2, name='second')(first(inputs))
    graph = Graph(inputs, out)
    other = layers.Dense(4, name='first')
    other.ensure_built((3,))
    swapped = graph.with_layers({id(first): other})
    assert [l.name for l in swapped.layers] == [l.name for l in graph.layers]
    assert swapped.layers[1] is other and graph.layers[1] is first
    assert swapped.output.shape == graph.output.shape and swapped.inputs == graph.inputs


def test_config_round_trip_rebuilds_the_same_graph(rng):
    import numpy as np
    import numbanet
    inputs = layers.Input(shape=(6,))
    h = layers.Dense(8, activation='relu')(inputs)
    merged = layers.Concatenate()([layers.Add()([layers.Dense(8)(h), h]), inputs])
    model = Model(inputs, layers.Dense(3, activation='softmax')(merged), seed=4)
    rebuilt = numbanet.models.model_from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()
    rebuilt.set_weights(model.get_weights())
    x = rng.standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))
