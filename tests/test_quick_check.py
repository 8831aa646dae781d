"""The NaN guard's quick pass (optimizers/base.py apply, Adam.quick_bounds): while weights, gradients and the
state stay within the proven bounds, a step reads weights and gradients only (kernels/cpu/bounds.py) instead of
the full check; it must never let through a step the full check would refuse, and training must give the same
bits either way."""
import numpy as np
import pytest

import numbanet
from numbanet.kernels import cpu
from numbanet.kernels.cpu._split import CHUNK, PARALLEL_MIN
from numbanet.optimizers.adam import QUICK_G, QUICK_P
from numbanet.params import Parameters, Weight

opt = numbanet.optimizers
ADAMS = {'adam': lambda: opt.Adam(0.01), 'amsgrad': lambda: opt.Adam(0.01, amsgrad=True),
         'adamw': lambda: opt.AdamW(0.01, weight_decay=0.5)}


class Spy:
    """The CPU kernel set, counting the check kernels' calls."""

    def __init__(self):
        self.calls = {'bounds_check': 0, 'adam_check': 0, 'adam_amsgrad_check': 0}

    def __getattr__(self, name):
        kernel = getattr(cpu, name)
        if name not in self.calls:
            return kernel

        def counted(*args):
            self.calls[name] += 1
            return kernel(*args)
        return counted

    def full(self):
        return self.calls['adam_check'] + self.calls['adam_amsgrad_check']


def _built(optimizer, rng, n=37):
    weights = [Weight('w', (n,), lambda s, r: r.standard_normal(s))]
    store = Parameters('cpu')
    store.bind(weights, rng)
    optimizer.build(store, store.ranges(set()))
    return store


def _model(optimizer):
    model = numbanet.Sequential([numbanet.layers.Input((13,)), numbanet.layers.Dense(17, activation='relu'),
                                 numbanet.layers.Dense(5, activation='softmax')], seed=0)
    model.compile(optimizer=optimizer, loss='sparse_categorical_crossentropy')
    return model


@pytest.mark.parametrize('name', sorted(ADAMS))
def test_training_takes_the_quick_pass_and_gives_the_same_bits(rng, name, monkeypatch):
    x, y = rng.standard_normal((200, 13)).astype(np.float32), rng.integers(0, 5, 200)
    quick = _model(ADAMS[name]())
    quick.fit(x, y, batch_size=16, epochs=3, verbose=0)
    monkeypatch.setattr(opt.Adam, 'quick_bounds', lambda *args: None)
    full = _model(ADAMS[name]())
    full.fit(x, y, batch_size=16, epochs=3, verbose=0)
    for a, b in zip(quick.get_weights(), full.get_weights()):
        np.testing.assert_array_equal(a, b)
    for slot, state in quick.optimizer.state_arrays().items():
        np.testing.assert_array_equal(state, full.optimizer.state_arrays()[slot], err_msg=slot)


@pytest.mark.parametrize('name', sorted(ADAMS))
def test_steps_use_the_quick_pass_until_a_gradient_leaves_its_bounds(rng, name):
    optimizer, k = ADAMS[name](), Spy()
    store = _built(optimizer, rng)
    for _ in range(3):
        store.grads[...] = rng.standard_normal(store.grads.shape)
        assert optimizer.apply(k) is True
    assert k.calls['bounds_check'] == 3 and k.full() == 0
    store.grads[...] = rng.standard_normal(store.grads.shape)
    store.grads[5] = 4 * QUICK_G  # finite, and a finite step, but beyond what the quick pass proves
    assert optimizer.apply(k) is True and k.full() == 1
    for _ in range(2):  # the state's bounds are unknown now: every later step takes the full check
        store.grads[...] = rng.standard_normal(store.grads.shape)
        assert optimizer.apply(k) is True
    assert k.full() == 3 and k.calls['bounds_check'] == 4


def test_loaded_or_written_state_takes_the_full_check(rng):
    optimizer, k = opt.Adam(0.01), Spy()
    store = _built(optimizer, rng)
    store.grads[...] = rng.standard_normal(store.grads.shape)
    assert optimizer.apply(k) is True and k.full() == 0
    state = {s: np.full_like(a, 1e30) for s, a in optimizer.state_arrays().items()}  # far beyond the bounds
    optimizer.load_state(state, optimizer.iterations)
    assert optimizer.apply(k) is True and k.full() == 1
    fresh, k2 = opt.Adam(0.01), Spy()
    store2 = _built(fresh, rng)
    fresh.state_arrays()['m'][...] = 1e30
    fresh.state_written()
    store2.grads[...] = 1.0
    assert fresh.apply(k2) is True and k2.full() == 1 and k2.calls['bounds_check'] == 0


@pytest.mark.parametrize('bad', [np.nan, np.inf, 3e38])
def test_a_bad_gradient_fails_the_quick_pass_and_the_full_check_refuses(rng, bad):
    optimizer, k = opt.Adam(1e30), Spy()  # 3e38 is finite: refused only because the step overflows
    store = _built(optimizer, rng)
    before = store.values.copy()
    store.grads[...] = rng.standard_normal(store.grads.shape)
    store.grads[-1] = bad
    assert optimizer.apply(k) is False and optimizer.iterations == 0
    np.testing.assert_array_equal(store.values, before)


def test_quick_bounds_only_vouch_for_steps_the_full_check_passes(rng):
    # The proof checked by brute force: weights, gradients and state at the edges of what the bounds allow
    # after `steps` quick steps (m at G * growth, v from 0 to G^2 * growth, either sign), under hyperparameters
    # from tame to absurd. Whenever quick_bounds vouches for a step, the exact check must find it finite.
    n, vouched = 64, 0
    for trial in range(400):
        lr = float(10.0 ** rng.uniform(-8, 30))
        eps = float(10.0 ** rng.uniform(-12, 3))
        beta_1, beta_2 = (float(rng.choice([0.0, 0.5, 0.9, 0.999999])) for _ in range(2))
        decay = float(rng.choice([1.0, 0.5, -3.0, -1e20]))
        step, steps = int(rng.integers(1, 10 ** 6)), int(rng.choice([1, 1000, 10 ** 7, 3 * 10 ** 7]))
        adam = opt.Adam(lr, beta_1, beta_2, eps, amsgrad=bool(trial % 2))
        bounds = adam.quick_bounds(lr, step, decay, steps)
        if bounds is None:
            continue
        vouched += 1
        growth = (1.0 + 2.0 ** -20) ** steps
        sign = rng.choice([-1.0, 1.0], n)
        p = (sign * QUICK_P * rng.choice([1.0, 0.5, 0.0], n)).astype(np.float32)
        g = (rng.choice([-1.0, 1.0], n) * QUICK_G * rng.choice([1.0, 1e-30, 0.0], n)).astype(np.float32)
        m = np.minimum(sign * QUICK_G * growth, np.finfo(np.float32).max).astype(np.float32)
        v = (QUICK_G ** 2 * growth * rng.choice([1.0, 1e-20, 0.0], n)).astype(np.float32)
        flag = np.zeros(1, np.int32)
        if adam.amsgrad:
            cpu.adam_amsgrad_check(flag, p, m, v, v.copy(), g, lr, beta_1, beta_2, eps, step, decay)
        else:
            cpu.adam_check(flag, p, m, v, g, lr, beta_1, beta_2, eps, step, decay)
        assert flag[0] == 0, (lr, eps, beta_1, beta_2, decay, step, steps)
    assert vouched > 50  # the brute force did exercise the proof


@pytest.mark.parametrize('n', [1001, PARALLEL_MIN + CHUNK + 3])
def test_bounds_check_kernel(rng, n):
    p, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    flag = np.zeros(1, np.int32)
    cpu.bounds_check(flag, p, g, 4.0, 5.0)
    assert flag[0] == (np.abs(p).max() > 4 or np.abs(g).max() > 5)
    for array, value in ((p, np.nan), (g, np.nan), (g, 6.0), (p, -4.5)):
        flag[0] = 0
        kept = array[-1]
        array[-1] = value  # the last element, in the short last chunk
        cpu.bounds_check(flag, np.clip(p, -3, 3) if array is g else p, np.clip(g, -3, 3) if array is p else g,
                         4.0, 5.0)
        assert flag[0] == 1
        array[-1] = kept
