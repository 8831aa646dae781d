"""Model and weight files: safetensors tensors plus numbanet's metadata, written atomically, checked
completely before any weight of the model is touched. Never pickle.

A model file holds every weight under '<layer>/<weight>' (kernels (in, out), as in Keras), each pruning mask
under 'mask/<layer>/<weight>', the optimizer's state under 'optimizer/state/<slot>', and in its metadata the
architecture (model.get_config()) and compile settings as JSON. Neither part of a weight's name holds a '/',
so the bookkeeping names (three parts) never collide with a weight's, whatever the layers are called. A
weights file holds the weights alone, in numbanet's layout or in PyTorch's (torch_layout.py). Rebuilding a
model from a file is numbanet.models.load_model, which sits above Model and this module.
"""
import json
import os
import re
import warnings

import numpy as np

from safetensors import SafetensorError, safe_open
from safetensors.numpy import save

from numbanet import torch_layout
from numbanet.backend import to_numpy
from numbanet.files import write_atomic

FORMAT = 'numbanet'
FORMAT_VERSION = '2'
# Where each version keeps the optimizer's state. Version 1's 'optimizer/<slot>' is also the name of a weight
# of a layer called 'optimizer'; it is still read, as no layer could take that name when it was written.
_STATE_PREFIX = {'1': 'optimizer/', '2': 'optimizer/state/'}
# A config is a few levels deep and rarely a megabyte: these bound what json.loads does with a crafted file.
MAX_JSON_CHARS = 64 << 20
MAX_JSON_DEPTH = 64
# Slots holding running averages of squared (or absolute) gradients: a negative entry turns the next step's
# square root into NaN. Optimizers do not declare theirs, so the names are listed here: these for any
# optimizer, and per class where a name means a square only there (SGD's velocity may be negative).
NON_NEGATIVE_SLOTS = frozenset({'v', 'v_hat', 'u', 'accumulator'})
NON_NEGATIVE_BY_CLASS = {'RMSprop': frozenset({'velocity'})}


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
    """(metadata, weights, optimizer state, masks) of a safetensors file, each tensor's dtype checked, or
    SavedFileError naming what is wrong. safetensors checks every tensor against the file's length, so
    what this holds in memory is bounded by the file's size."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):  # a folder, or a pipe that open() would wait on
        raise SavedFileError(f"{path}: not a regular file")
    with open(path, 'rb'):  # the system's own error: safetensors calls an unreadable file "not found"
        pass
    try:
        with safe_open(path, framework='np') as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as e:  # TypeError: a dtype numpy lacks (bfloat16)
        raise SavedFileError(f"{path}: not a safetensors file, or a truncated or damaged one, or one holding a "
                             f"dtype numbanet does not use ({type(e).__name__}: {e})") from None
    version = metadata.get('format_version') if metadata.get('format') == FORMAT else FORMAT_VERSION
    if version not in _STATE_PREFIX:
        raise SavedFileError(f"{path}: format version {version!r}; this numbanet reads versions "
                             f"{', '.join(_STATE_PREFIX)}")
    for name, array in tensors.items():
        kind = _kind(name, version)
        allowed = ((np.uint8,) if kind == 'mask' else (np.float32,) if kind == 'state'
                   else (np.int64,) if name.endswith('.num_batches_tracked')  # PyTorch's BatchNorm counter
                   else (np.float32, np.int8))
        if array.dtype not in allowed:
            hint = "; convert the file's tensors with .astype('float32')" if kind == 'weight' else ''
            raise SavedFileError(f"{path}: tensor '{name}' has dtype {array.dtype}; numbanet weights are float32 "
                                 f"(int8 for quantized kernels){hint}")
    return (metadata, *_split(tensors, version))


def _weight_tensors(model):
    """Every weight by name, and each pruning mask as 'mask/<weight>' (uint8)."""
    weights = model.parameters.weights
    tensors = {w.name: to_numpy(w.value) for w in weights}
    tensors.update({f'mask/{w.name}': w.mask.astype(np.uint8) for w in weights if w.mask is not None})
    return tensors


def _kind(name, version):
    """'mask', 'state' (the optimizer's) or 'weight': by the number of '/'-separated parts, as no weight name
    ('<layer>/<weight>') has more than two, whatever its layer is called."""
    prefix = _STATE_PREFIX[version]
    if name.startswith('mask/') and name.count('/') == 2:
        return 'mask'
    if name.startswith(prefix) and name.count('/') == prefix.count('/'):
        return 'state'
    return 'weight'


def _split(tensors, version):
    """(weights, optimizer state, masks) of a file's tensors."""
    weights, state, masks = {}, {}, {}
    prefix = _STATE_PREFIX[version]
    for name, array in tensors.items():
        kind = _kind(name, version)
        if kind == 'mask':
            masks[name[len('mask/'):]] = array
        elif kind == 'state':
            state[name[len(prefix):]] = array
        else:
            weights[name] = array
    return weights, state, masks


def _check_state(state, path, optimizer_class):
    # What set_weights refuses for weights, for the optimizer's slots: one NaN spreads to every weight in a step.
    non_negative = NON_NEGATIVE_SLOTS | NON_NEGATIVE_BY_CLASS.get(optimizer_class, frozenset())
    for slot, array in state.items():
        if not np.isfinite(array).all():
            raise SavedFileError(f"{path}: optimizer state '{slot}' holds NaN or infinity")
        if slot in non_negative and (array < 0).any():
            raise SavedFileError(f"{path}: optimizer state '{slot}' holds negative values; it averages squares, "
                                 f"which cannot be negative")


def _check_masks(weights, masks, path):
    specs = {w.name: w for w in weights}
    for name, mask in masks.items():
        w = specs.get(name)
        if w is None or mask.shape != w.shape:
            raise SavedFileError(f"{path}: pruning mask '{name}' fits no weight of the model")
    return [(specs[name], mask.astype(bool)) for name, mask in masks.items()]


def _refuse(path, problems, hint='', shown=10):
    # A crafted file can miss thousands of tensors: the first few name the problem.
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ''
    return SavedFileError(f"{path}: " + '; '.join(problems[:shown]) + more + hint)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = np.zeros(256, np.int8)
_BRACKETS[[ord('['), ord('{')]], _BRACKETS[[ord(']'), ord('}')]] = 1, -1


def _depth(text):
    """How deeply text's JSON arrays and objects nest, counted without parsing it (brackets in strings skipped)."""
    codes = np.frombuffer(_STRING.sub('', text).encode('utf-8', 'surrogatepass'), np.uint8)
    return int(np.cumsum(_BRACKETS[codes], dtype=np.int64).max(initial=0))


def _json(metadata, key, path):
    text = metadata.get(key)
    if text is None:
        raise SavedFileError(f"{path}: metadata '{key}' is missing or not JSON")
    if len(text) > MAX_JSON_CHARS:
        raise SavedFileError(f"{path}: metadata '{key}' is {len(text):,} characters, more than any config "
                             f"(at most {MAX_JSON_CHARS:,})")
    if _depth(text) > MAX_JSON_DEPTH:
        raise SavedFileError(f"{path}: metadata '{key}' is nested too deeply to be a model (more than "
                             f"{MAX_JSON_DEPTH} levels)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SavedFileError(f"{path}: metadata '{key}' is missing or not JSON ({e})") from None


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


_FOREIGN_SUFFIXES = ('.keras', '.h5', '.hdf5')


def check_suffix(path):
    """Refuse a name that promises Keras's own formats: a file written under it would be safetensors,
    which Keras (and h5py) cannot open."""
    path = os.fspath(path)
    stem, suffix = os.path.splitext(path)
    if suffix.lower() in _FOREIGN_SUFFIXES:
        raise ValueError(f"{path}: numbanet writes safetensors files, not Keras's {suffix} format; name the "
                         f"file with the .safetensors suffix, e.g. {stem + '.safetensors'!r}")


def save_model(model, path, training=None):
    """training: a JSON-able dict of where fit stands (BackupAndRestore's epoch), kept in the same file so
    one atomic write covers it and the weights."""
    check_suffix(path)
    tensors = _weight_tensors(model)
    metadata = {'format': FORMAT, 'format_version': FORMAT_VERSION, 'kind': 'model', 'layout': 'numbanet',
                'model': _config_json(model), 'compile': json.dumps(model.get_compile_config()),
                'weight_order': json.dumps([w.name for w in model.parameters.weights]),
                # Where shuffling stands: the next epoch after loading draws the order it would have drawn.
                'rng_state': json.dumps(model.rng.bit_generator.state)}
    opt = model.optimizer
    state = opt.state_for(model.parameters) if opt is not None else None
    if state is not None:
        tensors.update({_STATE_PREFIX[FORMAT_VERSION] + slot: to_numpy(array) for slot, array in state.items()})
        metadata['optimizer_iterations'] = str(opt.iterations)
    if training is not None:
        metadata['training'] = json.dumps(training)
    _save(path, tensors, metadata)


class SavedModel:
    """What a model file holds, read and checked as far as it can be without the model."""

    def __init__(self, path):
        metadata, self.weights, self.optimizer_state, self.masks = _read(path)
        self.path = path = os.fspath(path)
        if metadata.get('format') != FORMAT:
            raise SavedFileError(f"{path}: not a numbanet model file (no numbanet metadata); weights of a known "
                                 f"architecture load with model.load_weights()")
        if metadata.get('kind') != 'model':
            raise SavedFileError(f"{path}: holds weights only; build the model and call model.load_weights()")
        self.config = _json(metadata, 'model', path)
        self.compile_config = _json(metadata, 'compile', path)
        self.rng_state = _json(metadata, 'rng_state', path) if 'rng_state' in metadata else None
        self.training = _json(metadata, 'training', path) if 'training' in metadata else None
        iterations = metadata.get('optimizer_iterations', '0')
        if not iterations.isdigit() or int(iterations) >= 2**53:
            raise SavedFileError(f"{path}: optimizer_iterations must be a whole number of steps, got {iterations!r}")
        self.iterations = int(iterations)
        optimizer = self.compile_config.get('optimizer') if isinstance(self.compile_config, dict) else None
        kind = optimizer.get('class') if isinstance(optimizer, dict) else None
        _check_state(self.optimizer_state, path, kind if isinstance(kind, str) else None)

    def check_weights(self, weights):
        """Refuse the file unless its tensors are exactly these weights (names, shapes, dtypes, values) and
        its optimizer state and masks fit them. load_model calls it with the weights the architecture
        declares before any is allocated, so a small file cannot make it allocate more than the file holds."""
        problems = _by_name(weights, self.weights)[1]
        n_params = sum(w.size for w in weights if w.flat and w.trainable)
        problems += [f"optimizer state '{slot}' has shape {array.shape}, the model has {n_params} parameters"
                     for slot, array in self.optimizer_state.items() if array.shape != (n_params,)]
        if problems:
            raise _refuse(self.path, problems)
        _check_masks(weights, self.masks, self.path)

    def restore_weights(self, model):
        """Weights and masks into a model rebuilt from self.config; everything is checked first."""
        self.check_weights(model.parameters.weights)
        pairs = _by_name(model.parameters.weights, self.weights)[0]
        rng = np.random.Generator(type(model.rng.bit_generator)())
        if self.rng_state is not None:
            try:
                rng.bit_generator.state = self.rng_state
            except (TypeError, ValueError, KeyError, OverflowError) as e:  # OverflowError: a negative uinteger
                raise SavedFileError(f"{self.path}: rng_state is not a {type(rng.bit_generator).__name__} state "
                                     f"({type(e).__name__}: {e})") from None
        for w, mask in _check_masks(model.parameters.weights, self.masks, self.path):
            w.mask = mask
        for w, array in pairs:
            w.assign(array)
        if self.rng_state is not None:
            model.rng.bit_generator.state = rng.bit_generator.state


# ---- weights only --------------------------------------------------------------------------------------------
def save_weights(model, path, layout='numbanet'):
    check_suffix(path)
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
    metadata, tensors, _, masks = _read(path)
    path = os.fspath(path)
    if torch_layout.is_state_dict(tensors):
        pairs, problems = torch_layout.pairs(model, tensors)
    else:
        pairs, problems = _by_name(model.parameters.weights, tensors)
        if problems and not skip_mismatch and 'weight_order' in metadata:
            by_order = _by_order(model, tensors, _json(metadata, 'weight_order', path))
            if by_order is not None:
                pairs, problems = by_order, []
    pairs, bad = _valid(pairs)  # by order and by PyTorch's layout only shapes were matched
    problems += bad
    if problems and not skip_mismatch:
        quantized_file = any(v.dtype == np.int8 for v in tensors.values())
        if quantized_file != any(w.dtype == np.int8 for w in model.parameters.weights):
            problems.insert(0, "the file holds int8 (quantized) kernels and the model does not, or the other way "
                               "round: quantize the model first, or rebuild it with load_model()"
                            if quantized_file else "the model is quantized and the file holds float kernels")
        raise _refuse(path, problems, " (load_weights(..., skip_mismatch=True) loads what fits)")
    if problems:
        warnings.warn(f"{path}: skipped " + '; '.join(problems), UserWarning, stacklevel=3)
    for w, mask in _check_masks(model.parameters.weights, masks, path):
        w.mask = mask
    for w, array in pairs:
        w.assign(array)
    return [w.name for w, _ in pairs]


def _by_name(weights, tensors):
    pairs, problems, used = [], [], set()
    for w in weights:
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


def _valid(pairs):
    """(the pairs whose values the weight takes, the problems of the others), as set_weights would check."""
    good, problems = [], []
    for w, array in pairs:
        try:
            w.checked(array)
        except ValueError as e:
            problems.append(str(e))
        else:
            good.append((w, array))
    return good, problems


def _by_order(model, tensors, order):
    # Keras's default: the same structure under other layer names (a model built anew) loads in order.
    specs = model.parameters.weights
    if not isinstance(order, list) or len(order) != len(specs) or set(order) != set(tensors):
        return None
    if any(tensors[name].shape != w.shape or tensors[name].dtype != w.dtype for name, w in zip(order, specs)):
        return None
    return [(w, tensors[name]) for name, w in zip(order, specs)]
