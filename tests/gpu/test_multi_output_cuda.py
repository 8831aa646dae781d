"""A model with two outputs on 'cuda' against the same model on 'cpu': loss weights, per-output logs, predict."""
import numpy as np
import pytest

import numbanet
from numbanet import layers


def two_heads(device):
    inputs = layers.Input(shape=(5,))
    h = layers.Dense(6, activation='relu')(inputs)
    outputs = [layers.Dense(3, activation='softmax', name='cls')(h), layers.Dense(2, name='reg')(h)]
    return numbanet.Model(inputs, outputs, seed=0, device=device)


def test_two_outputs_on_cuda_match_cpu():
    rng = np.random.default_rng(3)
    x, labels = rng.standard_normal((7, 5)).astype(np.float32), rng.integers(0, 3, 7)
    targets = rng.standard_normal((7, 2))
    weights = rng.uniform(0.5, 2.0, 7)
    models = {d: two_heads(d) for d in ('cpu', 'cuda')}
    for m in models.values():
        m.compile('adam', loss=['sparse_categorical_crossentropy', 'mse'], loss_weights=[1.0, 0.5],
                  metrics={'cls': 'accuracy'}, weighted_metrics={'reg': 'mae'})
    logs = {d: m.fit(x, [labels, targets], sample_weight=weights, batch_size=4, epochs=1, shuffle=False,
                     verbose=0).history for d, m in models.items()}
    assert list(logs['cuda']) == ['loss', 'cls_loss', 'reg_loss', 'cls_accuracy', 'reg_mae']
    assert {k: v[0] for k, v in logs['cuda'].items()} == pytest.approx({k: v[0] for k, v in logs['cpu'].items()}, rel=1e-5)
    for a, b in zip(models['cpu'].get_weights(), models['cuda'].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(models['cpu'].predict(x, verbose=0), models['cuda'].predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
