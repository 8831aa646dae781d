"""Activation functions by name, through a model: each matches a numpy reference, trains (gradients by
finite differences), and serializes."""
import math

import numpy as np
import pytest

import numbanet
from numbanet import activations, layers
from tests.helpers import finite_difference_check

_erf = np.vectorize(math.erf)
_sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
REFERENCE = {
    'linear': lambda x: x,
    'relu': lambda x: np.maximum(x, 0),
    'sigmoid': _sig,
    'tanh': np.tanh,
    'gelu': lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
    'leaky_relu': lambda x: np.where(x > 0, x, 0.2 * x),
    'elu': lambda x: np.where(x > 0, x, np.expm1(x)),
    'selu': lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    'softplus': lambda x: np.logaddexp(0, x),
    'softsign': lambda x: x / (1 + np.abs(x)),
    'silu': lambda x: x * _sig(x),
    'swish': lambda x: x * _sig(x),
    'hard_sigmoid': lambda x: np.clip(x / 6 + 0.5, 0, 1),
    'exponential': np.exp,
    'softmax': lambda x: np.exp(x - x.max(1, keepdims=True)) / np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True),
}


def _model(activation, seed=0):
    inputs = layers.Input(shape=(5,))
    hidden = layers.Dense(7, activation=activation)(inputs)
    return numbanet.Model(inputs, layers.Dense(3)(hidden), seed=seed)


@pytest.mark.parametrize('name', sorted(REFERENCE))
def test_activation_by_name_matches_numpy(rng, name):
    model = _model(name)
    x = rng.standard_normal((9, 5)).astype(np.float32) * 2
    W1, b1, W2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    want = REFERENCE[name](x @ W1 + b1) @ W2 + b2
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize('name', sorted(set(REFERENCE) - {'swish'}))
def test_activation_gradient_by_finite_differences(rng, name):
    x = rng.standard_normal((8, 5)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    finite_difference_check(_model(name, seed=1), x, y, rng)


def test_parameterised_activations_and_their_layers(rng):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    np.testing.assert_allclose(layers.LeakyReLU()(x), np.where(x > 0, x, 0.3 * x), rtol=1e-6)  # the layer's 0.3
    np.testing.assert_allclose(layers.LeakyReLU(negative_slope=0.05)(x), np.where(x > 0, x, 0.05 * x), rtol=1e-6)
    np.testing.assert_allclose(layers.ELU(alpha=0.5)(x), np.where(x > 0, x, 0.5 * np.expm1(x)), rtol=1e-5, atol=1e-7)
    approximate = activations.GELU(approximate=True)
    want = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(layers.Activation(approximate)(x), want, rtol=1e-5, atol=1e-6)
    for act in (approximate, activations.LeakyReLU(negative_slope=0.1), activations.gelu, activations.silu):
        assert activations.get(activations.serialize(act)) == act
    assert activations.get('swish') is activations.silu and activations.get(None) is activations.linear
    dense = layers.Dense(2, activation=activations.LeakyReLU(negative_slope=0.1))
    rebuilt = layers.Dense.from_config(dense.get_config())
    assert rebuilt.activation == dense.activation and rebuilt.activation.negative_slope == 0.1


def test_activations_work_on_any_rank(rng):
    inputs = layers.Input(shape=(3, 4))
    model = numbanet.Model(inputs, layers.Activation('tanh')(layers.Softmax()(inputs)))
    x = rng.standard_normal((5, 3, 4)).astype(np.float32)
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(model.predict(x, verbose=0), np.tanh(e / e.sum(-1, keepdims=True)), rtol=1e-5)


def test_unknown_and_bad_activations_are_refused():
    for bad in ('tanhh', 'Relu', 3, {'name': 'relu6'}):
        with pytest.raises(ValueError, match='activation must be one of'):
            layers.Dense(2, activation=bad)
    with pytest.raises(ValueError, match='negative_slope'):
        layers.LeakyReLU(negative_slope=float('nan'))
    with pytest.raises(TypeError, match='slope'):
        activations.get({'name': 'gelu', 'slope': 1})


def test_activations_and_their_layers_cannot_drift_apart():
    leaky = layers.LeakyReLU(negative_slope=0.2)
    with pytest.raises(AttributeError):
        leaky.negative_slope = 0.1
    with pytest.raises(AttributeError, match='cannot be changed'):
        leaky.activation.negative_slope = 0.1
    assert activations.get({'name': 'relu'}) is activations.relu
    for bad in ({'name': ['relu']}, {'name': {}}):
        with pytest.raises(ValueError, match='activation must be one of'):
            activations.get(bad)
    assert [layers.LeakyReLU().name.rstrip('_0123456789'), layers.ELU().name.rstrip('_0123456789')] == \
        ['leaky_re_lu', 'elu']
