"""Sample weights on the GPU against the CPU: scale_rows, every loss kernel's weighted sum (the weighted device
sum), gathering image batches, and a weighted fit on 'cuda' against the same fit on 'cpu'."""
import numpy as np
import pytest
from numba import cuda

import numbanet
from numbanet import layers
from numbanet.kernels import cpu
from numbanet.kernels import cuda as gpu
from tests.helpers.gpu import dev, host


@pytest.fixture
def rng():
    return np.random.default_rng(21)


def test_scale_rows(rng):
    g = rng.standard_normal((5, 3)).astype(np.float32)
    w = rng.random(5).astype(np.float32)
    d = dev(g)
    gpu.scale_rows(d, dev(w))
    cpu.scale_rows(g, w)
    np.testing.assert_array_equal(host(d), g)
    with pytest.raises(ValueError, match='one weight per row'):
        gpu.scale_rows(d, dev(w[:4]))


def _cases(rng, B, C):
    z = (rng.standard_normal((B, C)) * 2).astype(np.float32)
    e = np.exp(z - z.max(1, keepdims=True))
    probs = (e / e.sum(1, keepdims=True)).astype(np.float32)
    labels = rng.integers(0, C, B)
    onehot = np.eye(C, dtype=np.float32)[labels]
    y01 = (rng.random((B, C)) > 0.5).astype(np.float32)
    reg = rng.standard_normal((B, C)).astype(np.float32)
    out = lambda: np.empty((B, C), np.float32)
    return {  # name: (arguments before the weights); an output array first where the kernel writes one
        'softmax_crossentropy_forward': (out(), z, onehot), 'softmax_crossentropy_fused': (out(), z, onehot),
        'sparse_softmax_crossentropy_forward': (out(), z, labels),
        'sparse_softmax_crossentropy_fused': (out(), z, labels),
        'binary_crossentropy_forward': (out(), z, y01), 'binary_crossentropy_fused': (out(), z, y01),
        'mse_forward': (z, reg), 'mae_forward': (z, reg), 'huber_forward': (z, reg, 0.7),
        'log_cosh_forward': (z, reg), 'kl_divergence_forward': (probs, onehot),
        'categorical_hinge_forward': (probs, onehot), 'distillation_forward': (z, reg, onehot, 2.5, 0.3),
    }


@pytest.mark.parametrize('name', sorted(_cases(np.random.default_rng(0), 2, 2)))
def test_weighted_loss_sums_match_the_cpu(rng, name):
    # The device's weighted sum is its own rows' losses times their weights; the CPU kernels round some
    # float32 differences before widening them, so the two devices agree to float32's precision.
    B = 6
    args = _cases(rng, B, 4)[name]
    w = rng.random(B).astype(np.float32)
    w[2] = 0.0
    fn = getattr(gpu, name)
    on_device = lambda rows: [dev(a[rows]) if isinstance(a, np.ndarray) else a for a in args]
    per_row = np.array([fn(*on_device(slice(b, b + 1))) for b in range(B)])
    got = fn(*on_device(slice(0, B)), dev(w))
    assert got == pytest.approx(float((per_row * w.astype(np.float64)).sum()), rel=1e-12)
    assert got == pytest.approx(getattr(cpu, name)(*args, w), rel=1e-6)


def test_gather_rows_of_images(rng):
    src = rng.standard_normal((6, 3, 2, 2)).astype(np.float32)
    idx = np.array([5, 0, 2])
    out = cuda.device_array((3, 3, 2, 2), np.float32)
    gpu.gather_rows(out, dev(src), dev(idx))
    np.testing.assert_array_equal(host(out), src[idx])
    weights = rng.random(6).astype(np.float32)
    got = cuda.device_array(3, np.float32)
    gpu.gather_rows(got, dev(weights), dev(idx))
    np.testing.assert_array_equal(host(got), weights[idx])


@pytest.mark.parametrize('loss', ['sparse_categorical_crossentropy', 'mse'])
def test_weighted_fit_on_cuda_matches_cpu(rng, loss):
    x = rng.standard_normal((9, 5)).astype(np.float32)
    y = rng.integers(0, 3, 9) if loss.startswith('sparse') else rng.standard_normal((9, 3)).astype(np.float32)
    w = rng.random(9).astype(np.float32)
    models = {}
    for device in ('cpu', 'cuda'):
        inputs = layers.Input(shape=(5,))
        out = layers.Dense(3, activation='softmax' if loss.startswith('sparse') else None)(
            layers.Dense(4, activation='relu')(inputs))
        model = numbanet.Model(inputs, out, seed=2, device=device)
        model.compile(optimizer='sgd', loss=loss)
        history = model.fit(x, y, sample_weight=w, batch_size=4, epochs=2, shuffle=False, verbose=0)
        models[device] = (model, history, model.evaluate(x, y, sample_weight=w, verbose=0))
    (a, ha, ea), (b, hb, eb) = models['cpu'], models['cuda']
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(v, u, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hb.history['loss'], ha.history['loss'], rtol=1e-5)
    assert eb == pytest.approx(ea, rel=1e-5)
