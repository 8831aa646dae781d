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


_CYCLE_PROBE = """
import faulthandler
import numbanet
from numbanet import layers
faulthandler.dump_traceback_later(10, exit=True)  # a loop that never ends grows its stack (~90 MB/s)
x = layers.Input(shape=(4,))
a, b = layers.Dense(4, name='a'), layers.Dense(4, name='b')
y = a(x)
z = b(y)
HOW
try:
    numbanet.Model(x, z)
except ValueError as e:
    print(e)
"""


@pytest.mark.parametrize('how,cycle', [
    ("a.inbound_nodes[0].inputs[0] = z", "b -> a -> b"),   # a reads b's output, which reads a's
    ("z.node.inputs.append(z)", "b -> b"),                  # b reads its own output
])
def test_a_cycle_made_through_the_layers_nodes_is_refused_naming_its_layers(how, cycle):
    # issue #16, item 10: the graph walk once looped for ever (and grew without bound) on such a graph; run
    # in a child so that a regression fails on the timeout instead of hanging the suite.
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, '-c', _CYCLE_PROBE.replace('HOW', how)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, 'PYTHONPATH': root}, check=True).stdout
    assert f"cycle: {cycle}" in out, out
