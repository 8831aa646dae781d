"""The NaN guard: an optimizer step that would make any weight or state value non-finite is refused whole
(weights, every slot and iterations bit-identical), for every optimizer; the check kernels catch a bad value
in the last chunk of a range split between threads; fit and train_on_batch stop with a warning and keep the
last finite step (Adam(learning_rate=1e6) on the reference MLP: a finite loss, then NaN weights before)."""
import warnings

import numpy as np
import pytest

import numbanet
from numbanet.kernels import cpu
from numbanet.kernels.cpu._split import CHUNK, PARALLEL_MIN
from numbanet.params import Parameters, Weight

opt = numbanet.optimizers
OPTIMIZERS = {
    'sgd': lambda: opt.SGD(0.05), 'sgd-momentum': lambda: opt.SGD(0.05, momentum=0.9),
    'sgd-nesterov': lambda: opt.SGD(0.05, momentum=0.9, nesterov=True, clipnorm=1.0),
    'rmsprop': lambda: opt.RMSprop(0.01), 'rmsprop-centered': lambda: opt.RMSprop(0.01, momentum=0.5, centered=True),
    'adagrad': lambda: opt.Adagrad(0.05), 'adam': lambda: opt.Adam(0.01),
    'adam-amsgrad': lambda: opt.Adam(0.01, amsgrad=True), 'adamw': lambda: opt.AdamW(0.01, weight_decay=0.5),
    'adamax': lambda: opt.Adamax(0.01), 'nadam': lambda: opt.Nadam(0.01, weight_decay=0.1),
}
SHAPES = [(7, 5), (5,), (3, 11), (11,)]  # the third stays frozen: two ranges, checked before either is written


def _built(optimizer, rng):
    weights = [Weight(f'w{i}', shape, lambda s, r: r.standard_normal(s)) for i, shape in enumerate(SHAPES)]
    store = Parameters('cpu')
    store.bind(weights, rng)
    optimizer.build(store, store.ranges({id(weights[2])}))
    return store


def _snapshot(store, optimizer):
    return (store.values.copy(), {s: a.copy() for s, a in optimizer.state_arrays().items()}, optimizer.iterations)


def _assert_same(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1].keys() == b[1].keys()
    for slot in a[1]:
        np.testing.assert_array_equal(a[1][slot], b[1][slot], err_msg=slot)
    assert a[2] == b[2]


@pytest.mark.parametrize('bad', ['inf', 'nan', 'overflow'])
@pytest.mark.parametrize('name', sorted(OPTIMIZERS))
def test_a_step_that_would_go_non_finite_is_refused_whole(rng, name, bad):
    optimizer = OPTIMIZERS[name]()
    store = _built(optimizer, rng)
    for _ in range(3):  # a state that is not the initial one
        store.grads[...] = rng.standard_normal(store.grads.shape)
        assert optimizer.apply(cpu) is True
    assert optimizer.iterations == 3
    before = _snapshot(store, optimizer)
    store.grads[...] = rng.standard_normal(store.grads.shape)
    if bad == 'overflow':  # finite gradients whose step overflows float32
        optimizer.learning_rate = 1e30
        store.grads[-11:] = 3e38
    else:
        store.grads[-1] = np.inf if bad == 'inf' else np.nan  # the last range's last element only
    if name == 'sgd-nesterov' and bad == 'overflow':  # clipnorm scales the gradients first: a finite step
        assert optimizer.apply(cpu) is True and optimizer.iterations == 4
        return
    assert optimizer.apply(cpu) is False
    _assert_same(_snapshot(store, optimizer), before)


def test_a_finite_step_still_applies_after_a_refused_one(rng):
    a, b = opt.Nadam(0.01), opt.Nadam(0.01)
    sa, sb = _built(a, rng), _built(b, np.random.default_rng(0))
    sb.values[...] = sa.values
    grads = rng.standard_normal(sa.grads.shape).astype(np.float32)
    sa.grads[...] = np.nan
    assert a.apply(cpu) is False
    for store, o in ((sa, a), (sb, b)):
        store.grads[...] = grads
        assert o.apply(cpu) is True
    _assert_same(_snapshot(sa, a), _snapshot(sb, b))  # the same step 1, bit for bit


# ---- the check kernels on their own -----------------------------------------------------------------------------
def _kernel_cases(n, rng):
    """(name, check, update, arguments after params..., slots) for each check kernel, on fresh arrays of n."""
    f = lambda scale=1.0: (rng.standard_normal(n) * scale).astype(np.float32)  # noqa: E731
    pos = lambda: np.abs(f()) + np.float32(0.1)  # noqa: E731
    p, g = f(), f()
    return [
        ('sgd', cpu.sgd_check, (p, f(), g, 0.1, 0.9, True)),
        ('rmsprop', cpu.rmsprop_check, (p, pos(), f(0.1), f(0.01), g, 0.01, 0.9, 0.5, 1e-7)),
        ('adagrad', cpu.adagrad_check, (p, pos(), g, 0.01, 1e-7)),
        ('adam', cpu.adam_check, (p, f(), pos(), g, 0.01, 0.9, 0.999, 1e-7, 3)),
        ('adam_amsgrad', cpu.adam_amsgrad_check, (p, f(), pos(), pos(), g, 0.01, 0.9, 0.999, 1e-7, 3)),
        ('adamax', cpu.adamax_check, (p, f(), pos(), g, 0.01, 0.9, 0.999, 1e-7, 3)),
        ('nadam', cpu.nadam_check, (p, f(), pos(), g, 0.01, 0.9, 0.999, 1e-7, 3, 0.5)),
    ]


@pytest.mark.parametrize('n', [1001, PARALLEL_MIN + CHUNK + 3])  # one thread; chunks with a short last one
def test_check_kernels_catch_one_bad_value_in_the_last_element_and_write_nothing(rng, n):
    for name, check, args in _kernel_cases(n, rng):
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        copies = [a.copy() for a in arrays]
        flag = np.zeros(1, np.int32)
        check(flag, *args, 0.999)
        assert flag[0] == 0, name
        g = [a for a in args if isinstance(a, np.ndarray)]
        gi = {'sgd': 2, 'rmsprop': 4, 'adagrad': 2, 'adam': 3, 'adam_amsgrad': 4, 'adamax': 3, 'nadam': 3}[name]
        g[gi][-1] = np.inf
        copies[gi][-1] = np.inf
        check(flag, *args, 0.999)
        assert flag[0] == 1, name
        for a, c in zip(arrays, copies):
            np.testing.assert_array_equal(a, c, err_msg=name)
        g[gi][-1] = 1.0
        flag[0] = 1
        check(flag, *args, 0.999)
        assert flag[0] == 1, name  # a check only sets the flag: the optimizer clears it once per step


# ---- fit and train_on_batch -------------------------------------------------------------------------------------
class _Before(numbanet.callbacks.Callback):
    """The weights and optimizer state before each batch."""

    def on_train_batch_begin(self, batch, logs=None):
        o = self.model.optimizer
        self.seen = (self.model.get_weights(), {s: a.copy() for s, a in o.state_arrays().items()}, o.iterations)


def _reference_mlp():
    inputs = numbanet.layers.Input(shape=(784,))
    x = inputs
    for h in (256, 128, 64):
        x = numbanet.layers.Dense(h, activation='relu')(x)
    model = numbanet.Model(inputs, numbanet.layers.Dense(10, activation='softmax')(x), seed=0)
    model.compile(optimizer=opt.Adam(learning_rate=1e6), loss='sparse_categorical_crossentropy')
    return model


def test_fit_with_adam_1e6_stops_with_the_weights_of_the_last_finite_step(rng):
    # Before the guard, this loss stayed finite for a step whose update wrote NaN weights.
    x, y = rng.random((256, 784), dtype=np.float32), rng.integers(0, 10, 256)
    model, before = _reference_mlp(), _Before()
    with pytest.warns(RuntimeWarning, match=r'update would have made weights or optimizer state non-finite '
                                            r'\(loss [0-9.e+]+\) at epoch 1, step \d+; training stopped'):
        model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[before])
    weights, state, iterations = before.seen
    assert all(np.isfinite(w).all() for w in model.get_weights())
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    for slot, array in model.optimizer.state_arrays().items():
        np.testing.assert_array_equal(array, state[slot])
        assert np.isfinite(array).all()
    assert model.optimizer.iterations == iterations >= 1


def test_train_on_batch_warns_and_keeps_the_weights(rng):
    x, y = rng.random((32, 784), dtype=np.float32), rng.integers(0, 10, 32)
    model = _reference_mlp()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        for _ in range(3):
            try:
                model.train_on_batch(x, y)
            except RuntimeWarning as e:
                assert 'in train_on_batch' in str(e) and 'non-finite' in str(e)
                break
        else:
            pytest.fail('no step was refused')
    weights = model.get_weights()
    with pytest.warns(RuntimeWarning, match='in train_on_batch'):
        model.train_on_batch(x, y)
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    assert all(np.isfinite(w).all() for w in weights)
