"""Every CUDA kernel against its CPU twin, on tiny odd shapes (the simulator runs one Python thread per
GPU thread)."""
import numpy as np
import pytest
from numba import cuda

from numbanet.kernels import cpu
from numbanet.kernels import cuda as gpu
from tests.helpers.gpu import dev, host


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize('M,K,N', [(5, 7, 3), (17, 3, 18), (1, 20, 9)])
@pytest.mark.parametrize('mode', ['plain', 'bias', 'accumulate'])
def test_gemm(rng, M, K, N, mode):
    A, B, bias, C0 = f32(rng, M, K), f32(rng, K, N), f32(rng, N), f32(rng, M, N)
    b = bias if mode == 'bias' else None
    want = C0.copy()
    cpu.gemm(want, A, B, b, mode == 'accumulate')
    for fn in (gpu.gemm, gpu.gemm_reference):
        C = dev(C0)
        fn(C, dev(A), dev(B), dev(b) if mode == 'bias' else None, mode == 'accumulate')
        np.testing.assert_allclose(host(C), want, rtol=1e-5, atol=1e-5)


def test_transpose(rng):
    x = f32(rng, 5, 19)
    out = cuda.device_array((19, 5), np.float32)
    gpu.transpose(out, dev(x))
    np.testing.assert_array_equal(host(out), x.T)


def test_gemm_at(rng):
    A_t, B, C0 = f32(rng, 7, 5), f32(rng, 7, 18), f32(rng, 5, 18)
    want = C0.copy()
    cpu.gemm_at(want, A_t, B, accumulate=True)
    C = dev(C0)
    gpu.gemm_at(C, dev(A_t), dev(B), accumulate=True)
    np.testing.assert_allclose(host(C), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('with_dinp,accumulate', [(True, True), (False, True), (True, False)])
def test_dense(rng, with_dinp, accumulate):
    B, K, N = 6, 5, 17
    x, w, b, dout = f32(rng, B, K), f32(rng, K, N), f32(rng, N), f32(rng, B, N)
    out = cuda.device_array((B, N), np.float32)
    gpu.dense_forward(out, dev(x), dev(w), dev(b))
    want = np.empty((B, N), np.float32)
    cpu.dense_forward(want, x, w, b)
    np.testing.assert_allclose(host(out), want, rtol=1e-5, atol=1e-5)
    # Not accumulating, the gradients are written: what they held (NaN here) is gone.
    held = (0.5, 0.25) if accumulate else (np.nan, np.nan)
    dw, db = np.full((K, N), held[0], np.float32), np.full(N, held[1], np.float32)
    dx = np.empty((B, K), np.float32)
    ddw, ddb = dev(dw), dev(db)
    ddx = cuda.device_array((B, K), np.float32) if with_dinp else None
    gpu.dense_backward(ddx, ddw, ddb, cuda.device_array((N, K), np.float32), dev(dout), dev(x), dev(w), accumulate)
    cpu.dense_backward(dx if with_dinp else None, dw, db, np.empty((N, K), np.float32), dout, x, w, accumulate)
    assert np.isfinite(dw).all() and np.isfinite(db).all()
    np.testing.assert_allclose(host(ddw), dw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host(ddb), db, rtol=1e-5, atol=1e-5)
    if with_dinp:
        np.testing.assert_allclose(host(ddx), dx, rtol=1e-5, atol=1e-5)


def test_relu_softmax_add_concat(rng):
    x, d = f32(rng, 4, 7), f32(rng, 4, 7)
    for fwd, bwd in ((cpu.relu_forward, cpu.relu_backward), (cpu.softmax_forward, cpu.softmax_backward)):
        gf, gb = getattr(gpu, fwd.__name__), getattr(gpu, bwd.__name__)
        out, dinp = np.empty_like(x), np.empty_like(x)
        fwd(out, x)
        bwd(dinp, d, out)
        dout_, ddinp = cuda.device_array_like(x), cuda.device_array_like(x)
        gf(dout_, dev(x))
        gb(ddinp, dev(d), dout_)
        np.testing.assert_allclose(host(dout_), out, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(host(ddinp), dinp, rtol=1e-5, atol=1e-6)
    y = f32(rng, 4, 7)
    out = cuda.device_array_like(x)
    gpu.add_forward(out, dev(x), dev(y))
    np.testing.assert_allclose(host(out), x + y, rtol=1e-6)
    gpu.add_backward(out, dev(y))
    np.testing.assert_array_equal(host(out), y)
    wide = cuda.device_array((4, 10), np.float32)
    gpu.concat_forward(wide, dev(x), 0)
    gpu.concat_forward(wide, dev(y[:, :3]), 7)
    np.testing.assert_array_equal(host(wide), np.concatenate([x, y[:, :3]], 1))
    part = cuda.device_array((4, 3), np.float32)
    gpu.concat_backward(part, wide, 7)
    np.testing.assert_array_equal(host(part), y[:, :3])
    with pytest.raises(IndexError):
        gpu.concat_forward(wide, dev(x), 4)


@pytest.mark.parametrize('sparse', [False, True])
def test_softmax_crossentropy(rng, sparse):
    B, C = 5, 3
    z = f32(rng, B, C) * 3
    z[0] = [1e4, -1e4, 0]  # stable for huge logits
    labels = rng.integers(0, C, B)
    y = labels if sparse else np.eye(C, dtype=np.float32)[labels]
    prefix = 'sparse_' if sparse else ''
    names = [f'{prefix}softmax_crossentropy_{s}' for s in ('forward', 'backward', 'fused')]
    cf, cb, cfu = (getattr(cpu, n) for n in names)
    gf, gb, gfu = (getattr(gpu, n) for n in names)
    probs = np.empty_like(z)
    loss = cf(probs, z, y)
    dz = np.empty_like(z)
    cb(dz, probs, y)
    dprobs = cuda.device_array_like(z)
    assert gf(dprobs, dev(z), dev(y)) == pytest.approx(loss, rel=1e-5)
    ddz = cuda.device_array_like(z)
    gb(ddz, dprobs, dev(y))
    np.testing.assert_allclose(host(dprobs), probs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(host(ddz), dz, rtol=1e-5, atol=1e-7)
    ddz2 = cuda.device_array_like(z)
    assert gfu(ddz2, dev(z), dev(y)) == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(host(ddz2), dz, rtol=1e-5, atol=1e-7)


def test_mse_and_metrics(rng):
    p, y = f32(rng, 6, 3), f32(rng, 6, 3)
    assert gpu.mse_forward(dev(p), dev(y)) == pytest.approx(cpu.mse_forward(p, y), rel=1e-6)
    dp, want = cuda.device_array_like(p), np.empty_like(p)
    gpu.mse_backward(dp, dev(p), dev(y))
    cpu.mse_backward(want, p, y)
    np.testing.assert_allclose(host(dp), want, rtol=1e-6)
    labels = rng.integers(0, 3, 6)
    onehot = np.eye(3, dtype=np.float32)[labels]
    assert gpu.sparse_categorical_accuracy_count(dev(p), dev(labels)) == cpu.sparse_categorical_accuracy_count(p, labels)
    assert gpu.categorical_accuracy_count(dev(p), dev(onehot)) == cpu.categorical_accuracy_count(p, onehot)
    assert gpu.binary_accuracy_count(dev(p), dev(onehot), 0.5) == cpu.binary_accuracy_count(p, onehot, 0.5)
    np.testing.assert_allclose(gpu.error_sums(dev(p), dev(y)), cpu.error_sums(p, y), rtol=1e-6)


@pytest.mark.parametrize('momentum,nesterov', [(0.0, False), (0.9, True)])
def test_optimizers(rng, momentum, nesterov):
    n = 37
    p, g, v = f32(rng, n), f32(rng, n), f32(rng, n)
    dp, dv = dev(p), dev(v)
    gpu.sgd_update(dp, dv, dev(g), 0.1, momentum, nesterov)
    cpu.sgd_update(p, v, g, 0.1, momentum, nesterov)
    np.testing.assert_allclose(host(dp), p, rtol=1e-6, atol=1e-7)
    m, vv = np.zeros(n, np.float32), np.zeros(n, np.float32)
    dp, dm, dvv = dev(p), dev(m), dev(vv)
    for t in (1, 2):
        gpu.adam_update(dp, dm, dvv, dev(g), 1e-3, 0.9, 0.999, 1e-7, t)
        cpu.adam_update(p, m, vv, g, 1e-3, 0.9, 0.999, 1e-7, t)
    np.testing.assert_allclose(host(dp), p, rtol=1e-6, atol=1e-7)


def test_gather_rows(rng):
    src, labels = f32(rng, 9, 4), np.arange(9, dtype=np.int64)
    idx = np.array([8, 0, 3])
    out, lab = cuda.device_array((3, 4), np.float32), cuda.device_array(3, np.int64)
    gpu.gather_rows(out, dev(src), dev(idx))
    gpu.gather_rows(lab, dev(labels), dev(idx))
    np.testing.assert_array_equal(host(out), src[idx])
    np.testing.assert_array_equal(host(lab), idx)
    with pytest.raises(IndexError):
        gpu.gather_rows(out, dev(src), np.array([0, 9, 1]))  # host indices are checked
    gpu.gather_rows(out, dev(src), dev(np.array([0, 9, 1])))  # device indices: never read out of bounds
    assert np.isnan(host(out)[1]).all()
    with pytest.raises(ValueError, match="row numbers for a batch of 3"):  # as on the CPU: never written past
        gpu.gather_rows(out, dev(src), dev(np.array([0, 1, 2, 3])))


def test_int8_quantize_and_dense(rng):
    x = f32(rng, 5, 9)
    q, s = np.empty((5, 12), np.uint8), np.empty(5, np.float32)
    cpu.quantize_rows(q, s, x)
    dq, ds = cuda.device_array((5, 12), np.uint8), cuda.device_array(5, np.float32)
    gpu.quantize_rows(dq, ds, dev(x))
    np.testing.assert_array_equal(host(dq), q)
    np.testing.assert_allclose(host(ds), s, rtol=1e-6)
    gpu.quantize_static(dq, ds, dev(x), 0.01)
    cpu.quantize_static(q, s, x, 0.01)
    np.testing.assert_array_equal(host(dq), q)
    wq = rng.integers(-127, 128, (9, 17)).astype(np.int8)
    ws, bias = rng.random(17).astype(np.float32), f32(rng, 17)
    packed, colsum = cpu.pack_int8_weights(wq)
    dpacked, dcolsum = gpu.pack_int8_weights(dev(wq))
    np.testing.assert_array_equal(host(dpacked), packed)
    out, want = cuda.device_array((5, 17), np.float32), np.empty((5, 17), np.float32)
    gpu.int8_dense_forward(out, dq, ds, dpacked, dcolsum, dev(ws), dev(bias))
    cpu.int8_dense_forward(want, q, s, packed, colsum, ws, bias)
    np.testing.assert_allclose(host(out), want, rtol=1e-6, atol=1e-6)


def test_mask_and_distillation(rng):
    p, m = f32(rng, 23), (rng.random(23) > 0.5).astype(np.float32)
    dp = dev(p)
    gpu.apply_mask(dp, dev(m))
    np.testing.assert_array_equal(host(dp), p * m)
    s, t = f32(rng, 4, 6) * 2, f32(rng, 4, 6) * 3
    y = np.eye(6, dtype=np.float32)[rng.integers(0, 6, 4)]
    want = cpu.distillation_forward(s, t, y, 3.0, 0.2)
    assert gpu.distillation_forward(dev(s), dev(t), dev(y), 3.0, 0.2) == pytest.approx(want, rel=1e-5)
    d, dd = np.empty_like(s), cuda.device_array_like(s)
    cpu.distillation_backward(d, s, t, y, 3.0, 0.2)
    gpu.distillation_backward(dd, dev(s), dev(t), dev(y), 3.0, 0.2)
    np.testing.assert_allclose(host(dd), d, rtol=1e-5, atol=1e-7)
