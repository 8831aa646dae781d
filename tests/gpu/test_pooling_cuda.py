"""The CUDA pooling and zero-padding kernels against their CPU twins, on tiny odd shapes (the simulator runs
one Python thread per GPU thread); each sum runs in the CPU's order, so the results are the CPU's bits. And
a model of every pooling layer trained on 'cuda' as on 'cpu'."""
import numpy as np
import pytest
from numba import cuda

import numbanet
from numbanet import layers
from numbanet.kernels.cpu import pooling as cpu
from numbanet.kernels.cuda import pooling as gpu
from tests.helpers.gpu import dev, host

SHAPE = (2, 5, 7, 3)
# (pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, out_h, out_w) for a 5 x 7 input: 'valid', 'same'
# with padding on top and left, overlapping windows, a stride past the window
GEOMETRIES = [(2, 2, 2, 2, 0, 0, 2, 3), (3, 3, 2, 2, 1, 1, 3, 4), (3, 2, 1, 1, 1, 0, 5, 7), (2, 2, 3, 3, 0, 0, 2, 3)]


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def nans(shape, dtype=np.float32):
    """A device array whose every cell the kernel must write."""
    return dev(np.full(shape, -7 if dtype == np.int32 else np.nan, dtype))


@pytest.mark.parametrize('geom', GEOMETRIES)
def test_max_and_avg_pooling(rng, geom):
    sizes, (oh, ow) = geom[:6], geom[6:]
    out_shape = (SHAPE[0], oh, ow, SHAPE[3])
    x = rng.integers(-2, 3, SHAPE).astype(np.float32)  # ties: the first in scan order wins on both
    dout = rng.standard_normal(out_shape).astype(np.float32)
    out, argmax, dx = np.empty(out_shape, np.float32), np.empty(out_shape, np.int32), np.empty(SHAPE, np.float32)
    cpu.max_pool2d_forward(out, argmax, x, *sizes)
    cpu.max_pool2d_backward(dx, dout, argmax)
    d_out, d_argmax, d_dx = nans(out_shape), nans(out_shape, np.int32), nans(SHAPE)
    gpu.max_pool2d_forward(d_out, d_argmax, dev(x), *sizes)
    gpu.max_pool2d_backward(d_dx, dev(dout), d_argmax)
    np.testing.assert_array_equal(host(d_out), out)
    np.testing.assert_array_equal(host(d_argmax), argmax)
    np.testing.assert_array_equal(host(d_dx), dx)

    x = rng.standard_normal(SHAPE).astype(np.float32)
    cpu.avg_pool2d_forward(out, x, *sizes)
    cpu.avg_pool2d_backward(dx, dout, *sizes)
    d_out, d_dx = nans(out_shape), nans(SHAPE)
    gpu.avg_pool2d_forward(d_out, dev(x), *sizes)
    gpu.avg_pool2d_backward(d_dx, dev(dout), *sizes)
    np.testing.assert_array_equal(host(d_out), out)
    np.testing.assert_array_equal(host(d_dx), dx)


def test_global_pooling(rng):
    N, H, W, C = SHAPE
    x = rng.integers(-2, 3, SHAPE).astype(np.float32)
    dout = rng.standard_normal((N, C)).astype(np.float32)
    out, argmax, dx = np.empty((N, C), np.float32), np.empty((N, C), np.int32), np.empty(SHAPE, np.float32)
    cpu.global_max_pool2d_forward(out, argmax, x)
    cpu.global_max_pool2d_backward(dx, dout, argmax)
    d_out, d_argmax, d_dx = nans((N, C)), nans((N, C), np.int32), nans(SHAPE)
    gpu.global_max_pool2d_forward(d_out, d_argmax, dev(x))
    gpu.global_max_pool2d_backward(d_dx, dev(dout), d_argmax)
    np.testing.assert_array_equal(host(d_out), out)
    np.testing.assert_array_equal(host(d_argmax), argmax)
    np.testing.assert_array_equal(host(d_dx), dx)

    x = rng.standard_normal(SHAPE).astype(np.float32)
    cpu.global_avg_pool2d_forward(out, x)
    cpu.global_avg_pool2d_backward(dx, dout)
    d_out, d_dx = nans((N, C)), nans(SHAPE)
    gpu.global_avg_pool2d_forward(d_out, dev(x))
    gpu.global_avg_pool2d_backward(d_dx, dev(dout))
    np.testing.assert_array_equal(host(d_out), out)
    np.testing.assert_array_equal(host(d_dx), dx)


def test_zero_padding(rng):
    N, H, W, C = SHAPE
    x = rng.standard_normal(SHAPE).astype(np.float32)
    big = (N, H + 3, W + 1, C)  # 2 on top, 1 below, 1 on the left, none on the right
    d_out = nans(big)
    gpu.zero_pad2d_forward(d_out, dev(x), 2, 1)
    np.testing.assert_array_equal(host(d_out), np.pad(x, ((0, 0), (2, 1), (1, 0), (0, 0))))
    dout = rng.standard_normal(big).astype(np.float32)
    d_dx = nans(SHAPE)
    gpu.zero_pad2d_backward(d_dx, dev(dout), 2, 1)
    np.testing.assert_array_equal(host(d_dx), dout[:, 2:2 + H, 1:1 + W])


def test_shapes_that_do_not_fit_are_refused_before_a_launch():
    x = cuda.device_array(SHAPE, np.float32)
    out, argmax = cuda.device_array((2, 2, 3, 3), np.float32), cuda.device_array((2, 2, 3, 3), np.int32)
    with pytest.raises(ValueError, match=r'gives \(N, H, W, C\) = \(2, 1 or 2, 2, 3\)'):
        gpu.max_pool2d_forward(out, argmax, x, 3, 3, 3, 3, 0, 0)
    with pytest.raises(ValueError, match='argmax must be a C-contiguous 4-d int32'):
        gpu.max_pool2d_forward(out, cuda.device_array((2, 2, 3, 3), np.int64), x, 2, 2, 2, 2, 0, 0)
    with pytest.raises(ValueError, match='differ in batch or channels'):
        gpu.max_pool2d_backward(cuda.device_array((1, 5, 7, 3), np.float32), out, argmax)
    with pytest.raises(ValueError, match=r'pool to \(2, 3\)'):
        gpu.global_avg_pool2d_forward(cuda.device_array((2, 4), np.float32), x)
    with pytest.raises(ValueError, match='does not fit'):
        gpu.zero_pad2d_forward(cuda.device_array((2, 6, 7, 3), np.float32), x, 1, 1)


def pooling_model(device):
    # Dense -> Reshape beneath the pooling, so a training step runs every backward kernel. Each branch
    # reshapes the Dense output itself: only that (batch, features) tensor has several readers.
    inputs = layers.Input(shape=(6,))
    hidden = layers.Dense(40)(inputs)
    image, steps = (lambda: layers.Reshape((4, 5, 2))(hidden)), (lambda: layers.Reshape((20, 2))(hidden))
    a = layers.AveragePooling2D(2, 1)(layers.MaxPooling2D(3, 2, 'same')(layers.ZeroPadding2D(1)(image())))
    b = layers.GlobalAveragePooling1D()(layers.AveragePooling1D(3, 1, 'same')(layers.MaxPooling1D(2)(steps())))
    merged = layers.Concatenate()([layers.GlobalMaxPooling2D()(a), b, layers.GlobalMaxPooling1D()(steps()),
                                   layers.Flatten()(layers.GlobalAveragePooling2D(keepdims=True)(image()))])
    return numbanet.Model(inputs, layers.Dense(2)(merged), seed=3, device=device)


def test_a_model_of_pooling_layers_trains_on_cuda_as_on_cpu(rng):
    x, y = rng.standard_normal((3, 6)).astype(np.float32), rng.standard_normal((3, 2)).astype(np.float32)
    models = {d: pooling_model(d) for d in ('cpu', 'cuda')}
    for m in models.values():
        m.compile(optimizer='sgd', loss='mse')
        m.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(models['cpu'].get_weights(), models['cuda'].get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(models['cuda'].predict(x, verbose=0), models['cpu'].predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
