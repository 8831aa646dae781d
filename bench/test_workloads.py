"""Every framework in bench/workloads.py trains the same model: the same initial weights give the same
predictions, and one Adam step on the same batch keeps them together (PyTorch and JAX where installed)."""
import numpy as np
import pytest

import workloads


def available():
    return [name for name, (_, module) in workloads.FRAMEWORKS.items() if workloads.installed(module)]


def predictions(name, fw, x):
    if name == 'pytorch':
        import torch
        return fw.infer(torch.from_numpy(x)).numpy()
    if name == 'jax':
        import jax
        params = fw.params
        h = x
        for i in range(0, len(params) - 2, 2):
            h = jax.nn.relu(h @ params[i] + params[i + 1])
        return np.asarray(jax.nn.softmax(h @ params[-2] + params[-1]))
    return fw.infer(x)


def batch(name, x, y):
    if name == 'pytorch':
        import torch
        return torch.from_numpy(x), torch.from_numpy(y)
    return x, np.eye(10, dtype=np.float32)[y]


@pytest.fixture(scope='module')
def data():
    rng = np.random.default_rng(5)
    return rng.random((workloads.BATCH, 784), dtype=np.float32), rng.integers(0, 10, workloads.BATCH)


@pytest.mark.parametrize('name', available())
def test_same_weights_same_model_before_and_after_a_step(name, data):
    x, y = data
    ref = workloads.NumpyMLP(weights=workloads.initial_weights(3))
    fw = workloads.FRAMEWORKS[name][0](weights=workloads.initial_weights(3))
    np.testing.assert_allclose(predictions(name, fw, x), ref.infer(x), atol=1e-5)
    ref.step(*batch('numpy', x, y))
    fw.step(*batch(name, x, y))
    # PyTorch's Adam adds epsilon to the bias-corrected sqrt(v), the others (Keras's way) to the raw one, so in
    # their first step epsilon weighs 1/sqrt(1 - beta_2), about 32x, more against tiny gradients: close, not equal
    np.testing.assert_allclose(predictions(name, fw, x), ref.infer(x), atol=1e-3 if name == 'pytorch' else 1e-4)
