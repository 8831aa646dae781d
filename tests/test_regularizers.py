"""Weight penalties: added to the reported loss, their gradient added in every step, saved with the layer."""
import numpy as np
import pytest

import numbanet
from numbanet import layers, regularizers


def _model(kernel_regularizer=None, bias_regularizer=None):
    inputs = layers.Input(shape=(4,))
    out = layers.Dense(3, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer)(inputs)
    return numbanet.Model(inputs, out, seed=3)


def test_penalty_in_the_loss_and_its_gradient_in_the_step(rng):
    x = rng.standard_normal((10, 4)).astype(np.float32)
    y = rng.standard_normal((10, 3)).astype(np.float32)
    model = _model(regularizers.L1L2(l1=0.01, l2=0.1), regularizers.L2(0.5))
    model.compile(optimizer=numbanet.optimizers.SGD(0.1), loss='mse')
    W, b = [w.astype(np.float64) for w in model.get_weights()]
    penalty = 0.01 * np.abs(W).sum() + 0.1 * (W ** 2).sum() + 0.5 * (b ** 2).sum()
    mse = ((x @ W + b - y) ** 2).mean()
    assert model.evaluate(x, y, verbose=0) == pytest.approx(mse + penalty, rel=1e-5)
    history = model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    assert history.history['loss'][0] == pytest.approx(mse + penalty, rel=1e-5)
    err = 2 * (x @ W + b - y) / y.size
    gW = x.T @ err + 0.01 * np.sign(W) + 0.2 * W
    gb = err.sum(0) + 1.0 * b
    W1, b1 = model.get_weights()
    np.testing.assert_allclose(W1, W - 0.1 * gW, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, b - 0.1 * gb, rtol=1e-5, atol=1e-6)


def test_a_frozen_layer_has_no_penalty(rng):
    model = _model(regularizers.L2(1.0))
    model.compile(optimizer='sgd', loss='mse')
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    with_penalty = model.evaluate(x, y, verbose=0)
    model.layers[1].trainable = False
    assert model.evaluate(x, y, verbose=0) < with_penalty


def test_regularizers_by_name_config_and_bad_factors(tmp_path, rng):
    assert regularizers.get('l2').l2 == 0.01 and regularizers.get('l1').l1 == 0.01
    assert regularizers.get('l1_l2').get_config() == {'l1': 0.01, 'l2': 0.01}
    model = _model('l2', regularizers.L1(0.2))
    model.compile(optimizer='sgd', loss='mse')
    model.save(tmp_path / 'm.safetensors')
    loaded = numbanet.models.load_model(tmp_path / 'm.safetensors')
    dense = loaded.layers[1]
    assert dense.kernel_regularizer.l2 == 0.01 and dense.bias_regularizer.l1 == 0.2
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    for bad in (-0.1, float('inf'), 'lots'):
        with pytest.raises(ValueError):
            regularizers.L2(bad)
    with pytest.raises(ValueError, match='regularizer must be'):
        layers.Dense(2, kernel_regularizer='l3')
