"""Core layers: Dense (arguments, initial weights, eager calls), Flatten and Reshape, Dropout."""

import numpy as np
import pytest

import numbanet
from numbanet import layers
from tests.helpers import finite_difference_check, mlp


def test_bad_layer_arguments():
    for bad in (0, -3, 2.5, True, None):
        with pytest.raises(ValueError, match='units must be a positive int'):
            layers.Dense(bad)
    with pytest.raises(ValueError, match="got 'tanhh'"):
        layers.Dense(3, activation='tanhh')
    with pytest.raises(TypeError, match='unexpected keyword'):
        layers.Dense(3, activity_regularizer='l2')
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


# ---- shape layers -------------------------------------------------------------------------------------------------
def test_flatten_and_reshape_keep_keras_order(rng):
    inputs = layers.Input(shape=(3, 4, 2))
    flat = layers.Flatten()(inputs)
    back = layers.Reshape((4, -1))(flat)
    model = numbanet.Model(inputs, back)
    assert flat.shape == (None, 24) and back.shape == (None, 4, 6)
    x = rng.standard_normal((5, 3, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x.reshape(5, 4, 6))
    np.testing.assert_array_equal(layers.Flatten()(x), x.reshape(5, -1))


def test_images_train_through_flatten(rng):
    x = rng.standard_normal((40, 6, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    inputs = layers.Input(shape=(6, 5))
    model = numbanet.Model(inputs, layers.Dense(3, activation='softmax')(layers.Flatten()(inputs)), seed=1)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    history = model.fit(x, y, epochs=3, verbose=0)
    assert history.history['loss'][-1] < history.history['loss'][0]
    with pytest.raises(ValueError, match='Flatten'):
        layers.Dense(2)(layers.Input(shape=(6, 5)))
    finite_difference_check(numbanet.Model(inputs, layers.Dense(2)(layers.Reshape((-1,))(inputs)), seed=2),
                            x[:7], rng.standard_normal((7, 2)).astype(np.float32), rng)


def test_reshape_refuses_shapes_that_do_not_fit():
    for bad in ((4, 4), (7, -1), (-1, -1), (0, 12), ('a',), 3.5):
        with pytest.raises(ValueError, match='target_shape|cannot reshape'):
            layers.Reshape(bad)(layers.Input(shape=(3, 4)))
    layer = layers.Reshape((5, -1))
    with pytest.raises(ValueError, match='cannot reshape'):
        layer(layers.Input(shape=(3, 4)))
    assert not layer.built
    assert layer(layers.Input(shape=(10, 2))).shape == (None, 5, 4)  # a refused shape leaves it usable


# ---- dropout ----------------------------------------------------------------------------------------------------
def _dropout_model(rate=0.5, seed=0, dropout_seed=None):
    inputs = layers.Input(shape=(20,))
    hidden = layers.Dropout(rate, seed=dropout_seed)(layers.Dense(30, activation='relu')(inputs))
    return numbanet.Model(inputs, layers.Dense(4)(hidden), seed=seed)


def test_dropout_is_inverted_and_only_trains(rng):
    layer = layers.Dropout(0.25)
    x = np.ones((400, 50), np.float32)
    np.testing.assert_array_equal(layer(x), x)  # inference: the identity
    kept = layer(x, training=True)
    assert set(np.unique(kept)) == {0.0, np.float32(1 / 0.75)}
    assert abs((kept > 0).mean() - 0.75) < 0.02
    assert not np.array_equal(kept, layer(x, training=True))  # a new mask each call


def test_dropout_training_repeats_bit_for_bit_and_depends_on_the_seed(rng):
    x = rng.standard_normal((64, 20)).astype(np.float32)
    y = rng.standard_normal((64, 4)).astype(np.float32)
    results = []
    for seed, dropout_seed in ((0, None), (0, None), (1, None), (0, 7)):
        model = _dropout_model(seed=seed, dropout_seed=dropout_seed)
        model.set_weights(_dropout_model(seed=0).get_weights())
        model.compile(optimizer='adam', loss='mse')
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        results.append(model.get_weights()[0])
    assert np.array_equal(results[0], results[1])
    assert not np.array_equal(results[0], results[2]) and not np.array_equal(results[0], results[3])
    model = _dropout_model()
    model.compile(optimizer='adam', loss='mse')
    assert model.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)  # no dropout in evaluate


def test_dropout_gradient_uses_the_forward_mask(rng):
    # With dropout in the step, the gradient is that of the network with this step's mask: checked by
    # finite differences of a model whose Dropout has rate 0 (the same path, mask of ones), and by the
    # masked units getting no gradient.
    x = rng.standard_normal((8, 20)).astype(np.float32)
    y = rng.standard_normal((8, 4)).astype(np.float32)
    finite_difference_check(_dropout_model(rate=0.0), x, y, rng)
    model = _dropout_model(rate=0.9)
    model.compile(optimizer=numbanet.optimizers.SGD(1.0), loss='mse')
    before = model.get_weights()
    model.fit(x[:1], y[:1], batch_size=1, epochs=1, verbose=0)
    moved = np.abs(model.get_weights()[2] - before[2]).sum(1) > 0  # rows of the last kernel: hidden units
    assert 0 < moved.sum() < 30  # only the units the mask kept learnt


def test_dropout_refuses_bad_arguments():
    for bad in (1.0, 1.5, -0.1, '0.5', True):
        with pytest.raises(ValueError, match='rate'):
            layers.Dropout(bad)
    with pytest.raises(ValueError, match='seed'):
        layers.Dropout(0.5, seed=-1)
    with pytest.raises(ValueError, match='noise_shape'):
        layers.Dropout(0.5, noise_shape=(1, 3))


def test_dropout_rate_can_change_between_fits_and_is_checked(rng):
    model = _dropout_model(rate=0.0)
    model.compile(optimizer='sgd', loss='mse')
    x, y = rng.standard_normal((8, 20)).astype(np.float32), rng.standard_normal((8, 4)).astype(np.float32)
    model.fit(x, y, verbose=0)
    dropout = model.layers[2]
    dropout.rate = 0.5
    model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match='rate'):
        dropout.rate = 1.5
    assert dropout.rate == 0.5
