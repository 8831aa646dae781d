"""The CUDA optimizer and clipping kernels against Keras 3's update rules over 20 steps, on tiny odd sizes
(the simulator runs one Python thread per GPU thread), and a model trained on 'cuda' with clipping, weight
decay and a schedule against the same model on 'cpu'."""
import numpy as np
import pytest

import numbanet
from numbanet.kernels import cuda as gpu
from numbanet.kernels.bias_correction import nadam_momentum
from tests.gpu.test_model_cuda import tiny
from tests.helpers.gpu import dev, host
from tests.helpers.keras_optimizers import KerasOptimizer
from tests.helpers.subnormal_cases import CASES as SUBNORMAL_CASES, KEPT

N = 37
LR, B1, B2, EPS = 1e-2, 0.9, 0.999, 1e-7


def _run(kind, settings, slots, update, steps=20):
    """Run update(t, p, g, slots) on the device against the reference; returns (params, reference, slots)."""
    rng = np.random.default_rng(11)
    p = rng.standard_normal(N).astype(np.float32)
    want, ref = p.astype(np.float64), KerasOptimizer(kind, LR, **settings)
    dp = dev(p)
    device_slots = {name: dev(np.full(N, value, np.float32)) for name, value in slots.items()}
    for t in range(1, steps + 1):
        g = (rng.standard_normal(N) * (1 + 4 * (t % 3 == 0))).astype(np.float32)
        update(t, dp, dev(g), device_slots)
        ref.step([want], [g])
    return host(dp), want, ref, {name: host(a) for name, a in device_slots.items()}


@pytest.mark.parametrize('amsgrad', [False, True])
def test_adam(amsgrad):
    def update(t, p, g, s):
        if amsgrad:
            gpu.adam_amsgrad_update(p, s['m'], s['v'], s['v_hat'], g, LR, B1, B2, EPS, t)
        else:
            gpu.adam_update(p, s['m'], s['v'], g, LR, B1, B2, EPS, t)
    slots = {'m': 0.0, 'v': 0.0, **({'v_hat': 0.0} if amsgrad else {})}
    got, want, ref, s = _run('adam', dict(amsgrad=amsgrad), slots, update)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    if amsgrad:
        np.testing.assert_allclose(s['v_hat'], ref.slot(0, 'v_hat'), rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize('momentum,centered', [(0.0, False), (0.5, True)])
def test_rmsprop(momentum, centered):
    def update(t, p, g, s):
        gpu.rmsprop_update(p, s['velocity'], s.get('momentum'), s.get('average'), g, LR, 0.9, momentum, EPS)
    slots = {'velocity': 0.0, **({'momentum': 0.0} if momentum else {}), **({'average': 0.0} if centered else {})}
    got, want, _, _ = _run('rmsprop', dict(momentum=momentum, centered=centered), slots, update)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_adagrad_adamax_nadam():
    got, want, _, _ = _run('adagrad', {}, {'accumulator': 0.1},
                           lambda t, p, g, s: gpu.adagrad_update(p, s['accumulator'], g, LR, EPS))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    got, want, _, _ = _run('adamax', {}, {'m': 0.0, 'u': 0.0},
                           lambda t, p, g, s: gpu.adamax_update(p, s['m'], s['u'], g, LR, B1, B2, EPS, t))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    product = [1.0]

    def nadam(t, p, g, s):
        product[0] *= nadam_momentum(B1, t)
        gpu.nadam_update(p, s['m'], s['v'], g, LR, B1, B2, EPS, t, product[0])
    got, want, _, _ = _run('nadam', {}, {'m': 0.0, 'v': 0.0}, nadam)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize('n', [0, 1, 37])
def test_clip_kernels(n):
    x = (np.random.default_rng(2).standard_normal(n) * 3).astype(np.float32)
    assert gpu.squared_norm(dev(x)) == pytest.approx(np.sum(x.astype(np.float64) ** 2), rel=1e-12)
    d = dev(x)
    gpu.scale_values(d, 0.3)
    gpu.clip_values(d, 0.5)
    np.testing.assert_array_equal(host(d), np.clip(x * np.float32(0.3), -0.5, 0.5))


@pytest.mark.parametrize('make', [
    lambda: numbanet.optimizers.RMSprop(0.01, momentum=0.5, centered=True, clipnorm=0.5),
    lambda: numbanet.optimizers.Nadam(numbanet.optimizers.schedules.ExponentialDecay(0.01, 1, 0.9),
                                      weight_decay=0.1, global_clipnorm=0.5),
])
def test_training_on_cuda_matches_cpu(make):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((7, 5)).astype(np.float32), rng.integers(0, 3, 7)
    models = {d: tiny(d) for d in ('cpu', 'cuda')}
    for m in models.values():
        m.compile(optimizer=make(), loss='sparse_categorical_crossentropy')
        m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # two steps
    for a, b in zip(models['cpu'].get_weights(), models['cuda'].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('name', sorted(SUBNORMAL_CASES))
def test_state_decaying_below_normal_is_stored_as_zero(name):
    # Twin of tests/kernels/test_flush.py: the GPU stores the same zeros as the CPU, and still refuses NaN.
    names, call = SUBNORMAL_CASES[name]
    normal = np.float32(1.1760e-38)
    s = {n: dev(np.full(N, normal, np.float32)) for n in names}
    p = dev(np.linspace(-1, 1, N).astype(np.float32))
    call(gpu, p, s, dev(np.zeros(N, np.float32)))
    for n in names:
        assert (host(s[n]) == (normal if n in KEPT else 0)).all(), n
    g = np.zeros(N, np.float32)
    g[N // 2] = np.nan
    flag = dev(np.zeros(1, np.int32))
    call(gpu, p, s, dev(g), flag)
    assert host(flag)[0] == 1
