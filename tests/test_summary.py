"""summary() and the repr of layers and models."""

from numbanet import layers
from numbanet import Model
from tests.helpers import mlp


def test_summary_and_repr():
    lines = []
    mlp().summary(print_fn=lines.append)
    text = '\n'.join(lines)
    assert 'Dense' in text and '(None, 16)' in text and 'Total params: 389' in text
    inputs = layers.Input(shape=(3,))
    h = layers.Dense(3)(inputs)
    Model(inputs, layers.Add()([h, inputs])).summary(print_fn=lines.append)
    assert 'Connected to' in '\n'.join(lines)
    assert 'Dense' in repr(layers.Dense(3)) and 'units=3' in repr(layers.Dense(3))
    assert '389' in repr(mlp())
