"""The CUDA check kernels and the optimizers' all-or-nothing step on the device, on tiny odd sizes (see
tests/test_nan_guard.py for the CPU side)."""
import numpy as np
import pytest

import numbanet
from numbanet.kernels import cuda as gpu
from numbanet.params import Parameters, Weight
from tests.helpers.gpu import dev, host

N = 37


def _cases(rng):
    f = lambda: rng.standard_normal(N).astype(np.float32)  # noqa: E731
    pos = lambda: np.abs(f()) + np.float32(0.1)  # noqa: E731
    # (check kernel, arrays, index of the gradient among them, scalars)
    return [
        (gpu.sgd_check, [f(), f(), f()], 2, (0.1, 0.9, True)),
        (gpu.rmsprop_check, [f(), pos(), f(), f() * 0.01, f()], 4, (0.01, 0.9, 0.5, 1e-7)),  # centered
        (gpu.adagrad_check, [f(), pos(), f()], 2, (0.01, 1e-7)),
        (gpu.adam_check, [f(), f(), pos(), f()], 3, (0.01, 0.9, 0.999, 1e-7, 3)),
        (gpu.adam_amsgrad_check, [f(), f(), pos(), pos(), f()], 4, (0.01, 0.9, 0.999, 1e-7, 3)),
        (gpu.adamax_check, [f(), f(), pos(), f()], 3, (0.01, 0.9, 0.999, 1e-7, 3)),
        (gpu.nadam_check, [f(), f(), pos(), f()], 3, (0.01, 0.9, 0.999, 1e-7, 3, 0.5)),
    ]


def test_check_kernels_set_the_flag_for_one_bad_value_and_write_nothing():
    for check, arrays, gi, scalars in _cases(np.random.default_rng(3)):
        flag = dev(np.zeros(1, np.int32))
        check(flag, *map(dev, arrays), *scalars, 0.999)
        assert host(flag)[0] == 0, check.__name__
        arrays[gi][-1] = np.inf
        devs = [dev(a) for a in arrays]
        check(flag, *devs, *scalars, 0.999)
        assert host(flag)[0] == 1, check.__name__
        for d, a in zip(devs, arrays):
            np.testing.assert_array_equal(host(d), a)


@pytest.mark.parametrize('make', [lambda: numbanet.optimizers.AdamW(0.01, weight_decay=0.5, amsgrad=True),
                                  lambda: numbanet.optimizers.SGD(0.1, momentum=0.9),
                                  lambda: numbanet.optimizers.RMSprop(0.01, centered=True)])
def test_a_refused_step_changes_nothing_on_the_device(make):
    rng = np.random.default_rng(4)
    weights = [Weight(f'w{i}', shape, lambda s, r: r.standard_normal(s)) for i, shape in enumerate([(3, 5), (5,)])]
    store = Parameters('cuda')
    store.bind(weights, rng)
    optimizer = make()
    optimizer.build(store, store.ranges(set()))
    store.grads.copy_to_device(rng.standard_normal(store.grads.shape[0]).astype(np.float32))
    assert optimizer.apply(store.backend.k) is True
    before = host(store.values), {s: host(a) for s, a in optimizer.state_arrays().items()}
    grads = rng.standard_normal(store.grads.shape[0]).astype(np.float32)
    grads[-1] = np.nan
    store.grads.copy_to_device(grads)
    assert optimizer.apply(store.backend.k) is False
    assert optimizer.iterations == 1
    np.testing.assert_array_equal(host(store.values), before[0])
    for slot, array in optimizer.state_arrays().items():
        np.testing.assert_array_equal(host(array), before[1][slot])


def test_bounds_check_kernel_as_on_the_cpu():
    # Twin of tests/test_quick_check.py's kernel test: out of bounds or NaN, in either array, sets the flag.
    rng = np.random.default_rng(3)
    p, g = (rng.uniform(-3, 3, 37).astype(np.float32) for _ in range(2))
    flag = dev(np.zeros(1, np.int32))
    gpu.bounds_check(flag, dev(p), dev(g), 4.0, 5.0)
    assert host(flag)[0] == 0
    for which, value in ((0, np.nan), (1, np.nan), (1, 6.0), (0, -4.5)):
        arrays = [p.copy(), g.copy()]
        arrays[which][-1] = value
        flag = dev(np.zeros(1, np.int32))
        gpu.bounds_check(flag, dev(arrays[0]), dev(arrays[1]), 4.0, 5.0)
        assert host(flag)[0] == 1


def test_adam_on_the_gpu_takes_the_quick_pass_with_the_cpus_result(monkeypatch):
    calls = {'bounds_check': 0, 'adam_check': 0}
    for name in calls:
        kernel = getattr(gpu, name)
        monkeypatch.setattr(gpu, name, lambda *a, _k=kernel, _n=name: calls.__setitem__(_n, calls[_n] + 1) or _k(*a))
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((40, 6)).astype(np.float32), rng.integers(0, 3, 40)
    weights = []
    for device in ('cpu', 'cuda'):
        model = numbanet.Sequential([numbanet.layers.Input((6,)), numbanet.layers.Dense(3, activation='softmax')],
                                    seed=1)
        model.to(device)
        model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert calls == {'bounds_check': 5, 'adam_check': 0}  # five steps on the GPU, each on the quick pass
