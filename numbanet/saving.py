"""Model and weight files: safetensors tensors plus numbanet's metadata, written atomically, checked
completely before any weight of the model is touched. Never pickle.

A model file holds every weight under '<layer>/<weight>' (kernels (in, out), as in Keras), each pruning mask
under 'mask/<layer>/<weight>', the optimizer's state under 'optimizer/<slot>', and in its metadata the
architecture (model.get_config()) and compile settings as JSON. A weights file holds the weights alone, in
numbanet's layout or in PyTorch's (torch_layout.py). Rebuilding a model from a file is
numbanet.models.load_model, which sits above Model and this module.
"""
import json
import os
import warnings

import numpy as np

from safetensors import SafetensorError, safe_open
from safetensors.numpy import save

from numbanet import torch_layout
from numbanet.backend import to_numpy
from numbanet.files import write_atomic

FORMAT = 'numbanet'
FORMAT_VERSION = '1'


class SavedFileError(ValueError):
    """A file that is not a readable safetensors file, or whose contents do not fit the model."""


# ---- bytes on disk -------------------------------------------------------------------------------------------
def _save(path, tensors, metadata):
    # safetensors 0.8 writes an array that is not C-contiguous (a transposed view, a slice) in the wrong
    # element order without complaint: every array goes in as a contiguous copy.
    # (ascontiguousarray turns a 0-d array into a 1-d one: the shape is put back.)
    tensors = {name: np.ascontiguousarray(array).reshape(np.shape(array)) for name, array in tensors.items()}
    write_atomic(path, save(tensors, metadata={k: str(v) for k, v in metadata.items()}))


def _read(path):
    """(metadata, tensors) of a safetensors file, all float32, or SavedFileError naming what is wrong."""
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
        allowed = ((np.uint8,) if name.startswith('mask/') else (np.float32,) if name.startswith('optimizer/')
                   else (np.int64,) if name.endswith('.num_batches_tracked')  # PyTorch's BatchNorm counter
                   else (np.float32, np.int8))
        if array.dtype not in allowed:
            raise SavedFileError(f"{path}: tensor '{name}' has dtype {array.dtype}; numbanet weights are float32 "
                                 f"(int8 for quantized kernels)")
    return metadata, tensors


def _weight_tensors(model):
    """Every weight by name, and each pruning mask as 'mask/<weight>' (uint8)."""
    weights = model.parameters.weights
    tensors = {w.name: to_numpy(w.value) for w in weights}
    tensors.update({f'mask/{w.name}': w.mask.astype(np.uint8) for w in weights if w.mask is not None})
    return tensors


def _split(tensors):
    """(weights, optimizer state, masks) of a file's tensors."""
    weights = {k: v for k, v in tensors.items() if not k.startswith(('optimizer/', 'mask/'))}
    state = {k[len('optimizer/'):]: v for k, v in tensors.items() if k.startswith('optimizer/')}
    masks = {k[len('mask/'):]: v for k, v in tensors.items() if k.startswith('mask/')}
    return weights, state, masks


def _check_masks(model, masks, path):
    specs = {w.name: w for w in model.parameters.weights}
    for name, mask in masks.items():
        w = specs.get(name)
        if w is None or mask.shape != w.shape:
            raise SavedFileError(f"{path}: pruning mask '{name}' fits no weight of the model")
    return [(specs[name], mask.astype(bool)) for name, mask in masks.items()]


def _json(metadata, key, path):
    try:
        return json.loads(metadata[key])
    except (KeyError, json.JSONDecodeError) as e:
        raise SavedFileError(f"{path}: metadata '{key}' is missing or not JSON ({e})") from None
    except RecursionError:
        raise SavedFileError(f"{path}: metadata '{key}' is nested too deeply to be a model") from None


# ---- whole models --------------------------------------------------------------------------------------------
def _config_json(model):
    config = model.get_config()
    try:
        return json.dumps(config)
    except (TypeError, ValueError):
        for layer, entry in zip(model.graph.layers, config['layers']):
            try:
                json.dumps(entry)
            except (TypeError, ValueError) as e:
                raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}): get_config() must return JSON "
                                 f"values (numbers, strings, lists, dicts) to be saved: {e}") from None
        raise


def save_model(model, path):
    tensors = _weight_tensors(model)
    metadata = {'format': FORMAT, 'format_version': FORMAT_VERSION, 'kind': 'model', 'layout': 'numbanet',
                'model': _config_json(model), 'compile': json.dumps(model.get_compile_config()),
                'weight_order': json.dumps([w.name for w in model.parameters.weights]),
                # Where shuffling stands: the next epoch after loading draws the order it would have drawn.
                'rng_state': json.dumps(model.rng.bit_generator.state)}
    opt = model.optimizer
    state = opt.state_for(model.parameters) if opt is not None else None
    if state is not None:
        tensors.update({f'optimizer/{slot}': to_numpy(array) for slot, array in state.items()})
        metadata['optimizer_iterations'] = str(opt.iterations)
    _save(path, tensors, metadata)


class SavedModel:
    """What a model file holds, read and checked as far as it can be without the model."""

    def __init__(self, path):
        metadata, tensors = _read(path)
        self.path = path = os.fspath(path)
        if metadata.get('format') != FORMAT:
            raise SavedFileError(f"{path}: not a numbanet model file (no numbanet metadata); weights of a known "
                                 f"architecture load with model.load_weights()")
        if metadata.get('kind') != 'model':
            raise SavedFileError(f"{path}: holds weights only; build the model and call model.load_weights()")
        if metadata.get('format_version') != FORMAT_VERSION:
            raise SavedFileError(f"{path}: format version {metadata.get('format_version')!r}; this numbanet reads "
                                 f"{FORMAT_VERSION}")
        self.config = _json(metadata, 'model', path)
        self.compile_config = _json(metadata, 'compile', path)
        self.weights, self.optimizer_state, self.masks = _split(tensors)
        self.rng_state = _json(metadata, 'rng_state', path) if 'rng_state' in metadata else None
        iterations = metadata.get('optimizer_iterations', '0')
        if not iterations.isdigit() or int(iterations) >= 2**53:
            raise SavedFileError(f"{path}: optimizer_iterations must be a whole number of steps, got {iterations!r}")
        self.iterations = int(iterations)

    def restore_weights(self, model):
        """Weights and masks into a model rebuilt from self.config; everything is checked first."""
        pairs, problems = _by_name(model, self.weights)
        if problems:
            raise SavedFileError(f"{self.path}: " + '; '.join(problems))
        n_params = model.parameters.values.shape[0]
        for slot, array in self.optimizer_state.items():
            if array.shape != (n_params,):
                raise SavedFileError(f"{self.path}: optimizer state '{slot}' has shape {array.shape}, the model "
                                     f"has {n_params} parameters")
        rng = np.random.Generator(type(model.rng.bit_generator)())
        if self.rng_state is not None:
            try:
                rng.bit_generator.state = self.rng_state
            except (TypeError, ValueError, KeyError) as e:
                raise SavedFileError(f"{self.path}: rng_state is not a {type(rng.bit_generator).__name__} state "
                                     f"({type(e).__name__}: {e})") from None
        for w, mask in _check_masks(model, self.masks, self.path):
            w.mask = mask
        for w, array in pairs:
            w.assign(array)
        if self.rng_state is not None:
            model.rng.bit_generator.state = rng.bit_generator.state


# ---- weights only --------------------------------------------------------------------------------------------
def save_weights(model, path, layout='numbanet'):
    if layout == 'numbanet':
        tensors = _weight_tensors(model)
        order = [w.name for w in model.parameters.weights]
    elif layout == 'torch':
        tensors, order = torch_layout.state_dict(model), None
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
    tensors, _, masks = _split(tensors)
    if torch_layout.is_state_dict(tensors):
        pairs, problems = torch_layout.pairs(model, tensors)
    else:
        pairs, problems = _by_name(model, tensors)
        if problems and not skip_mismatch and 'weight_order' in metadata:
            by_order = _by_order(model, tensors, _json(metadata, 'weight_order', path))
            if by_order is not None:
                pairs, problems = by_order, []
    if problems and not skip_mismatch:
        quantized_file = any(v.dtype == np.int8 for v in tensors.values())
        if quantized_file != any(w.dtype == np.int8 for w in model.parameters.weights):
            problems.insert(0, "the file holds int8 (quantized) kernels and the model does not, or the other way "
                               "round: quantize the model first, or rebuild it with load_model()"
                            if quantized_file else "the model is quantized and the file holds float kernels")
        raise SavedFileError(f"{path}: " + '; '.join(problems) + " (load_weights(..., skip_mismatch=True) loads "
                             "what fits)")
    if problems:
        warnings.warn(f"{path}: skipped " + '; '.join(problems), UserWarning, stacklevel=3)
    for w, mask in _check_masks(model, masks, path):
        w.mask = mask
    for w, array in pairs:
        w.assign(array)
    return [w.name for w, _ in pairs]


def _by_name(model, tensors):
    pairs, problems, used = [], [], set()
    for w in model.parameters.weights:
        array = tensors.get(w.name)
        if array is not None and array.shape == w.shape and array.dtype == w.dtype:
            try:
                w.checked(array)
            except ValueError as e:
                problems.append(str(e))
                used.add(w.name)
                continue
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
    specs = model.parameters.weights
    if not isinstance(order, list) or len(order) != len(specs) or set(order) != set(tensors):
        return None
    if any(tensors[name].shape != w.shape or tensors[name].dtype != w.dtype for name, w in zip(order, specs)):
        return None
    return [(w, tensors[name]) for name, w in zip(order, specs)]
