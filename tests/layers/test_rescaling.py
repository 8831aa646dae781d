"""Rescaling (Keras's: out = x * scale + offset, no weights): numpy reference on odd shapes, gradients, config,
saving and ONNX."""
import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet.kernels import cpu
from numbanet.models import load_model
from tests.helpers import check_grad, finite_difference_check


def reference(x, scale, offset):
    return x * np.float32(scale) + np.float32(offset)


@pytest.mark.parametrize('shape', [(1, 1), (7, 13), (3, 5, 4), (2, 3, 5, 2)])
@pytest.mark.parametrize('scale,offset', [(1 / 255, 0.0), (1 / 127.5, -1.0), (-3.0, 0.25)])
def test_forward_matches_numpy(rng, shape, scale, offset):
    x = rng.standard_normal(shape).astype(np.float32) * 100
    got = layers.Rescaling(scale, offset=offset)(x)
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_array_equal(got, reference(x, scale, offset))


def test_kernels_forward_and_gradient(rng):
    x, dout = rng.standard_normal((7, 13)).astype(np.float32), rng.standard_normal((7, 13)).astype(np.float32)
    out, dx = np.empty_like(x), np.full_like(x, 9.0)  # dx is overwritten, not added to
    cpu.rescale_forward(out, x, 0.3, -2.0)
    np.testing.assert_array_equal(out, reference(x, 0.3, -2.0))
    cpu.rescale_backward(dx, dout, 0.3)
    np.testing.assert_array_equal(dx, dout * np.float32(0.3))

    def loss():  # check_grad nudges x in place
        o = np.empty_like(x)
        cpu.rescale_forward(o, x, 0.3, -2.0)
        return float(np.sum(o.astype(np.float64) * dout))
    check_grad(loss, x, dx, rng, eps=1e-2, rtol=1e-2, atol=1e-3)


def test_gradient_flows_through_it_in_a_model(rng):
    inputs = layers.Input(shape=(5,))
    h = layers.Rescaling(2.5, offset=-0.5)(layers.Dense(4, activation='tanh')(inputs))
    model = numbanet.Model(inputs, layers.Dense(3)(h), seed=2)
    x, y = rng.standard_normal((9, 5)).astype(np.float32), rng.standard_normal((9, 3)).astype(np.float32)
    finite_difference_check(model, x, y, rng)


def test_arguments_are_checked():
    for bad in ('0.5', None, True, float('nan'), float('inf'), [1.0, 2.0]):
        with pytest.raises(ValueError, match='Rescaling scale must be a finite number'):
            layers.Rescaling(bad)
    with pytest.raises(ValueError, match='Rescaling offset must be a finite number, got nan'):
        layers.Rescaling(1.0, offset=float('nan'))


def test_config_repr_and_no_weights():
    layer = layers.Rescaling(1 / 255, offset=0.5, name='scale')
    assert layer.get_config() == {'name': 'scale', 'trainable': True, 'scale': 1 / 255, 'offset': 0.5}
    again = layers.Rescaling.from_config(layer.get_config())
    assert (again.scale, again.offset) == (layer.scale, layer.offset)
    assert repr(layer) == '<Rescaling name=scale, scale=0.00392157, offset=0.5, built=False>'
    inputs = layers.Input(shape=(3,))
    model = numbanet.Model(inputs, layers.Dense(2)(layers.Rescaling(2.0)(inputs)))
    assert model.layers[1].count_params() == 0
    lines = []
    model.summary(print_fn=lines.append)
    assert any('(Rescaling)' in line and line.rstrip().endswith(' 0') for line in lines)


def test_saves_and_loads(tmp_path, rng):
    inputs = layers.Input(shape=(6,))
    model = numbanet.Model(inputs, layers.Dense(2)(layers.Rescaling(0.1, offset=3.0)(inputs)), seed=0)
    model.save(tmp_path / 'm.safetensors')
    loaded = load_model(tmp_path / 'm.safetensors')
    rescaling = loaded.layers[1]
    assert isinstance(rescaling, layers.Rescaling) and (rescaling.scale, rescaling.offset) == (0.1, 3.0)
    x = rng.integers(0, 256, (5, 6)).astype(np.uint8)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_onnx_matches_predict(tmp_path, rng):
    pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    inputs = layers.Input(shape=(4, 3, 2))
    x = layers.Conv2D(3, 2, activation='relu')(layers.Rescaling(1 / 255, offset=-0.5)(inputs))
    x = layers.Rescaling(-2.0, offset=1.0)(x)  # between channels-first layers: computed in their layout
    model = numbanet.Model(inputs, layers.Dense(2)(layers.Flatten()(layers.MaxPooling2D(1)(x))), seed=0)
    model.export(tmp_path / 'm.onnx')
    session = ort.InferenceSession(str(tmp_path / 'm.onnx'), providers=['CPUExecutionProvider'])
    pixels = rng.integers(0, 256, (11, 4, 3, 2)).astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: pixels})[0]
    np.testing.assert_allclose(got, model.predict(pixels, verbose=0), atol=1e-5, rtol=1e-5)
