"""PyTorch's layout for a chain of Dense layers: the state_dict of the equivalent torch.nn.Sequential,
'<i>.weight' shaped (out, in) and '<i>.bias' for the i-th module (Linear, then ReLU or Softmax)."""
import re

from numbanet.backend import to_numpy
from numbanet.layers import Activation, Dense, InputLayer

_KEY = re.compile(r'^(\d+)\.(weight|bias)$')


def is_state_dict(tensors):
    return bool(tensors) and all(_KEY.match(k) for k in tensors)


def modules(model):
    """(module index, Dense layer) for each Linear of the equivalent torch.nn.Sequential."""
    graph = model.graph
    if any(len(ids) > 1 for ids in graph.in_ids) or len(graph.inputs) != 1:
        raise ValueError("PyTorch's layout describes a torch.nn.Sequential; this model is not a chain of layers")
    out, index = [], 0
    for node in graph.nodes:
        layer = node.layer
        if isinstance(layer, InputLayer):
            continue
        if isinstance(layer, Dense):
            out.append((index, layer))
            index += 1 if layer.activation.identity else 2  # Linear, then ReLU or Softmax
        elif isinstance(layer, Activation):
            index += 1
        else:
            raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}) has no torch.nn.Sequential equivalent")
    return out


def state_dict(model):
    tensors = {}
    for index, dense in modules(model):
        tensors[f'{index}.weight'] = to_numpy(dense.kernel.value).T  # (out, in); saving makes it contiguous
        if dense.use_bias:
            tensors[f'{index}.bias'] = to_numpy(dense.bias.value)
    return tensors


def pairs(model, tensors):
    """([(weight, array)], problems) for loading a state_dict into the model's Dense layers."""
    layers = modules(model)
    linear = sorted({int(_KEY.match(k).group(1)) for k in tensors if k.endswith('.weight')})
    if len(linear) != len(layers):
        return [], [f"the file holds {len(linear)} Linear weights, the model has {len(layers)} Dense layers"]
    found, problems, used = [], [], set()
    for i, (_, dense) in zip(linear, layers):
        weight = tensors[f'{i}.weight']
        used.add(f'{i}.weight')
        if weight.shape != dense.kernel.shape[::-1]:
            problems.append(f"tensor '{i}.weight' has shape {weight.shape}; layer '{dense.name}' needs (out, in) = "
                            f"{dense.kernel.shape[::-1]}")
        else:
            found.append((dense.kernel, weight.T))
        if dense.use_bias:
            bias = tensors.get(f'{i}.bias')
            used.add(f'{i}.bias')
            if bias is None:
                problems.append(f"missing tensor '{i}.bias' for layer '{dense.name}'")
            elif bias.shape != dense.bias.shape:
                problems.append(f"tensor '{i}.bias' has shape {bias.shape}, layer '{dense.name}' needs "
                                f"{dense.bias.shape}")
            else:
                found.append((dense.bias, bias))
    problems += [f"extra tensor '{name}' matches no layer" for name in sorted(set(tensors) - used)]
    return found, problems
