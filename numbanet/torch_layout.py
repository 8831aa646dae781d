"""PyTorch's layout for a chain of layers: the state_dict of the equivalent torch.nn.Sequential. Dense is
Linear ('<i>.weight' shaped (out, in), '<i>.bias'), then its activation's module; BatchNormalization on
(batch, features) is BatchNorm1d (weight, bias, running_mean, running_var, num_batches_tracked);
LayerNormalization is LayerNorm; Dropout, Flatten and activation layers are modules without weights."""
import re

import numpy as np

from numbanet.backend import to_numpy
from numbanet.layers import (Activation, BatchNormalization, Dense, Dropout, Flatten, InputLayer,
                             LayerNormalization)

_KEY = re.compile(r'^(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$')


def is_state_dict(tensors):
    return bool(tensors) and all(_KEY.match(k) for k in tensors)


def _tensors(layer):
    """(torch key suffix, numbanet weight, transposed) for each tensor of the layer's module."""
    if isinstance(layer, Dense):
        return [('weight', layer.kernel, True)] + ([('bias', layer.bias, False)] if layer.use_bias else [])
    if isinstance(layer, (BatchNormalization, LayerNormalization)):
        if layer.scale != layer.center:
            raise ValueError(f"layer '{layer.name}': PyTorch's norms have both weight and bias (affine) or neither; "
                             f"scale={layer.scale}, center={layer.center} has no equivalent")
        affine = [('weight', layer.gamma, False), ('bias', layer.beta, False)] if layer.scale else []
        if isinstance(layer, LayerNormalization):
            return affine
        if len(layer.built_input_shape) != 1:
            raise ValueError(f"layer '{layer.name}': BatchNorm1d takes channels on axis 1; only a "
                             f"BatchNormalization of (batch, features) maps to it")
        return affine + [('running_mean', layer.moving_mean, False), ('running_var', layer.moving_variance, False)]
    return []


def modules(model):
    """(module index, layer) for each layer of the equivalent torch.nn.Sequential that holds weights."""
    graph = model.graph
    if any(len(ids) > 1 for ids in graph.in_ids) or len(graph.inputs) != 1:
        raise ValueError("PyTorch's layout describes a torch.nn.Sequential; this model is not a chain of layers")
    out, index = [], 0
    for node in graph.nodes:
        layer = node.layer
        if isinstance(layer, InputLayer):
            continue
        if isinstance(layer, (Dense, BatchNormalization, LayerNormalization)):
            _tensors(layer)  # refuses what has no equivalent
            out.append((index, layer))
            index += 1 if layer.activation.identity else 2  # the module, then its activation's
        elif isinstance(layer, (Activation, Dropout, Flatten)):
            index += 1
        else:
            raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}) has no torch.nn.Sequential equivalent")
    return out


def state_dict(model):
    tensors = {}
    for index, layer in modules(model):
        for suffix, weight, transposed in _tensors(layer):
            value = to_numpy(weight.value)
            tensors[f'{index}.{suffix}'] = value.T if transposed else value  # saving makes it contiguous
        if isinstance(layer, BatchNormalization):
            tensors[f'{index}.num_batches_tracked'] = np.zeros((), np.int64)
    return tensors


def pairs(model, tensors):
    """([(weight, array)], problems) for loading a state_dict into the model's layers, module by module
    in order (the file's module numbers may differ where activations sit differently)."""
    layers = modules(model)
    found_modules = sorted({int(_KEY.match(k).group(1)) for k in tensors if not k.endswith('num_batches_tracked')})
    if len(found_modules) != len(layers):
        return [], [f"the file holds weights for {len(found_modules)} modules, the model has {len(layers)} layers "
                    f"with weights"]
    found, problems, used = [], [], {k for k in tensors if k.endswith('num_batches_tracked')}
    for i, (_, layer) in zip(found_modules, layers):
        for suffix, weight, transposed in _tensors(layer):
            key = f'{i}.{suffix}'
            array = tensors.get(key)
            used.add(key)
            want = weight.shape[::-1] if transposed else weight.shape
            if array is None:
                problems.append(f"missing tensor '{key}' for layer '{layer.name}'")
            elif array.shape != want:
                problems.append(f"tensor '{key}' has shape {array.shape}; layer '{layer.name}' needs {want}")
            else:
                found.append((weight, array.T if transposed else array))
    problems += [f"extra tensor '{name}' matches no layer" for name in sorted(set(tensors) - used)]
    return found, problems
