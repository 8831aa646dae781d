"""Magnitude pruning: the sparsity reached, masks that survive training and saving, bad arguments."""
import numpy as np
import pytest

import numbanet
from numbanet import compression
from tests.helpers import trained_convnet, trained_mlp


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
    with pytest.raises(ValueError, match='no Dense, Conv1D or Conv2D layers named'):
        compression.prune(model, 0.5, layers=['nope'])
    model.quantize('int8')
    with pytest.raises(ValueError, match='before quantize'):
        compression.prune(model, 0.5)


# ---- convolution kernels -----------------------------------------------------------------------------------------
def _kernels(model):
    return {l.name: l.get_weights()[0] for l in model.layers if isinstance(l, compression.PRUNABLE)}


@pytest.mark.parametrize('scope', ['global', 'layer'])
def test_prune_reaches_the_sparsity_in_conv_kernels_and_masks_survive_fit(rng, scope):
    model, x, labels = trained_convnet(rng)
    reached = compression.prune(model, sparsity=0.5, scope=scope)
    assert reached == pytest.approx(0.5, abs=0.01)
    per_layer = compression.sparsity(model, per_layer=True)
    convs = [l.name for l in model.layers if isinstance(l, (numbanet.layers.Conv1D, numbanet.layers.Conv2D))]
    assert len(convs) == 5 and set(convs) < set(per_layer)
    if scope == 'layer':
        assert all(v == pytest.approx(0.5, abs=0.04) for v in per_layer.values())  # kernels of 36 weights and up
    else:
        assert len({round(v, 3) for v in per_layer.values()}) > 1  # ranked together: layers keep different shares
    zeros = {name: k == 0 for name, k in _kernels(model).items()}
    model.fit(x, labels, epochs=2, verbose=0)  # Adam has momentum for the pruned weights: masks must win
    for name, kernel in _kernels(model).items():
        assert np.all(kernel[zeros[name]] == 0.0) and not np.all(kernel == 0.0)
    assert compression.sparsity(model) == pytest.approx(reached)
    assert compression.sparsity(model, per_layer=True) == pytest.approx(per_layer)


def test_prune_names_conv_layers(rng):
    model, x, labels = trained_convnet(rng, n=64)
    conv1d = [l.name for l in model.layers if isinstance(l, numbanet.layers.Conv1D)]
    reached = compression.prune(model, sparsity=0.5, layers=conv1d)
    assert reached == pytest.approx(0.5, abs=0.02)
    assert compression.sparsity(model, layers=conv1d) == pytest.approx(reached)
    per_layer = compression.sparsity(model, per_layer=True)
    assert all(v == 0.0 for name, v in per_layer.items() if name not in conv1d)
    with pytest.raises(ValueError, match=r"no Dense, Conv1D or Conv2D layers named \['flatten'\]"):
        compression.prune(model, 0.5, layers=['flatten'])


def test_pruned_convnet_saves_its_masks(tmp_path, rng):
    model, x, labels = trained_convnet(rng)
    compression.prune(model, sparsity=0.5, scope='layer')
    model.save(tmp_path / 'p.safetensors')
    loaded = numbanet.models.load_model(tmp_path / 'p.safetensors')
    assert compression.sparsity(loaded, per_layer=True) == compression.sparsity(model, per_layer=True)
    for name, kernel in _kernels(model).items():
        np.testing.assert_array_equal(loaded.get_layer(name).kernel.mask, kernel != 0)
    loaded.fit(x, labels, epochs=2, verbose=0)
    assert compression.sparsity(loaded) == pytest.approx(compression.sparsity(model))
    compression.strip_pruning(loaded)
    loaded.fit(x, labels, epochs=1, verbose=0)
    assert compression.sparsity(loaded) < 0.1
    # Pruned, then quantized: the zeros stay zero in int8, and an int8 model is not pruned again.
    zeros = {name: k == 0 for name, k in _kernels(model).items()}
    before = compression.sparsity(model, per_layer=True)
    model.quantize('int8')
    for name, was_zero in zeros.items():
        kernel = model.get_layer(name).get_weights()[0]
        assert kernel.dtype == np.int8 and np.all(kernel[was_zero] == 0)
    # and sparsity still sees them (int8 rounding may add a few zeros of its own)
    after = compression.sparsity(model, per_layer=True)
    assert after.keys() == before.keys() and all(after[n] >= before[n] > 0 for n in before)
    with pytest.raises(ValueError, match='before quantize'):
        compression.prune(model, 0.5)
