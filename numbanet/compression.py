"""Making a trained model cheaper: magnitude pruning here; knowledge distillation in distillation.py
(Distiller and DistillationLoss are importable from here too); int8 is model.quantize('int8'), as in Keras
(quantization.py)."""
import numpy as np

from numbanet.backend import to_numpy
from numbanet.checks import is_number
from numbanet.distillation import DistillationLoss, Distiller
from numbanet.layers import Conv1D, Conv2D, Dense
from numbanet.quantization import INT8_LAYERS

__all__ = ['prune', 'sparsity', 'strip_pruning', 'Distiller', 'DistillationLoss']


# ---- pruning -------------------------------------------------------------------------------------------------
# The layers whose kernels are pruned (subclasses included): their `kernel` weight, never the bias.
PRUNABLE = (Dense, Conv1D, Conv2D)


def _pruned_layers(model, layers, what, kinds=PRUNABLE):
    """The model's layers of these kinds (Dense and convolutions), those named in `layers` only when given."""
    if not model.built:
        raise ValueError(f"model '{model.name}' is not built yet, so there is {what}")
    found = [layer for layer in model.layers if isinstance(layer, kinds)]
    if layers is None:
        return found, set()
    names = {layer if isinstance(layer, str) else layer.name for layer in layers}
    return [layer for layer in found if layer.name in names], names - {layer.name for layer in found}


def _kernels(model, layers=None):
    found, unknown = _pruned_layers(model, layers, 'nothing to prune')
    if any(isinstance(layer, INT8_LAYERS) for layer in model.layers):
        raise ValueError("prune before quantize(): int8 kernels cannot be pruned")
    if unknown:
        raise ValueError(f"no Dense, Conv1D or Conv2D layers named {sorted(unknown)} in model '{model.name}'")
    if not found:
        raise ValueError(f"model '{model.name}' has no Dense or convolution kernels to prune")
    return [layer.kernel for layer in found]


def prune(model, sparsity=0.5, scope='global', layers=None):
    """Zero the smallest-magnitude weights of the Dense, Conv2D and Conv1D kernels (biases are kept) and keep
    them zero through later training: the optimizer's step is followed by the mask every time.

    scope='global' ranks all kernels together (layers keep different shares); 'layer' prunes each kernel
    to the same sparsity. Pruning again only adds zeros. Returns the sparsity reached."""
    if not is_number(sparsity) or not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
    if scope not in ('global', 'layer'):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    kernels = _kernels(model, layers)
    values = [np.abs(to_numpy(w.value)) for w in kernels]
    if scope == 'global':
        everything = np.concatenate([v.ravel() for v in values])
        cut = int(round(sparsity * everything.size))
        thresholds = [np.partition(everything, cut - 1)[cut - 1] if cut else -1.0] * len(values)
    else:
        thresholds = []
        for v in values:
            cut = int(round(sparsity * v.size))
            thresholds.append(np.partition(v.ravel(), cut - 1)[cut - 1] if cut else -1.0)
    for w, v, threshold in zip(kernels, values, thresholds):
        keep = v > threshold
        if w.mask is not None:
            keep &= w.mask
        w.mask = keep
        w.assign(np.where(keep, to_numpy(w.value), 0.0).astype(np.float32))
    return _zero_fraction(model, layers, False)


def sparsity(model, layers=None, per_layer=False):
    """Fraction of the Dense and convolution kernels' weights that are exactly zero (per layer name with
    per_layer=True)."""
    return _zero_fraction(model, layers, per_layer)


def _zero_fraction(model, layers, per_layer):
    # int8 layers count too: a kernel pruned before quantize() keeps its zeros as int8 zeros.
    found, _ = _pruned_layers(model, layers, 'no sparsity to measure', PRUNABLE + INT8_LAYERS)
    zeros = {layer.name: (int((to_numpy(layer.kernel.value) == 0).sum()), layer.kernel.size) for layer in found}
    if per_layer:
        return {name: z / n for name, (z, n) in zeros.items()}
    total = sum(n for _, n in zeros.values())
    return sum(z for z, _ in zeros.values()) / total if total else 0.0


def strip_pruning(model):
    """Forget the masks: the zeros stay, but later training may move them again."""
    for w in model.parameters.weights:
        w.mask = None
