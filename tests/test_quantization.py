"""int8 quantization: the weights' error bounds, and int8 models (Dense and convolutions) that predict,
refuse training, save and load. The int8 kernels are tested in tests/kernels/test_int8_dense.py."""
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import numbanet
from numbanet import layers
from numbanet.quantization import Int8Conv1D, Int8Conv2D, Int8Dense, quantize_kernel
from tests.helpers import convnet, mlp, trained_convnet, trained_mlp


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


# ---- int8 convolutions -----------------------------------------------------------------------------------------
WINDOWS_2D = [  # kernel_size, strides, dilation_rate, padding, activation
    (3, 1, 1, 'same', None), (3, 1, 1, 'valid', 'relu'), ((2, 3), 2, 1, 'same', None),
    (3, (2, 1), 1, 'valid', None), (4, 3, 1, 'same', None), (3, 1, 2, 'same', None),
    ((3, 2), 1, (2, 3), 'valid', None), (1, 1, 1, 'valid', None)]
WINDOWS_1D = [(3, 1, 1, 'causal', None), (5, 3, 1, 'causal', 'relu'), (4, 2, 1, 'same', None),
              (3, 1, 3, 'valid', None), (2, 1, 2, 'same', None)]


@pytest.mark.parametrize('calibrated', [False, True])
@pytest.mark.parametrize('rank,window', [(2, w) for w in WINDOWS_2D] + [(1, w) for w in WINDOWS_1D])
def test_int8_conv_computes_what_the_float_one_does_for_every_window(rng, rank, window, calibrated):
    kernel_size, strides, dilation, padding, activation = window
    shape, conv = ((7, 8, 3), layers.Conv2D) if rank == 2 else ((11, 3), layers.Conv1D)
    inputs = layers.Input(shape=shape)
    model = numbanet.Model(inputs, conv(5, kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
                                        activation=activation)(inputs), seed=3)
    model.set_weights([w + rng.standard_normal(w.shape).astype(np.float32) * 0.1 for w in model.get_weights()])
    x = rng.standard_normal((6,) + shape).astype(np.float32)
    want = model.predict(x, verbose=0)
    float_kernel = model.layers[1].kernel.shape
    model.quantize('int8', calibration_data=x if calibrated else None)
    layer = model.layers[1]
    assert type(layer) is (Int8Conv2D if rank == 2 else Int8Conv1D)
    assert layer.kernel.dtype == np.int8 and layer.kernel.shape == float_kernel  # Keras's (kh, kw, in, out)
    assert layer.kernel_scale.shape == (5,)
    if calibrated:
        assert layer.input_scale == pytest.approx(np.abs(x).max() / 127)
    got = model.predict(x, verbose=0)
    assert got.shape == want.shape
    # Two 8-bit roundings of each product's operands: well under 2% of the output's range.
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max()


@pytest.mark.parametrize('calibrated', [False, True])
def test_quantized_convnet_predicts_like_the_float_one(rng, calibrated):
    model, x, labels = trained_convnet(rng)
    float_pred = model.predict(x, verbose=0)
    _, float_acc = model.evaluate(x, labels, verbose=0)
    assert float_acc > 0.8 and (float_pred.max(axis=1) < 0.9).sum() >= 5  # trained, and not sure of everything
    model.quantize('int8', calibration_data=x[:100] if calibrated else None)
    kinds = [type(l) for l in model.layers]
    assert model.quantized and not any(isinstance(l, (layers.Dense, layers.Conv1D, layers.Conv2D))
                                       for l in model.layers)
    assert (kinds.count(Int8Conv2D), kinds.count(Int8Conv1D), kinds.count(Int8Dense)) == (3, 2, 1)
    if calibrated:
        assert all(l.input_scale > 0 for l in model.layers if type(l) in (Int8Conv2D, Int8Conv1D, Int8Dense))
    pred = model.predict(x, verbose=0)
    assert np.abs(pred - float_pred).max() < 0.06
    assert (pred.argmax(axis=1) == float_pred.argmax(axis=1)).mean() >= 0.97
    _, acc = model.evaluate(x, labels, verbose=0)
    assert acc >= float_acc - 0.02


def test_quantized_convnet_saves_int8_and_loads(tmp_path, rng):
    model, x, labels = trained_convnet(rng)
    model.save_weights(tmp_path / 'float.safetensors')
    model.quantize('int8', calibration_data=x[:50])
    model.save(tmp_path / 'int8.safetensors')
    model.save_weights(tmp_path / 'int8w.safetensors')
    from safetensors.numpy import load_file
    stored = load_file(str(tmp_path / 'int8.safetensors'))
    first = model.layers[1]
    assert stored[f'{first.name}/kernel'].dtype == np.int8 and stored[f'{first.name}/kernel'].shape == (3, 3, 2, 6)
    assert stored[f'{first.name}/kernel_scale'].shape == (6,)
    loaded = numbanet.models.load_model(tmp_path / 'int8.safetensors')
    assert loaded.quantized
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]
    assert [repr(l) for l in loaded.layers] == [repr(l) for l in model.layers]
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(RuntimeError, match='quantized to int8'):
        loaded.fit(x, labels, verbose=0)
    with pytest.raises(numbanet.models.SavedFileError, match='int8 .quantized. kernels'):
        convnet().load_weights(tmp_path / 'int8w.safetensors')
    fresh = convnet()
    fresh.load_weights(tmp_path / 'float.safetensors')
    fresh.quantize('int8')
    with pytest.raises(numbanet.models.SavedFileError, match='quantized and the file holds float'):
        fresh.load_weights(tmp_path / 'float.safetensors')


def test_quantized_convnet_refuses_training_and_requantizing(rng):
    model, x, labels = trained_convnet(rng, n=64)
    model.quantize('int8')
    with pytest.raises(RuntimeError, match='quantized to int8'):
        model.fit(x, labels, verbose=0)
    with pytest.raises(RuntimeError, match='quantized to int8'):
        model.train_on_batch(x[:4], labels[:4])
    with pytest.raises(ValueError, match='already quantized'):
        model.quantize('int8')


def test_a_model_of_convolutions_only_quantizes():
    inputs = layers.Input(shape=(12, 4))
    h = layers.Conv1D(3, 3, padding='causal')(inputs)
    model = numbanet.Model(inputs, layers.GlobalAveragePooling1D()(h), seed=2)
    x = np.random.default_rng(1).standard_normal((5, 12, 4)).astype(np.float32)
    want = model.predict(x, verbose=0)
    model.quantize('int8')
    assert model.quantized and type(model.layers[1]) is Int8Conv1D
    assert np.abs(model.predict(x, verbose=0) - want).max() < 0.02 * np.abs(want).max()


def test_quantize_refuses_conv_subclasses():
    class Shifted(layers.Conv2D):
        def forward(self, x, out, ctx):
            super().forward(x, out, ctx)
            out += 1
    inputs = layers.Input(shape=(5, 5, 1))
    model = numbanet.Model(inputs, layers.Dense(2)(layers.Flatten()(Shifted(2, 3)(inputs))))
    with pytest.raises(ValueError, match='subclasses'):
        model.quantize('int8')
    assert not model.quantized


@pytest.mark.parametrize('make,match', [
    (lambda: Int8Conv2D(0, 3), 'filters must be a positive int, got 0'),
    (lambda: Int8Conv2D(2, (3, 0)), r'kernel_size must be .* got \(3, 0\)'),
    (lambda: Int8Conv2D(2, 3, padding='causal'), "got 'causal'"),
    (lambda: Int8Conv2D(2, 3, strides=2, dilation_rate=2), 'cannot be combined'),
    (lambda: Int8Conv1D(2, 3, dilation_rate=True), 'dilation_rate must be'),
    (lambda: Int8Conv1D(2, 3, input_scale=0.0), 'input_scale'),
    (lambda: Int8Conv2D(2, 3, input_scale=float('nan')), 'input_scale'),
])
def test_int8_conv_refuses_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_int8_conv_refuses_inputs_that_do_not_fit():
    with pytest.raises(ValueError, match=r"layer 'small'.*spans 5 along height, more than the 4"):
        Int8Conv2D(2, 5, name='small')(layers.Input((4, 9, 1)))
    with pytest.raises(ValueError, match=r"layer 'dil'.*spans 7 along width"):
        Int8Conv2D(2, 3, dilation_rate=3, name='dil')(layers.Input((9, 6, 1)))
    with pytest.raises(ValueError, match=r"needs inputs shaped \(batch, height, width, channels\)"):
        Int8Conv2D(2, 3)(layers.Input((9,)))
    with pytest.raises(ValueError, match=r"needs inputs shaped \(batch, length, channels\)"):
        Int8Conv1D(2, 3)(layers.Input((9, 9, 1)))


@pytest.mark.parametrize('bad', [-1.0, 0.0, 3e38])
def test_a_file_with_impossible_kernel_scales_is_refused(tmp_path, bad):
    # Finite but impossible scales once loaded and predicted NaN or sign-flipped outputs.
    model = numbanet.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3, activation='relu', name='c'),
                                 layers.Flatten(), layers.Dense(2)])
    model.predict(np.zeros((1, 6, 6, 1), np.float32), verbose=0)
    model.quantize('int8')
    model.save(tmp_path / 'q.safetensors')
    with safe_open(str(tmp_path / 'q.safetensors'), 'np') as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    tensors['c/kernel_scale'] = tensors['c/kernel_scale'].copy()
    tensors['c/kernel_scale'][0] = bad
    save_file(tensors, str(tmp_path / 'bad.safetensors'), metadata=meta)
    with pytest.raises(numbanet.models.SavedFileError, match=r"kernel_scale' holds an int8 kernel's scales"):
        numbanet.models.load_model(tmp_path / 'bad.safetensors')
    with pytest.raises(ValueError, match='scales'):
        model.layers[0].kernel_scale.assign(np.array([bad, 1.0], np.float32))
