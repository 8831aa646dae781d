"""Every kernel at the reference MLP's shapes (batch 128) against the same operation in numpy. A dense
layer's shape is written batch x inputs x outputs, `dense_forward[128x784x256]`, for each of its three
products.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest bench/test_kernels.py
"""
import numpy as np
import pytest
from numba import njit, prange

from numbanet.kernels import cpu as k

B = 128
LAYERS = [(784, 256), (256, 128), (128, 64), (64, 10)]
WIDE = [(1024, 1024)]  # weight rows 4 KB apart, over a long k: the tiles read packed copies of them (_packed.py)
WHO = [pytest.param('numbanet', marks=pytest.mark.numbanet), 'numpy']
rng = np.random.default_rng(0)
CHUNK = 1 << 14  # elements per thread's slice, as the optimizer kernels split a buffer (kernels/cpu/_split.py)


def _f32(*shape):
    return rng.standard_normal(shape, dtype=np.float32)


def _dense(layers):
    return pytest.mark.parametrize('K,N', layers, ids=[f'{B}x{K}x{N}' for K, N in layers])


@_dense(LAYERS + WIDE)
@pytest.mark.parametrize('who', WHO)
def test_dense_forward(run, K, N, who):
    x, w, b, out = _f32(B, K), _f32(K, N), _f32(N), np.empty((B, N), np.float32)
    if who == 'numbanet':
        fn = lambda: k.dense_forward(out, x, w, b)  # noqa: E731
    else:
        fn = lambda: np.add(np.matmul(x, w, out=out), b, out=out)  # noqa: E731
    run(f'dense_forward[{B}x{K}x{N}]', who, fn)


@_dense(LAYERS + WIDE)
@pytest.mark.parametrize('who', WHO)
def test_dense_weight_gradient(run, K, N, who):
    # dW (K,N) += X^T (K,B) @ dY (B,N)
    x, dy, dw = _f32(B, K), _f32(B, N), np.zeros((K, N), np.float32)
    if who == 'numbanet':
        fn = lambda: k.gemm(dw, x.T, dy, None, True)  # noqa: E731
    else:
        tmp = np.empty_like(dw)
        fn = lambda: np.add(dw, np.matmul(x.T, dy, out=tmp), out=dw)  # noqa: E731
    run(f'dense_weight_gradient[{B}x{K}x{N}]', who, fn)


@_dense(LAYERS[1:] + WIDE)
@pytest.mark.parametrize('who', WHO)
def test_dense_input_gradient(run, K, N, who):
    # dX (B,K) = dY (B,N) @ W^T (N,K); numbanet's time includes transposing W into its scratch.
    dy, w, dx, wt = _f32(B, N), _f32(K, N), np.empty((B, K), np.float32), np.empty((N, K), np.float32)
    if who == 'numbanet':
        def fn():
            k.transpose(wt, w)
            k.gemm(dx, dy, wt)
    else:
        fn = lambda: np.matmul(dy, w.T, out=dx)  # noqa: E731
    run(f'dense_input_gradient[{B}x{K}x{N}]', who, fn)


@pytest.mark.parametrize('who', WHO)
def test_relu(run, who):
    z, out, dout, dz = _f32(B, 256), np.empty((B, 256), np.float32), _f32(B, 256), np.empty((B, 256), np.float32)
    if who == 'numbanet':
        def fn():
            k.relu_forward(out, z)
            k.relu_backward(dz, dout, out)
    else:
        def fn():
            np.maximum(z, 0, out=out)
            np.multiply(dout, out > 0, out=dz)
    run(f'relu_forward_backward[{B}x256]', who, fn)


@pytest.mark.parametrize('who', WHO)
def test_softmax_crossentropy(run, who):
    z, y, dz = _f32(B, 10), np.eye(10, dtype=np.float32)[rng.integers(0, 10, B)], np.empty((B, 10), np.float32)
    if who == 'numbanet':
        fn = lambda: k.softmax_crossentropy_fused(dz, z, y)  # noqa: E731
    else:
        def fn():
            e = np.exp(z - z.max(1, keepdims=True))
            p = e / e.sum(1, keepdims=True)
            loss = -np.sum(y * np.log(p)) / B
            np.divide(np.subtract(p, y, out=dz), B, out=dz)
            return loss
    run(f'softmax_crossentropy[{B}x10]', who, fn)


def _adam_arrays():
    n = sum(a * b + b for a, b in LAYERS)  # 242,762
    return n, _f32(n), _f32(n) * 1e-3, np.zeros(n, np.float32), np.zeros(n, np.float32)


@njit
def _stream_run(p, m, v, g):
    for i in range(p.shape[0]):
        gi = g[i]
        m[i] += gi
        v[i] += gi
        p[i] += gi


@njit(parallel=True)
def _stream(p, m, v, g):
    # An optimizer step's memory traffic with no arithmetic to speak of: four arrays read, three written, split
    # into the slices the optimizer kernels give their threads. No update that keeps float32 state can be faster.
    for c in prange((p.shape[0] + CHUNK - 1) // CHUNK):
        s = slice(c * CHUNK, (c + 1) * CHUNK)
        _stream_run(p[s], m[s], v[s], g[s])


@pytest.mark.parametrize('who', WHO + ['stream floor'])
def test_adam(run, who):
    n, p, g, m, v = _adam_arrays()
    if who == 'numbanet':
        fn = lambda: k.adam_update(p, m, v, g, 1e-3, 0.9, 0.999, 1e-7, 10)  # noqa: E731
    elif who == 'stream floor':
        fn = lambda: _stream(p, m, v, g)  # noqa: E731
    else:
        def fn():
            m[:] = 0.9 * m + 0.1 * g
            v[:] = 0.999 * v + 0.001 * g * g
            p[:] -= 1e-3 * m / (np.sqrt(v) + 1e-7)
    run(f'adam_update[{n}]', who, fn)


@pytest.mark.numbanet
def test_adam_check(run):
    # The NaN guard's read-only pass that runs before every update (optimizers/base.py apply).
    n, p, g, m, v = _adam_arrays()
    flag = np.zeros(1, np.int32)
    run(f'adam_check[{n}]', 'numbanet', lambda: k.adam_check(flag, p, m, v, g, 1e-3, 0.9, 0.999, 1e-7, 10, 1.0))
