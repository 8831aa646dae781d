"""int8 quantization: the weights' error bounds, and int8 models that predict, refuse training, save
and load. The int8 kernels are tested in tests/kernels/test_int8_dense.py."""
import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet.quantization import Int8Dense, quantize_kernel
from tests.helpers import mlp, trained_mlp


@pytest.mark.parametrize('kind', ['random', 'zeros', 'huge_range'])
def test_weight_quantization_error_bounds(rng, kind):
    W = {'random': rng.standard_normal((40, 24)), 'zeros': np.zeros((40, 24)),
         'huge_range': rng.standard_normal((40, 24)) * np.logspace(-6, 30, 24)}[kind].astype(np.float32)
    q, scale = quantize_kernel(W)
    assert q.dtype == np.int8 and np.abs(q.astype(int)).max() <= 127 and np.all(np.isfinite(scale))
    err = np.abs(q.astype(np.float64) * scale - W)
    assert np.all(err <= scale / 2 * (1 + 1e-6))  # at most half a step per column
    if kind == 'zeros':
        assert not q.any() and (scale == 1).all()


# ---- int8 models ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('calibrated', [False, True])
def test_quantized_model_predicts_like_the_float_one(rng, calibrated):
    model, x, labels = trained_mlp(rng)
    float_pred = model.predict(x, verbose=0)
    _, float_acc = model.evaluate(x, labels, verbose=0)
    model.quantize('int8', calibration_data=x[:100] if calibrated else None)
    assert model.quantized and not any(isinstance(l, layers.Dense) for l in model.layers)
    assert sum(isinstance(l, Int8Dense) for l in model.layers) == 3
    if calibrated:
        assert all(l.input_scale > 0 for l in model.layers if isinstance(l, Int8Dense))
    pred = model.predict(x, verbose=0)
    assert np.abs(pred - float_pred).max() < 0.05
    _, acc = model.evaluate(x, labels, verbose=0)
    assert acc >= float_acc - 0.01
    assert [w.dtype for w in model.get_weights()][:3] == [np.int8, np.float32, np.float32]


def test_quantized_model_refuses_training_and_requantizing(rng):
    model, x, labels = trained_mlp(rng)
    model.quantize('int8')
    with pytest.raises(RuntimeError, match='quantized to int8'):
        model.fit(x, labels, verbose=0)
    with pytest.raises(RuntimeError, match='quantized to int8'):
        model.train_on_batch(x[:4], labels[:4])
    with pytest.raises(ValueError, match='already quantized'):
        model.quantize('int8')
    with pytest.raises(ValueError, match="mode='int8'"):
        mlp().quantize('int4')
    inputs = layers.Input(shape=(3,))
    with pytest.raises(ValueError, match='no Dense layer'):
        numbanet.Model(inputs, layers.ReLU()(inputs)).quantize('int8')


def test_quantized_model_saves_int8_and_loads(tmp_path, rng):
    x = rng.standard_normal((64, 200)).astype(np.float32)
    model = mlp(hidden=(256, 128), n_in=200)  # large enough that the float biases and scales are small change
    model.save_weights(tmp_path / 'float.safetensors')
    model.quantize('int8', calibration_data=x[:50])
    model.save(tmp_path / 'int8.safetensors')
    model.save_weights(tmp_path / 'int8w.safetensors')
    ratio = (tmp_path / 'float.safetensors').stat().st_size / (tmp_path / 'int8w.safetensors').stat().st_size
    assert 3.0 < ratio < 4.1
    from safetensors.numpy import load_file
    stored = load_file(str(tmp_path / 'int8.safetensors'))
    assert stored[f'{model.layers[1].name}/kernel'].dtype == np.int8
    loaded = numbanet.models.load_model(tmp_path / 'int8.safetensors')
    assert loaded.quantized
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(numbanet.models.SavedFileError, match='int8 .quantized. kernels'):
        mlp(hidden=(256, 128), n_in=200).load_weights(tmp_path / 'int8w.safetensors')


def test_quantize_refuses_dense_subclasses_and_bad_int8_arguments():
    class Doubled(layers.Dense):
        def forward(self, x, out, ctx):
            super().forward(x, out, ctx)
            out *= 2
    inputs = layers.Input(shape=(4,))
    model = numbanet.Model(inputs, Doubled(3)(inputs))
    with pytest.raises(ValueError, match='subclasses'):
        model.quantize('int8')
    assert not model.quantized
    for bad in (0, -3, 2.7, '5'):
        with pytest.raises(ValueError, match='units'):
            Int8Dense(bad)
    for bad in (float('inf'), 0.0, -1.0, 1e-45, True):
        with pytest.raises(ValueError, match='input_scale'):
            Int8Dense(3, input_scale=bad)
