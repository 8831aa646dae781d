"""Rescaling's kernels and uint8 input data on 'cuda', against the CPU."""
import numpy as np
from numba import cuda

import numbanet
from numbanet import layers
from numbanet.kernels import cpu
from numbanet.kernels import cuda as gpu
from tests.helpers.gpu import dev, host


def test_rescale_kernels_match_the_cpu():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 13)).astype(np.float32)
    want, got = np.empty_like(x), cuda.device_array(x.shape, np.float32)
    cpu.rescale_forward(want, x, 1 / 255, -0.5)
    gpu.rescale_forward(got, dev(x), 1 / 255, -0.5)
    np.testing.assert_allclose(host(got), want, rtol=1e-6, atol=1e-7)
    cpu.rescale_backward(want, x, -3.0)
    gpu.rescale_backward(got, dev(x), -3.0)
    np.testing.assert_array_equal(host(got), want)


def test_gather_rows_casts_uint8_rows():
    src = np.random.default_rng(1).integers(0, 256, (9, 5, 2)).astype(np.uint8)
    idx = np.array([8, 0, 3])
    out = cuda.device_array((3, 5, 2), np.float32)
    gpu.gather_rows(out, dev(src), dev(idx))
    np.testing.assert_array_equal(host(out), src[idx].astype(np.float32))


def test_uint8_images_train_on_cuda_as_on_cpu():
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 256, (10, 6)).astype(np.uint8), rng.integers(0, 3, 10)
    models = {}
    for device in ('cpu', 'cuda'):
        inputs = layers.Input(shape=(6,))
        h = layers.Dense(4, activation='relu')(layers.Rescaling(1 / 255)(inputs))
        model = models[device] = numbanet.Model(inputs, layers.Dense(3, activation='softmax')(h), seed=0,
                                                device=device)
        model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, validation_data=(x, y))
    for a, b in zip(models['cpu'].get_weights(), models['cuda'].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for batch_size in (3, 32):  # several batches, and one
        np.testing.assert_allclose(models['cuda'].predict(x, batch_size=batch_size, verbose=0),
                                   models['cpu'].predict(x, batch_size=batch_size, verbose=0), rtol=1e-5, atol=1e-6)
