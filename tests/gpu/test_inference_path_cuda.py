"""Small-batch inference on 'cuda' (model(x), predict_on_batch, a one-batch predict) against 'cpu': host
arrays of the caller's own, whatever the batch size."""
import numpy as np
import pytest

import numbanet
from numbanet import layers


def mlp(device):
    inputs = layers.Input(shape=(9,))
    h = layers.Dense(7, activation='relu')(inputs)
    return numbanet.Model(inputs, layers.Dense(3, activation='softmax')(h), seed=11, device=device)


@pytest.mark.parametrize('way', ['call', 'predict_on_batch', 'predict'])
def test_small_batches_on_cuda_match_cpu(way):
    rng = np.random.default_rng(5)
    models = {d: mlp(d) for d in ('cpu', 'cuda')}
    run = {'call': lambda m, x: m(x), 'predict_on_batch': lambda m, x: m.predict_on_batch(x),
           'predict': lambda m, x: m.predict(x, verbose=0)}[way]
    for n in (1, 3, 1):
        x = rng.standard_normal((n, 9)).astype(np.float32)
        got, want = run(models['cuda'], x), run(models['cpu'], x)
        assert type(got) is np.ndarray and got.shape == (n, 3)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        again = run(models['cuda'], x)
        assert again is not got and not np.shares_memory(again, got)
