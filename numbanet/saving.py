"""Model and weight files: safetensors tensors plus numbanet's metadata, written atomically, checked
completely before any weight of the model is touched. Never pickle.

A model file holds every weight under '<layer>/<weight>' (kernels (in, out), as in Keras), the optimizer's
state under 'optimizer/<slot>', and in its metadata the architecture and compile settings as JSON. A weights
file holds the weights alone, in numbanet's layout or in PyTorch's ('<i>.weight' shaped (out, in) and
'<i>.bias' for the i-th module of an equivalent torch.nn.Sequential).
"""
import json
import os
import re
import warnings

import numpy as np

from numbanet.backend import to_numpy
from numbanet.files import write_atomic

FORMAT = 'numbanet'
FORMAT_VERSION = '1'
_TORCH_KEY = re.compile(r'^(\d+)\.(weight|bias)$')


class SavedFileError(ValueError):
    """A file that is not a readable safetensors file, or whose contents do not fit the model."""


# ---- bytes on disk -------------------------------------------------------------------------------------------
def _save(path, tensors, metadata):
    from safetensors.numpy import save
    # safetensors 0.8 writes an array that is not C-contiguous (a transposed view, a slice) in the wrong
    # element order without complaint: every array goes in as a contiguous copy.
    tensors = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
    write_atomic(path, save(tensors, metadata={k: str(v) for k, v in metadata.items()}))


def _read(path):
    """(metadata, tensors) of a safetensors file, all float32, or SavedFileError naming what is wrong."""
    from safetensors import SafetensorError, safe_open
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with safe_open(path, framework='np') as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise SavedFileError(f"{path}: not a safetensors file, or a truncated or damaged one ({e})") from None
    for name, array in tensors.items():
        allowed = (np.uint8,) if name.startswith('mask/') else (np.float32, np.int8)
        if array.dtype not in allowed:
            raise SavedFileError(f"{path}: tensor '{name}' has dtype {array.dtype}; numbanet weights are float32 "
                                 f"(int8 for quantized kernels)")
    return metadata, tensors


def _extras(model):
    """Tensors beside the weights: each pruning mask as 'mask/<weight>' (uint8)."""
    return {f'mask/{w.name}': w.mask.astype(np.uint8) for w in model._weight_specs() if w.mask is not None}


def _split(tensors):
    """(weights, optimizer state, masks) of a file's tensors."""
    weights = {k: v for k, v in tensors.items() if not k.startswith(('optimizer/', 'mask/'))}
    state = {k[len('optimizer/'):]: v for k, v in tensors.items() if k.startswith('optimizer/')}
    masks = {k[len('mask/'):]: v for k, v in tensors.items() if k.startswith('mask/')}
    return weights, state, masks


def _restore_masks(model, masks, path):
    specs = {w.name: w for w in model._weight_specs()}
    for name, mask in masks.items():
        w = specs.get(name)
        if w is None or mask.shape != w.shape:
            raise SavedFileError(f"{path}: pruning mask '{name}' fits no weight of the model")
    for name, mask in masks.items():
        specs[name].mask = mask.astype(bool)


def _json(metadata, key, path):
    try:
        return json.loads(metadata[key])
    except (KeyError, json.JSONDecodeError) as e:
        raise SavedFileError(f"{path}: metadata '{key}' is missing or not JSON ({e})") from None


# ---- whole models --------------------------------------------------------------------------------------------
def save_model(model, path):
    from numbanet import architecture
    model._bind()
    tensors = {w.name: to_numpy(w.value) for w in model._weight_specs()}
    tensors.update(_extras(model))
    metadata = {'format': FORMAT, 'format_version': FORMAT_VERSION, 'kind': 'model', 'layout': 'numbanet',
                'model': json.dumps(architecture.model_config(model)),
                'compile': json.dumps(architecture.compile_config(model)),
                'weight_order': json.dumps([w.name for w in model._weight_specs()])}
    opt = model.optimizer
    if opt is not None and opt._params is model._params:
        for slot, array in opt.state_arrays().items():
            tensors[f'optimizer/{slot}'] = to_numpy(array)
        metadata['optimizer_iterations'] = str(opt.iterations)
    _save(path, tensors, metadata)


def load_model(path, compile=True, device='cpu'):
    """Rebuild a model saved by model.save(): architecture, weights, and (compile=True) its compile settings
    and optimizer state, so training continues where it stopped."""
    from numbanet import architecture
    metadata, tensors = _read(path)
    path = os.fspath(path)
    if metadata.get('format') != FORMAT:
        raise SavedFileError(f"{path}: not a numbanet model file (no numbanet metadata); weights of a known "
                             f"architecture load with model.load_weights()")
    if metadata.get('kind') != 'model':
        raise SavedFileError(f"{path}: holds weights only; build the model and call model.load_weights()")
    if metadata.get('format_version') != FORMAT_VERSION:
        raise SavedFileError(f"{path}: format version {metadata.get('format_version')!r}; this numbanet reads "
                             f"{FORMAT_VERSION}")
    try:
        model = architecture.build_model(_json(metadata, 'model', path), device)
    except architecture.ArchitectureError as e:
        raise SavedFileError(f"{path}: {e}") from None
    weights, state, masks = _split(tensors)
    pairs, problems = _by_name(model, weights)
    if problems:
        raise SavedFileError(f"{path}: " + '; '.join(problems))
    n_params = sum(w.size for w in model._weight_specs() if w.flat)
    for slot, array in state.items():
        if array.shape != (n_params,):
            raise SavedFileError(f"{path}: optimizer state '{slot}' has shape {array.shape}, the model has "
                                 f"{n_params} parameters")
    compile_config = _json(metadata, 'compile', path)
    _restore_masks(model, masks, path)
    for w, array in pairs:
        w.assign(array)
    if compile and compile_config is not None:
        try:
            architecture.compile_from_config(model, compile_config)
        except architecture.ArchitectureError as e:
            raise SavedFileError(f"{path}: {e}") from None
        if state:
            model._prepare_training()
            model.optimizer.load_state(state, int(metadata.get('optimizer_iterations', 0)))
    return model


# ---- weights only --------------------------------------------------------------------------------------------
def save_weights(model, path, layout='numbanet'):
    model._bind()
    if layout == 'numbanet':
        tensors = {w.name: to_numpy(w.value) for w in model._weight_specs()}
        tensors.update(_extras(model))
        order = [w.name for w in model._weight_specs()]
    elif layout == 'torch':
        tensors, order = _torch_tensors(model), None
    else:
        raise ValueError(f"layout must be 'numbanet' or 'torch', got {layout!r}")
    metadata = {'format': FORMAT, 'format_version': FORMAT_VERSION, 'kind': 'weights', 'layout': layout}
    if order:
        metadata['weight_order'] = json.dumps(order)
    _save(path, tensors, metadata)


def load_weights(model, path, skip_mismatch=False):
    """Weights into an existing model, by layer name; PyTorch-layout files by module order.

    Every problem (a missing or extra tensor, a shape that does not fit) is found before anything is
    written. With skip_mismatch=True what fits is loaded and the rest is skipped with a warning."""
    metadata, tensors = _read(path)
    path = os.fspath(path)
    model._bind()
    tensors, _, masks = _split(tensors)
    if tensors and all(_TORCH_KEY.match(k) for k in tensors):
        pairs, problems = _from_torch(model, tensors)
    else:
        pairs, problems = _by_name(model, tensors)
        if problems and not skip_mismatch and 'weight_order' in metadata:
            by_order = _by_order(model, tensors, _json(metadata, 'weight_order', path))
            if by_order is not None:
                pairs, problems = by_order, []
    if problems and not skip_mismatch:
        quantized_file = any(v.dtype == np.int8 for v in tensors.values())
        if quantized_file != any(w.dtype == np.int8 for w in model._weight_specs()):
            problems.insert(0, "the file holds int8 (quantized) kernels and the model does not, or the other way "
                               "round: quantize the model first, or rebuild it with load_model()"
                            if quantized_file else "the model is quantized and the file holds float kernels")
        raise SavedFileError(f"{path}: " + '; '.join(problems) + " (load_weights(..., skip_mismatch=True) loads "
                             "what fits)")
    if problems:
        warnings.warn(f"{path}: skipped " + '; '.join(problems), UserWarning, stacklevel=3)
    if masks:
        _restore_masks(model, masks, path)
    for w, array in pairs:
        w.assign(array)
    return [w.name for w, _ in pairs]


def _by_name(model, tensors):
    pairs, problems, used = [], [], set()
    for w in model._weight_specs():
        array = tensors.get(w.name)
        if array is None:
            problems.append(f"missing tensor '{w.name}'")
        elif array.shape != w.shape:
            problems.append(f"tensor '{w.name}' has shape {array.shape}, the model's weight has {w.shape}")
            used.add(w.name)
        elif array.dtype != w.dtype:
            problems.append(f"tensor '{w.name}' has dtype {array.dtype}, the model's weight is {w.dtype}"
                            + (" (the model is quantized; load into a quantized model)" if w.dtype == np.int8
                               or array.dtype == np.int8 else ''))
            used.add(w.name)
        else:
            pairs.append((w, array))
            used.add(w.name)
    problems += [f"extra tensor '{name}' matches no weight of the model" for name in sorted(set(tensors) - used)]
    return pairs, problems


def _by_order(model, tensors, order):
    # Keras's default: the same structure under other layer names (a model built anew) loads in order.
    specs = model._weight_specs()
    if not isinstance(order, list) or len(order) != len(specs) or set(order) != set(tensors):
        return None
    if any(tensors[name].shape != w.shape or tensors[name].dtype != w.dtype for name, w in zip(order, specs)):
        return None
    return [(w, tensors[name]) for name, w in zip(order, specs)]


# ---- PyTorch's layout ------------------------------------------------------------------------------------------
def _torch_modules(model):
    """(module index, Dense layer) for each Linear of the equivalent torch.nn.Sequential."""
    from numbanet.layers import Activation, Dense, InputLayer
    graph = model._graph
    if any(len(ids) > 1 for ids in graph.in_ids) or len(graph.inputs) != 1:
        raise ValueError("PyTorch's layout describes a torch.nn.Sequential; this model is not a chain of layers")
    out, index = [], 0
    for node in graph.nodes:
        layer = node.layer
        if isinstance(layer, InputLayer):
            continue
        if isinstance(layer, Dense):
            out.append((index, layer))
            index += 2 if layer.activation else 1  # Linear, then ReLU or Softmax
        elif isinstance(layer, Activation):
            index += 1
        else:
            raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}) has no torch.nn.Sequential equivalent")
    return out


def _torch_tensors(model):
    tensors = {}
    for index, dense in _torch_modules(model):
        tensors[f'{index}.weight'] = to_numpy(dense.kernel).T  # (out, in); _save makes it contiguous
        if dense.use_bias:
            tensors[f'{index}.bias'] = to_numpy(dense.bias)
    return tensors


def _from_torch(model, tensors):
    modules = _torch_modules(model)
    linear = sorted({int(_TORCH_KEY.match(k).group(1)) for k in tensors if k.endswith('.weight')})
    if len(linear) != len(modules):
        return [], [f"the file holds {len(linear)} Linear weights, the model has {len(modules)} Dense layers"]
    pairs, problems, used = [], [], set()
    for i, (_, dense) in zip(linear, modules):
        weight = tensors[f'{i}.weight']
        used.add(f'{i}.weight')
        if weight.shape != dense._kernel.shape[::-1]:
            problems.append(f"tensor '{i}.weight' has shape {weight.shape}; layer '{dense.name}' needs (out, in) = "
                            f"{dense._kernel.shape[::-1]}")
        else:
            pairs.append((dense._kernel, weight.T))
        if dense.use_bias:
            bias = tensors.get(f'{i}.bias')
            used.add(f'{i}.bias')
            if bias is None:
                problems.append(f"missing tensor '{i}.bias' for layer '{dense.name}'")
            elif bias.shape != dense._bias.shape:
                problems.append(f"tensor '{i}.bias' has shape {bias.shape}, layer '{dense.name}' needs "
                                f"{dense._bias.shape}")
            else:
                pairs.append((dense._bias, bias))
    problems += [f"extra tensor '{name}' matches no layer" for name in sorted(set(tensors) - used)]
    return pairs, problems
