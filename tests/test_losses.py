"""Losses: cross-entropy reads probabilities from a softmax output, or logits when told so."""

import numpy as np
import pytest

import numbanet
from numbanet import layers


def test_crossentropy_needs_softmax_output_unless_from_logits(rng):
    inputs = layers.Input(shape=(4,))
    model = numbanet.Model(inputs, layers.Dense(3)(inputs))
    with pytest.raises(ValueError, match='from_logits=True'):
        model.compile(optimizer='adam', loss='categorical_crossentropy')
    model.compile(optimizer='adam', loss=numbanet.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(rng.standard_normal((8, 4)), np.eye(3)[rng.integers(0, 3, 8)], verbose=0)


class HalfSquaredError(numbanet.losses.Loss):
    """A loss of one's own, through the contract: forward sums, backward writes the mean's gradient."""
    name = 'half_squared_error'

    def forward(self, k, pred, targets):
        return float(0.5 * ((pred - targets) ** 2).sum() / pred.shape[1])

    def backward(self, k, dpred, pred, targets):
        np.divide(pred - targets, pred.size, out=dpred)


@pytest.mark.parametrize('activation', [None, 'softmax'])
def test_a_loss_subclass_trains_like_the_built_in_one(rng, activation):
    # Half the squared error has half MSE's gradient: SGD at twice the rate takes the same steps, and
    # the base class runs the output activation (the head) around the loss the same way.
    x = rng.standard_normal((24, 5)).astype(np.float32)
    y = rng.random((24, 3)).astype(np.float32)
    models = []
    for loss, rate in ((HalfSquaredError(), 0.2), ('mse', 0.1)):
        inputs = layers.Input(shape=(5,))
        model = numbanet.Model(inputs, layers.Dense(3, activation=activation)(layers.Dense(4, activation='relu')(inputs)),
                               seed=2)
        model.compile(optimizer=numbanet.optimizers.SGD(rate), loss=loss)
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        models.append((model, history))
    (custom, h1), (builtin, h2) = models
    for a, b in zip(custom.get_weights(), builtin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(h1.history['loss']) * 2, h2.history['loss'], rtol=1e-5)
    assert custom.evaluate(x, y, verbose=0) * 2 == pytest.approx(builtin.evaluate(x, y, verbose=0), rel=1e-5)


def test_a_loss_without_forward_says_so(rng):
    inputs = layers.Input(shape=(2,))
    model = numbanet.Model(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer='sgd', loss=numbanet.losses.Loss())
    before = model.get_weights()
    with pytest.raises(NotImplementedError, match='forward'):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
