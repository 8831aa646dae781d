"""Magnitude pruning: the sparsity reached, masks that survive training and saving, bad arguments."""
import numpy as np
import pytest

import numbanet
from numbanet import compression
from tests.helpers import trained_mlp


@pytest.mark.parametrize('scope', ['global', 'layer'])
def test_prune_reaches_the_sparsity_and_masks_survive_fit(rng, scope):
    model, x, labels = trained_mlp(rng)
    reached = compression.prune(model, sparsity=0.8, scope=scope)
    assert reached == pytest.approx(0.8, abs=0.01)
    per_layer = compression.sparsity(model, per_layer=True)
    if scope == 'layer':
        assert all(v == pytest.approx(0.8, abs=0.02) for v in per_layer.values())
    zeros = [to == 0 for to in (w for w in model.get_weights()[0::2])]
    biases_before = model.get_weights()[1::2]
    model.fit(x, labels, epochs=3, verbose=0)  # Adam has momentum for the pruned weights: masks must win
    for was_zero, kernel in zip(zeros, model.get_weights()[0::2]):
        assert np.all(kernel[was_zero] == 0.0)
    assert compression.sparsity(model) == pytest.approx(reached)
    assert any(not np.array_equal(a, b) for a, b in zip(biases_before, model.get_weights()[1::2]))


def test_pruned_model_saves_its_masks(tmp_path, rng):
    model, x, labels = trained_mlp(rng)
    compression.prune(model, sparsity=0.9)
    model.save(tmp_path / 'p.safetensors')
    loaded = numbanet.models.load_model(tmp_path / 'p.safetensors')
    assert compression.sparsity(loaded) == pytest.approx(compression.sparsity(model))
    loaded.fit(x, labels, epochs=2, verbose=0)
    assert compression.sparsity(loaded) == pytest.approx(compression.sparsity(model))
    compression.strip_pruning(loaded)
    loaded.fit(x, labels, epochs=1, verbose=0)
    assert compression.sparsity(loaded) < 0.5


def test_prune_refuses_bad_arguments(rng):
    model, _, _ = trained_mlp(rng)
    for bad in (1.0, -0.1, 'most'):
        with pytest.raises(ValueError, match='sparsity'):
            compression.prune(model, sparsity=bad)
    with pytest.raises(ValueError, match='scope'):
        compression.prune(model, 0.5, scope='row')
    with pytest.raises(ValueError, match='no Dense layers named'):
        compression.prune(model, 0.5, layers=['nope'])
    model.quantize('int8')
    with pytest.raises(ValueError, match='before quantize'):
        compression.prune(model, 0.5)
