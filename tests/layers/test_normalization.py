"""BatchNormalization and LayerNormalization against numpy, their gradients by finite differences, the
moving statistics, freezing, and their arguments."""
import numpy as np
import pytest

import numbanet
from numbanet import layers
from tests.helpers import finite_difference_check


def _bn_model(seed=0, shape=(6,), **kwargs):
    inputs = layers.Input(shape=shape)
    hidden = layers.BatchNormalization(**kwargs)(layers.Dense(5)(inputs) if len(shape) == 1 else inputs)
    out = layers.Dense(3)(hidden if len(shape) == 1 else layers.Flatten()(hidden))
    return numbanet.Model(inputs, out, seed=seed)


def test_batchnorm_training_uses_batch_statistics_and_moves_the_moving_ones(rng):
    x = rng.standard_normal((16, 4)).astype(np.float32) * 3 + 1
    layer = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    inputs = layers.Input(shape=(4,))
    model = numbanet.Model(inputs, layer(inputs))
    gamma = np.array([1.0, 2.0, 0.5, -1.0], np.float32)
    beta = np.array([0.0, 1.0, -1.0, 0.5], np.float32)
    layer.set_weights([gamma, beta, np.zeros(4), np.ones(4)])
    out = model(x, training=True)
    mean, var = x.astype(np.float64).mean(0), x.astype(np.float64).var(0)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)
    mm, mv = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), (x - mm) / np.sqrt(mv + 1e-3) * gamma + beta,
                               rtol=1e-5, atol=1e-5)  # inference: the moving statistics, unchanged
    np.testing.assert_array_equal(layer.moving_mean.numpy(), mm)


def test_batchnorm_on_images_normalizes_the_channels(rng):
    x = rng.standard_normal((3, 5, 4, 2)).astype(np.float32) * 2 + 3
    inputs = layers.Input(shape=(5, 4, 2))
    model = numbanet.Model(inputs, layers.BatchNormalization(center=False, scale=False)(inputs))
    out = model(x, training=True)
    flat = x.reshape(-1, 2).astype(np.float64)
    np.testing.assert_allclose(out.reshape(-1, 2), (flat - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-3), rtol=1e-5,
                               atol=1e-5)
    assert model.count_params() == 4  # the moving statistics only


@pytest.mark.parametrize('kwargs', [{}, {'center': False}, {'scale': False}])
def test_batchnorm_gradient_in_training_mode(rng, kwargs):
    model = _bn_model(**kwargs)
    x = rng.standard_normal((9, 6)).astype(np.float32)
    y = rng.standard_normal((9, 3)).astype(np.float32)

    def training_loss(m):  # the loss fit minimises: batch statistics, not the moving ones
        return float(((m(x, training=True).astype(np.float64) - y) ** 2).mean())
    finite_difference_check(model, x, y, rng, objective=training_loss)


def test_batchnorm_on_a_first_layer_and_images_by_finite_differences(rng):
    model = _bn_model(shape=(3, 2, 4))
    x = rng.standard_normal((5, 3, 2, 4)).astype(np.float32)
    y = rng.standard_normal((5, 3)).astype(np.float32)
    finite_difference_check(model, x, y, rng,
                            objective=lambda m: float(((m(x, training=True).astype(np.float64) - y) ** 2).mean()))


def test_frozen_batchnorm_runs_in_inference_mode_inside_fit(rng):
    model = _bn_model()
    model.compile(optimizer='adam', loss='mse')
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.standard_normal((32, 3)).astype(np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    bn = model.layers[2]
    bn.trainable = False
    frozen = [w.copy() for w in bn.get_weights()]
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, bn.get_weights()):
        np.testing.assert_array_equal(a, b)  # gamma, beta and the moving statistics all stay
    np.testing.assert_allclose(model(x, training=True), model.predict(x, verbose=0), rtol=1e-6)
    finite_difference_check(model, x[:8], y[:8], rng)  # the gradient through fixed statistics


def test_batchnorm_statistics_save_and_load(tmp_path, rng):
    model = _bn_model()
    model.compile(optimizer='adam', loss='mse')
    x = rng.standard_normal((32, 6)).astype(np.float32) + 2
    model.fit(x, rng.standard_normal((32, 3)).astype(np.float32), epochs=2, verbose=0)
    model.save(tmp_path / 'bn.safetensors')
    loaded = numbanet.models.load_model(tmp_path / 'bn.safetensors')
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [w.name.split('/')[1] for w in loaded.layers[2].weights_list] == ['gamma', 'beta', 'moving_mean',
                                                                              'moving_variance']


def test_layernorm_matches_numpy_and_trains(rng):
    x = rng.standard_normal((7, 3, 5)).astype(np.float32) * 4 - 1
    layer = layers.LayerNormalization(epsilon=1e-3)
    out = layer(x)
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-5, atol=1e-5)
    inputs = layers.Input(shape=(6,))
    model = numbanet.Model(inputs, layers.Dense(3)(layers.LayerNormalization()(layers.Dense(5)(inputs))), seed=2)
    finite_difference_check(model, rng.standard_normal((8, 6)).astype(np.float32),
                            rng.standard_normal((8, 3)).astype(np.float32), rng)
    first = numbanet.Model(inputs, layers.Dense(3)(layers.LayerNormalization(center=False)(inputs)), seed=2)
    finite_difference_check(first, rng.standard_normal((8, 6)).astype(np.float32),
                            rng.standard_normal((8, 3)).astype(np.float32), rng)


def test_normalization_arguments_are_checked():
    with pytest.raises(ValueError, match='axis=5'):
        layers.BatchNormalization(axis=5)(layers.Input(shape=(4,)))
    with pytest.raises(ValueError, match='axis=0'):
        layers.LayerNormalization(axis=0)(layers.Input(shape=(4,)))
    assert layers.BatchNormalization(axis=1)(layers.Input(shape=(4,))).shape == (None, 4)  # axis 1 is the last
    for bad in (1.0, -0.1, 'fast'):
        with pytest.raises(ValueError, match='momentum'):
            layers.BatchNormalization(momentum=bad)
    for bad in (0, -1e-3, 2.0):
        with pytest.raises(ValueError, match='epsilon'):
            layers.LayerNormalization(epsilon=bad)


def test_a_step_refused_for_nan_leaves_the_moving_statistics(rng):
    inputs = layers.Input(shape=(3,))
    bn = layers.BatchNormalization()
    model = numbanet.Model(inputs, layers.Dense(1)(bn(layers.Dense(4, activation='exponential')(inputs))))
    model.compile(optimizer='sgd', loss='mse')
    x = rng.standard_normal((8, 3)).astype(np.float32)
    model.fit(x, np.zeros((8, 1)), epochs=1, verbose=0)
    before = [w.copy() for w in bn.get_weights()]
    big = model.layers[1].get_weights()
    big[0][:] = 1e4  # exp overflows: the loss is not finite
    model.layers[1].set_weights(big)
    with pytest.warns(RuntimeWarning, match='loss became'):
        model.fit(x, np.zeros((8, 1)), epochs=1, verbose=0)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)
