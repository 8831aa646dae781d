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


# ---- the losses every Keras program uses ---------------------------------------------------------------------------
def _bce(z, y):
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), axis=-1)


REFERENCE = {  # per-sample losses of (pred, targets), Keras's formulas
    'mae': lambda p, y: np.abs(p - y).mean(-1),
    'huber': lambda p, y: np.where(np.abs(p - y) <= 1.0, 0.5 * (p - y) ** 2, np.abs(p - y) - 0.5).mean(-1),
    'kl_divergence': lambda p, y: (np.clip(y, 1e-7, 1) * np.log(np.clip(y, 1e-7, 1) / np.clip(p, 1e-7, 1))).sum(-1),
    'categorical_hinge': lambda p, y: np.maximum(((1 - y) * p).max(-1) - (y * p).sum(-1) + 1, 0),
    'log_cosh': lambda p, y: np.log(np.cosh(p - y)).mean(-1),
}


def _regression(rng, activation=None, seed=0):
    inputs = layers.Input(shape=(5,))
    return numbanet.Model(inputs, layers.Dense(4, activation=activation)(layers.Dense(6, activation='tanh')(inputs)),
                          seed=seed)


@pytest.mark.parametrize('name', sorted(REFERENCE))
def test_each_loss_matches_keras_formula_and_its_gradient(rng, name):
    from tests.helpers import finite_difference_check
    activation = 'softmax' if name in ('kl_divergence', 'categorical_hinge') else None
    model = _regression(rng, activation)
    x = rng.standard_normal((11, 5)).astype(np.float32)
    y = (np.eye(4)[rng.integers(0, 4, 11)] * 0.8 + 0.05).astype(np.float32) if activation else \
        rng.standard_normal((11, 4)).astype(np.float32)
    model.compile(optimizer='sgd', loss=name)
    p = model.predict(x, verbose=0).astype(np.float64)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(REFERENCE[name](p, y).mean(), rel=1e-5)
    finite_difference_check(model, x, y, rng, loss=name)


def test_binary_crossentropy_folds_the_sigmoid_and_matches_from_logits(rng):
    x = rng.standard_normal((30, 5)).astype(np.float32)
    y = (rng.random((30, 2)) > 0.5).astype(np.float32)
    models = []
    for activation, loss in (('sigmoid', 'binary_crossentropy'),
                             (None, numbanet.losses.BinaryCrossentropy(from_logits=True))):
        inputs = layers.Input(shape=(5,))
        model = numbanet.Model(inputs, layers.Dense(2, activation=activation)(inputs), seed=4)
        model.compile(optimizer=numbanet.optimizers.SGD(0.5), loss=loss, metrics=['accuracy'])
        models.append(model)
    z = models[1].predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(models[0].predict(x, verbose=0), 1 / (1 + np.exp(-z)), rtol=1e-6)
    for m in models:
        assert m.evaluate(x, y, verbose=0)[0] == pytest.approx(_bce(z, y).mean(), rel=1e-5)
        m.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(*(m.get_weights() for m in models)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert isinstance(models[0].compiled_metrics[0], numbanet.metrics.BinaryAccuracy)


def test_binary_crossentropy_is_stable_and_checks_targets(rng):
    inputs = layers.Input(shape=(1,))
    model = numbanet.Model(inputs, layers.Dense(1, activation='sigmoid')(inputs))
    model.set_weights([np.array([[1.0]], np.float32), np.zeros(1, np.float32)])
    model.compile(optimizer='sgd', loss='binary_crossentropy')
    x = np.array([[-200.0], [200.0]], np.float32)
    assert model.evaluate(x, np.array([1.0, 0.0]), verbose=0) == pytest.approx(200.0, rel=1e-6)
    with pytest.raises(ValueError, match=r'targets in \[0, 1\]'):
        model.fit(x, np.array([2.0, 0.0]), verbose=0)
    with pytest.raises(ValueError, match="activation='sigmoid'"):
        numbanet.Model(inputs, layers.Dense(1)(inputs)).compile(optimizer='sgd', loss='binary_crossentropy')
    with pytest.raises(ValueError, match='delta'):
        numbanet.losses.Huber(delta=0)
