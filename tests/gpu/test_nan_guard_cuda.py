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
