"""The fused Conv2D + ReLU + 2x2 max pooling kernels on CUDA against their CPU twins, and a convnet whose steps
fuse them on 'cuda' against 'cpu', on tiny odd shapes (the simulator runs one Python thread per GPU thread)."""
import numpy as np
import pytest
from numba import cuda

import numbanet
from numbanet import layers
from numbanet.kernels import cpu
from numbanet.kernels import cuda as gpu
from numbanet.kernels import shapes
from tests.helpers.gpu import dev, host


@pytest.mark.parametrize('N,H,W,C,F,KH,KW,geometry', [
    (2, 6, 7, 2, 3, 2, 2, (1, 1, 0, 0, 1, 1)),     # Ho 5, Wo 6: the last row does not pool
    (3, 7, 6, 3, 2, 3, 2, (2, 1, 1, 0, 1, 1)),     # stride 2, padding on top
    (9, 6, 6, 1, 2, 3, 3, (1, 1, 2, 2, 2, 2)),     # dilation 2, two parts of images
])
@pytest.mark.parametrize('use_bias,first_layer', [(True, False), (False, True)])
def test_fused_conv_pool_matches_the_cpu(N, H, W, C, F, KH, KW, geometry, use_bias, first_layer):
    rng = np.random.default_rng(3)
    sh, sw, pt, pl, dh, dw = geometry
    Ho, Wo = (H + 2 * pt - dh * (KH - 1) - 1) // sh + 1, (W + 2 * pl - dw * (KW - 1) - 1) // sw + 1
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = rng.standard_normal((KH, KW, C, F)).astype(np.float32)
    b = rng.standard_normal(F).astype(np.float32) if use_bias else None
    pooled = (N, Ho // 2, Wo // 2, F)
    dout = rng.standard_normal(pooled).astype(np.float32)
    parts, taps = shapes.image_parts(N), KH * KW * C
    sizes = dict(scratch=(parts, Ho, Wo, F), col=(N * Ho * Wo, taps), weight_t=(F, taps), weight_parts=(parts, taps, F),
                 bias_parts=(parts, F))
    ws = {name: np.empty(shape, np.float32) for name, shape in sizes.items()}
    d_ws = {name: cuda.device_array(shape, np.float32) for name, shape in sizes.items()}
    out, which = np.empty(pooled, np.float32), np.empty(pooled, np.uint8)
    d_out, d_which = cuda.device_array(pooled, np.float32), cuda.device_array(pooled, np.uint8)
    cpu.conv2d_relu_maxpool_forward(out, which, ws['scratch'], ws['col'], x, w, b, geometry)
    d_x, d_w = dev(x), dev(w)
    gpu.conv2d_relu_maxpool_forward(d_out, d_which, d_ws['scratch'], d_ws['col'], d_x, d_w,
                                    None if b is None else dev(b), geometry)
    np.testing.assert_allclose(host(d_out), out, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(host(d_which), which)

    dx = None if first_layer else np.empty_like(x)
    dw_, db = np.full_like(w, 0.5), np.full(F, 0.25, np.float32) if use_bias else None
    cpu.conv2d_relu_maxpool_backward(dx, dw_, db, ws['weight_t'], ws['weight_parts'], ws['bias_parts'], ws['scratch'],
                                     ws['col'], dout, which, x, w, geometry)
    d_dx = None if first_layer else cuda.device_array(x.shape, np.float32)
    d_dw, d_db = dev(np.full_like(w, 0.5)), dev(np.full(F, 0.25, np.float32)) if use_bias else None
    gpu.conv2d_relu_maxpool_backward(d_dx, d_dw, d_db, d_ws['weight_t'], d_ws['weight_parts'], d_ws['bias_parts'],
                                     d_ws['scratch'], d_ws['col'], dev(dout), d_which, d_x, d_w, geometry)
    for got, want in ((d_dx, dx), (d_dw, dw_), (d_db, db)):
        if want is not None:
            np.testing.assert_allclose(host(got), want, rtol=1e-5, atol=1e-5)


def test_a_fused_convnet_step_on_cuda_matches_cpu():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((4, 7, 6, 2)).astype(np.float32), rng.integers(0, 3, 4)

    def convnet(device):
        return numbanet.Sequential([layers.Input((7, 6, 2)), layers.Conv2D(3, 2, activation='relu'),
                                    layers.MaxPooling2D(2), layers.Flatten(),
                                    layers.Dense(3, activation='softmax')], seed=4, device=device)
    models = {d: convnet(d) for d in ('cpu', 'cuda')}
    for m in models.values():
        m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
        assert len(m.plan(4).steps) == 4  # conv + pool fused, flatten, dense, softmax
        m.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(models['cpu'].get_weights(), models['cuda'].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
