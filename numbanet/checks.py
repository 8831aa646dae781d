"""Checks on what users hand in, run before any kernel so that a refused call changes nothing.
Each error names the argument, the problem and the offending value."""
import math
import numbers
from collections.abc import Mapping

import numpy as np

_REFUSED_KINDS = {'O': 'Python objects', 'U': 'strings', 'S': 'bytes', 'V': 'structured records',
                  'c': 'complex numbers', 'M': 'datetimes', 'm': 'timedeltas'}


class DtypeError(TypeError, ValueError):
    """A dtype numbanet cannot compute with (strings, bfloat16, ...): a ValueError, and the TypeError it was."""


def as_array(x, what):
    if isinstance(x, np.ndarray):
        return x
    if x is None:
        raise TypeError(f"{what} is None; pass a numpy array")
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{what} could not be turned into an array: {e}") from None


def _numeric(arr, what):
    kind = arr.dtype.kind
    if kind in _REFUSED_KINDS:
        # Extension types (ml_dtypes' bfloat16, say) are kind 'V' without fields: not records, and numpy
        # converts them to float32 faithfully, which the message suggests.
        extension = kind == 'V' and arr.dtype.names is None
        name = 'an extension type numpy cannot compute with' if extension else _REFUSED_KINDS[kind]
        hint = "; convert it first with .astype('float32')" if extension else ''
        raise DtypeError(f"{what} has dtype {arr.dtype} ({name}); numbanet needs numbers{hint}")


def all_finite(arr):
    """Whether every value of a float array is finite, a million at a time: np.isfinite of a whole data set
    makes a boolean copy of it (47 MB for MNIST's training images) just to be reduced."""
    flat = arr.reshape(-1)
    return all(np.isfinite(flat[i:i + (1 << 20)]).all() for i in range(0, flat.shape[0], 1 << 20))


def first_bad(arr):
    bad = ~np.isfinite(arr)
    count = int(bad.sum())
    return count, (tuple(int(i) for i in np.argwhere(bad)[0]) if count else None)


def as_float_array(x, what):
    """A C-contiguous float32 array with no NaN or Inf (float64, ints and bools are converted)."""
    arr = as_array(x, what)
    _numeric(arr, what)
    if arr.dtype != np.float32 or not arr.flags.c_contiguous:
        with np.errstate(over='ignore'):  # values beyond float32 become Inf, reported just below
            arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not all_finite(arr):
        count, where = first_bad(arr)
        raise ValueError(f"{what} contains {count} NaN or Inf value(s) (first at index {where}); "
                         f"clean the data first (values beyond float32's range also become Inf)")
    return arr


def as_label_array(y, what, num_classes):
    """Integer class labels (N,) or (N, 1), each in [0, num_classes), as int64 (N,)."""
    arr = as_array(y, what)
    _numeric(arr, what)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{what} must be integer class labels shaped (N,) or (N, 1), got shape {arr.shape}; "
                         f"one-hot targets go with CategoricalCrossentropy")
    if arr.dtype.kind == 'f':
        if not np.isfinite(arr).all():
            count, where = first_bad(arr)
            raise ValueError(f"{what} contains {count} NaN or Inf value(s) (first at index {where})")
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{what} must hold whole-number class labels, got a fractional value "
                             f"{arr[arr != np.round(arr)][0]!r}")
    labels = arr.astype(np.int64)
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{what} holds label {bad}, outside [0, {num_classes}) for an output of "
                             f"{num_classes} classes")
    return np.ascontiguousarray(labels)


def sample_weight_array(sample_weight, n, what='sample_weight'):
    """One weight per sample, shaped (n,) (or (n, 1)), finite and >= 0, as float32 (n,)."""
    arr = as_array(sample_weight, what)
    _numeric(arr, what)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{what} must hold one weight per sample, shaped ({n},), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{what} has {arr.shape[0]} weights but there are {n} samples")
    arr = as_float_array(arr, what)
    if arr.size and arr.min() < 0:
        at = int(np.argmax(arr < 0))
        raise ValueError(f"{what} must be >= 0, got {arr[at]} at index {at}")
    return arr


def class_weight_array(class_weight, y, num_classes, what='class_weight'):
    """Keras's class_weight as one weight per sample of the checked targets y: integer labels (N,), or rows
    (N, C) whose class is the argmax (the rounded value when C is 1). Classes the dict leaves out weigh 1."""
    if not isinstance(class_weight, Mapping):
        raise TypeError(f"{what} must be a dict of class index -> weight, got {type(class_weight).__name__}")
    table = np.ones(num_classes, np.float32)
    for key, value in class_weight.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)) or not 0 <= key < num_classes:
            raise ValueError(f"{what} keys must be class indices in [0, {num_classes}) for this model, got {key!r}")
        if not is_number(value) or not 0 <= value < math.inf:
            raise ValueError(f"{what}[{key}] must be a finite number >= 0, got {value!r}")
        table[int(key)] = value
    y = np.asarray(y)
    if y.ndim == 2:
        classes = np.argmax(y, axis=1) if y.shape[1] > 1 else np.round(y[:, 0])
    else:
        classes = np.round(y)
    # Clipped before the cast: a regression target far out of range is simply no class here (weight 1).
    classes = np.clip(classes, -1, num_classes).astype(np.int64)
    known = (classes >= 0) & (classes < num_classes)
    return np.where(known, table[np.clip(classes, 0, num_classes - 1)], np.float32(1.0)).astype(np.float32)


def check_weight_list(weights, specs, owner):
    """Validate a set_weights list against the weights it would replace; returns float32 arrays."""
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"set_weights on {owner} takes a list of arrays, got {type(weights).__name__}")
    if len(weights) != len(specs):
        raise ValueError(f"set_weights on {owner} expects {len(specs)} arrays "
                         f"({', '.join(s.name for s in specs) or 'none'}), got {len(weights)}")
    return [weight_values(w, spec.name, spec.shape, spec.dtype) for w, spec in zip(weights, specs)]


def weight_values(values, name, shape, dtype):
    """Values for the weight `name`: exactly its shape, finite float32 (or int8 in [-127, 127])."""
    arr = as_array(values, f"weight '{name}'")
    _numeric(arr, f"weight '{name}'")
    if arr.shape != tuple(shape):
        raise ValueError(f"weight '{name}' has shape {tuple(shape)}, got an array of shape {arr.shape}")
    if np.dtype(dtype) == np.int8:
        if arr.dtype.kind not in 'iu' or arr.size and (arr.min() < -127 or arr.max() > 127):
            raise ValueError(f"weight '{name}' is int8: it takes integers in [-127, 127], got {arr.dtype}"
                             + (f" from {arr.min()} to {arr.max()}" if arr.dtype.kind in 'iu' else ''))
        return arr.astype(np.int8)
    return as_float_array(arr, f"weight '{name}'")


def is_number(value):
    """A real number, numpy's scalars included, and not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def positive_int_or_none(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive int or None, got {value!r}")
    return int(value)


def non_negative_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{what} must be a non-negative int, got {value!r}")
    return int(value)


def as_input_array(x, what):
    """Input data as the kernels gather it: integers and bools as they are (C-contiguous), anything else as
    as_float_array makes it. Gathering casts each batch to float32, as Keras casts such data, so uint8 images
    never exist as a float32 copy; and they hold no NaN or Inf to look for."""
    arr = as_array(x, what)
    return np.ascontiguousarray(arr) if arr.dtype.kind in 'iub' else as_float_array(arr, what)


def input_arrays(x, tensors, what, model_name):
    """The model's input data as a list of arrays (float32, or the user's integers), one per input tensor, each
    checked against the tensor's shape; refuses a wrong count, shape, length mismatch or empty data with the reason."""
    if len(tensors) > 1:
        if not isinstance(x, (list, tuple)) or len(x) != len(tensors):
            raise ValueError(f"model '{model_name}' has {len(tensors)} inputs; pass {what} as a list "
                             f"of {len(tensors)} arrays")
        xs = list(x)
    else:
        xs = [x[0]] if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray) else [x]
    arrays = []
    for i, (arr, tensor) in enumerate(zip(xs, tensors)):
        name = what if len(xs) == 1 else f"{what}[{i}]"
        if callable(arr):
            raise TypeError(f"{name} is a function ({getattr(arr, '__name__', type(arr).__name__)}); pass what "
                            f"it returns: a generator function is called, gen(), to give the generator")
        arr = as_array(arr, name)
        want = tensor.shape[1:]
        if arr.shape[1:] != want or arr.ndim != len(want) + 1:
            raise ValueError(f"{name} has shape {arr.shape}, but input '{tensor.name}' of model "
                             f"'{model_name}' expects (N,) + {want}" +
                             _reshape_hint(what, arr.shape, want))
        arrays.append(as_input_array(arr, name))
    n = arrays[0].shape[0]
    for i, arr in enumerate(arrays[1:], 1):
        if arr.shape[0] != n:
            raise ValueError(f"{what}[0] has {n} samples but {what}[{i}] has {arr.shape[0]}")
    if n == 0:
        raise ValueError(f"{what} is empty: there are no samples")
    return arrays


def _reshape_hint(what, got, want):
    # Only when the samples hold the right number of values; channels-first images need a transpose.
    if len(got) < 2 or int(np.prod(got[1:])) != int(np.prod(want)):
        return ""
    if len(got) == 4 and len(want) == 3 and tuple(got[1:]) == (want[2], want[0], want[1]) and want[2] != 1:
        return f"; numbanet is channels-last: {what}.transpose(0, 2, 3, 1) turns channels-first images around"
    if len(want) == 1:
        return f"; reshape with {what}.reshape(len({what}), -1)"
    if tuple(got[1:]) + (1,) == tuple(want):
        return f"; add the channel axis with {what}[..., None]"
    return f"; reshape with {what}.reshape((len({what}),) + {want})"


def seed_value(seed):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
    return int(seed)


def verbosity(verbose):
    if verbose == 'auto':
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return verbose


def ready_inputs(x, tensors):
    """x as input_arrays would return it, when it is that already (per input tensor a C-contiguous float32
    ndarray of its shape, one N > 0 for all, every value finite): batch-1 inference skips the general checks,
    which cost as much as a layer. None otherwise, and input_arrays converts x or refuses it."""
    if len(tensors) == 1:
        xs = [x[0]] if isinstance(x, (list, tuple)) and len(x) == 1 else [x]
    elif isinstance(x, (list, tuple)) and len(x) == len(tensors):
        xs = list(x)
    else:
        return None
    n = xs[0].shape[0] if type(xs[0]) is np.ndarray and xs[0].ndim else 0
    for arr, tensor in zip(xs, tensors):
        if (type(arr) is not np.ndarray or arr.dtype != np.float32 or not arr.flags.c_contiguous or n == 0
                or arr.shape[0] != n or arr.ndim != len(tensor.shape) or arr.shape[1:] != tensor.shape[1:]):
            return None
        # The dot product with 2^-60 in every place is NaN or Inf exactly when a value is, in one BLAS pass with
        # no temporary: no finite float32 times 2^-60 overflows, nor does the sum of 65,536 of them, and an Inf
        # times it is an Inf, with no floating-point flag for numpy to warn about (a sum of squares warned on
        # finite values past 1e19, and zeros on Inf, which 0 * Inf makes NaN). Big inputs take the general way,
        # where the checks cost little next to the work.
        flat = arr.ravel()
        if flat.shape[0] > _SMALL.shape[0] or not math.isfinite(flat.dot(_SMALL[:flat.shape[0]])):
            return None
    return xs


_SMALL = np.full(1 << 16, 2.0 ** -60, np.float32)
