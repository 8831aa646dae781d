"""A quantized convnet on 'cuda' against the same one on 'cpu': Int8Conv2D and Int8Conv1D through the CUDA
im2col and int8 kernels, with per-row and calibrated input scales, and its file loaded on either device.
Tiny shapes: the simulator runs one Python thread per GPU thread."""
import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet.quantization import Int8Conv1D, Int8Conv2D


def tiny_convnet(device):
    inputs = layers.Input(shape=(5, 4, 2))
    a = layers.Conv2D(3, 3, padding='same', activation='relu')(inputs)
    a = layers.Flatten()(layers.Conv2D(2, 2, strides=2, dilation_rate=1)(a))
    b = layers.Reshape((20, 2))(inputs)
    b = layers.Flatten()(layers.Conv1D(2, 3, dilation_rate=2, padding='causal')(b))
    outputs = layers.Dense(3, activation='softmax')(layers.Concatenate()([a, b]))
    return numbanet.Model(inputs, outputs, seed=6, device=device)


@pytest.mark.parametrize('calibrated', [False, True])
def test_quantized_convnet_on_cuda_matches_cpu(tmp_path, calibrated):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 5, 4, 2)).astype(np.float32)
    models = {d: tiny_convnet(d) for d in ('cpu', 'cuda')}
    for m in models.values():
        m.quantize('int8', calibration_data=x if calibrated else None)
        assert [type(l) for l in m.layers].count(Int8Conv2D) == 2 and Int8Conv1D in map(type, m.layers)
    for a, b in zip(models['cpu'].get_weights(), models['cuda'].get_weights()):
        np.testing.assert_array_equal(a, b)
    want = models['cpu'].predict(x, verbose=0)
    np.testing.assert_allclose(models['cuda'].predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    models['cuda'].save(tmp_path / 'q.safetensors')
    on_cpu = numbanet.models.load_model(tmp_path / 'q.safetensors', device='cpu')
    np.testing.assert_allclose(on_cpu.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
