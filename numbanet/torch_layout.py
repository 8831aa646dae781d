"""PyTorch's layout for a chain of layers: the state_dict of the equivalent torch.nn.Sequential, whose modules
are, layer by layer ('<i>' the module's index):

  Dense                    Linear ('<i>.weight' (out, in), '<i>.bias'), then its activation's module
  Conv2D, Conv1D           Conv2d, Conv1d ('<i>.weight' (out, in, kh, kw) or (out, in, k), '<i>.bias'), then its
                           activation's module; padding 0, p on both sides alike, or 'same' at stride 1
  BatchNormalization       BatchNorm1d on (batch, features) and (batch, C, L), BatchNorm2d on images (weight, bias,
                           running_mean, running_var, num_batches_tracked; eps=layer.epsilon)
  LayerNormalization       LayerNorm (weight, bias)
  Max/AveragePooling       MaxPool, AvgPool(count_include_pad=False); padding 0 or p on both sides alike
  GlobalMax/AveragePooling AdaptiveMaxPool(1), AdaptiveAvgPool(1), then Flatten() (two modules) unless keepdims
  ZeroPadding2D            ZeroPad2d((left, right, top, bottom))
  Dropout, Flatten, activation layers: modules without weights.

A model with convolutions or pools takes its images channels-first in PyTorch, (N, C, H, W) where numbanet
takes (N, H, W, C), so PyTorch's Flatten orders the features (C, H, W) where numbanet's orders them (H, W, C):
the Dense after it (and any normalization between) has its input features reordered both ways, so the two
compute one function. PyTorch pads a window's two sides alike, except Conv's padding='same' (stride 1 only),
which puts the odd cell after as Keras does; a layer whose padding differs ('causal', or 'same' with a stride
and an odd total) has no equivalent module and is refused.
"""
import re

import numpy as np

from numbanet.backend import to_numpy
from numbanet.layers import (Activation, AveragePooling1D, AveragePooling2D, BatchNormalization, Conv1D, Conv2D, Dense,
                             Dropout, Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
                             GlobalMaxPooling2D, InputLayer, LayerNormalization, MaxPooling1D, MaxPooling2D,
                             ZeroPadding2D)
from numbanet.layers.windows import window_pads

_KEY = re.compile(r'^(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$')
_POOLS = (AveragePooling1D, AveragePooling2D, MaxPooling1D, MaxPooling2D)
_GLOBAL_POOLS = (GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D)
_SPATIAL = (Conv1D, Conv2D, ZeroPadding2D) + _POOLS + _GLOBAL_POOLS


def is_state_dict(tensors):
    return bool(tensors) and all(_KEY.match(k) for k in tensors)


class _Tensor:
    """One weight as PyTorch holds it: its axes in PyTorch's order (`axes` of numbanet's), then, where
    PyTorch's flat features come in another order, the last axis reordered: PyTorch's feature j is
    numbanet's features[j]."""

    def __init__(self, suffix, weight, axes=(0,), features=None):
        self.suffix, self.weight, self.axes, self.features = suffix, weight, tuple(axes), features
        self.shape = tuple(weight.shape[a] for a in self.axes)

    def to_torch(self, value):
        value = value.transpose(self.axes)
        return value if self.features is None else value[..., self.features]  # saving makes it contiguous

    def from_torch(self, array):
        if self.features is not None:
            array = array[..., np.argsort(self.features)]
        return array.transpose(np.argsort(self.axes))


def _check_padding(layer, shape, spans):
    """Refuse a convolution or pool whose padding (by Keras's rule, layers/windows.window_pads) PyTorch's module
    cannot make: it pads both sides alike, but for Conv's padding='same' at stride 1, the odd cell after."""
    pads = [window_pads(layer, size, span, stride, layer.padding)
            for size, span, stride in zip(shape[:-1], spans, layer.strides)]
    if all(before == after for before, after in pads):
        return
    if isinstance(layer, (Conv1D, Conv2D)) and layer.padding == 'same' and max(layer.strides) == 1:
        return
    hint = (" (a ZeroPadding2D before it and padding='valid' compute the same and map)"
            if isinstance(layer, Conv2D) else "")
    raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}, padding='{layer.padding}', "
                     f"strides={layer.strides}) pads (before, after) {pads} on its input {shape}; PyTorch's modules "
                     f"pad both sides alike, but for Conv's padding='same', which takes only stride 1, so it has "
                     f"no torch.nn.Sequential equivalent{hint}")


def modules(model):
    """(module index, layer, its weights as PyTorch holds them) for each layer of the equivalent
    torch.nn.Sequential that holds weights; a ValueError for a layer that has no equivalent module."""
    graph = model.graph
    if any(len(ids) > 1 for ids in graph.in_ids) or len(graph.inputs) != 1:
        raise ValueError("PyTorch's layout describes a torch.nn.Sequential; this model is not a chain of layers")
    chain = [(node.layer, graph.tensors[ids[0]].shape[1:]) for node, ids in zip(graph.nodes, graph.in_ids)
             if not isinstance(node.layer, InputLayer)]
    images = any(isinstance(layer, _SPATIAL) for layer, _ in chain)  # then PyTorch takes them channels-first
    features = None  # PyTorch's order of numbanet's flat features where it differs (after a Flatten of images)
    out, index = [], 0
    for layer, shape in chain:
        channels_first = images and len(shape) > 1
        tensors, count = [], 1
        if isinstance(layer, Dense):
            tensors = [_Tensor('weight', layer.kernel, (1, 0), features)]
            tensors += [_Tensor('bias', layer.bias)] if layer.use_bias else []
            features = None
        elif isinstance(layer, (Conv1D, Conv2D)):
            _check_padding(layer, shape, [d * (k - 1) + 1 for k, d in zip(layer.kernel_size, layer.dilation_rate)])
            n = layer.rank
            tensors = [_Tensor('weight', layer.kernel, (n + 1, n) + tuple(range(n)))]  # (out, in, k...)
            tensors += [_Tensor('bias', layer.bias)] if layer.use_bias else []
        elif isinstance(layer, (BatchNormalization, LayerNormalization)):
            tensors = _norm_tensors(layer, shape, channels_first, features)
        elif isinstance(layer, _POOLS):
            _check_padding(layer, shape, layer.pool_size)
        elif isinstance(layer, _GLOBAL_POOLS):
            count = 1 if layer.keepdims else 2  # AdaptiveAvgPool2d(1), then Flatten()
        elif isinstance(layer, Flatten) and channels_first:
            # PyTorch flattens (C, H, W): its feature j is numbanet's (H, W, C)-ordered feature features[j].
            order = np.arange(int(np.prod(shape))).reshape(shape)
            features = order.transpose((len(shape) - 1,) + tuple(range(len(shape) - 1))).reshape(-1)
        elif not isinstance(layer, (Activation, Dropout, Flatten, ZeroPadding2D)):
            raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}) has no torch.nn.Sequential equivalent")
        if tensors:
            out.append((index, layer, tensors))
            count += 0 if layer.activation.identity else 1  # the module, then its activation's
        index += count
    return out


def _norm_tensors(layer, shape, channels_first, features):
    if layer.scale != layer.center:
        raise ValueError(f"layer '{layer.name}': PyTorch's norms have both weight and bias (affine) or neither; "
                         f"scale={layer.scale}, center={layer.center} has no equivalent")
    if isinstance(layer, LayerNormalization) and channels_first:
        raise ValueError(f"layer '{layer.name}': LayerNorm normalizes the last axes, and PyTorch holds this "
                         f"input {shape} channels-first, so no LayerNorm normalizes its channels alone")
    if isinstance(layer, BatchNormalization) and len(shape) > 1 and not channels_first:
        raise ValueError(f"layer '{layer.name}': BatchNorm1d takes channels on axis 1; only a "
                         f"BatchNormalization of (batch, features) or of images maps to it")
    tensors = ([_Tensor('weight', layer.gamma, features=features), _Tensor('bias', layer.beta, features=features)]
               if layer.scale else [])
    if isinstance(layer, BatchNormalization):
        tensors += [_Tensor('running_mean', layer.moving_mean, features=features),
                    _Tensor('running_var', layer.moving_variance, features=features)]
    return tensors


def state_dict(model):
    tensors = {}
    for index, layer, layer_tensors in modules(model):
        for t in layer_tensors:
            tensors[f'{index}.{t.suffix}'] = t.to_torch(to_numpy(t.weight.value))
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
    for i, (_, layer, layer_tensors) in zip(found_modules, layers):
        for t in layer_tensors:
            key = f'{i}.{t.suffix}'
            array = tensors.get(key)
            used.add(key)
            if array is None:
                problems.append(f"missing tensor '{key}' for layer '{layer.name}'")
            elif array.shape != t.shape:
                problems.append(f"tensor '{key}' has shape {array.shape}; layer '{layer.name}' needs {t.shape}")
            else:
                found.append((t.weight, t.from_torch(array)))
    problems += [f"extra tensor '{name}' matches no layer" for name in sorted(set(tensors) - used)]
    return found, problems
