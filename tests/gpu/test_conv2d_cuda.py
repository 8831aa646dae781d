"""The CUDA conv2d kernels against their CPU twins, and a small convnet on 'cuda' against 'cpu', on tiny odd
shapes (the simulator runs one Python thread per GPU thread)."""
import numpy as np
import pytest
from numba import cuda

import numbanet
from numbanet import layers
from numbanet.kernels import cpu
from numbanet.kernels import cuda as gpu
from numbanet.kernels import shapes
from tests.helpers.gpu import dev, host


@pytest.mark.parametrize('geometry,KH,KW', [((1, 1, 0, 0, 1, 1), 3, 2), ((2, 2, 1, 0, 1, 1), 2, 3),
                                            ((1, 1, 2, 2, 2, 2), 3, 3)])
@pytest.mark.parametrize('use_bias,relu', [(True, False), (False, False), (True, True)])
def test_conv2d(geometry, KH, KW, use_bias, relu):
    rng = np.random.default_rng(11)
    N, H, W, C, F = 2, 5, 6, 3, 4
    sh, sw, pt, pl, dh, dw = geometry
    Ho, Wo = (H + 2 * pt - dh * (KH - 1) - 1) // sh + 1, (W + 2 * pl - dw * (KW - 1) - 1) // sw + 1
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = rng.standard_normal((KH, KW, C, F)).astype(np.float32)
    b = rng.standard_normal(F).astype(np.float32) if use_bias else None
    dout = rng.standard_normal((N, Ho, Wo, F)).astype(np.float32)
    depth = KH * KW * C
    out, col = np.empty((N, Ho, Wo, F), np.float32), np.empty((N * Ho * Wo, depth), np.float32)
    cpu.conv2d_forward(out, col, x, w, b, geometry, relu)
    d_out, d_col = cuda.device_array(out.shape, np.float32), cuda.device_array(col.shape, np.float32)
    d_x, d_w = dev(x), dev(w)
    gpu.conv2d_forward(d_out, d_col, d_x, d_w, None if b is None else dev(b), geometry, relu)
    np.testing.assert_allclose(host(d_out), out, rtol=1e-5, atol=1e-5)
    if not relu:
        d_ref = cuda.device_array(out.shape, np.float32)
        gpu.conv2d_reference(d_ref, d_x, d_w, None if b is None else dev(b), geometry)
        np.testing.assert_allclose(host(d_ref), out, rtol=1e-5, atol=1e-5)

    dx, dw_, db = np.empty_like(x), np.full_like(w, 0.5), np.full(F, 0.25, np.float32)
    parts = shapes.bias_parts(N * Ho * Wo, F)
    cpu.conv2d_backward(dx, dw_, db, np.empty((F, depth), np.float32), np.empty(parts, np.float32), col, dout.copy(),
                        x, w, geometry, out if relu else None)
    d_dx, d_dw, d_db = cuda.device_array(x.shape, np.float32), dev(np.full_like(w, 0.5)), dev(np.full(F, 0.25, np.float32))
    gpu.conv2d_backward(d_dx, d_dw, d_db, cuda.device_array((F, depth), np.float32), cuda.device_array(parts, np.float32),
                        d_col, dev(dout), d_x, d_w, geometry, d_out if relu else None)
    for got, want in ((d_dx, dx), (d_dw, dw_), (d_db, db)):
        np.testing.assert_allclose(host(got), want, rtol=1e-5, atol=1e-5)


def test_convnet_step_on_cuda_matches_cpu():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((4, 6, 5, 2)).astype(np.float32), rng.integers(0, 3, 4)

    def convnet(device):
        return numbanet.Sequential([layers.Input((6, 5, 2)), layers.Conv2D(3, 3, padding='same', activation='relu'),
                                    layers.Conv2D(2, 2, strides=2), layers.Flatten(),
                                    layers.Dense(3, activation='softmax')], seed=4, device=device)
    models = {d: convnet(d) for d in ('cpu', 'cuda')}
    for m in models.values():
        m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
        m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(models['cpu'].get_weights(), models['cuda'].get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
