"""Where a model's numbers live: weights as views into a few flat buffers.

A `Parameters` object owns three flat float32 arrays on one device: `values` (every trainable weight, side
by side), `grads` (their gradients, the same layout) and `state` (weights that are not trained by
gradients, such as moving statistics). Each `Weight` of the model's layers is a view into one of them, so
the optimizer, the MPI all-reduce and the file writer each see one array, and `model.trainable_weights`
are live. Weights of another dtype (an int8 kernel) keep arrays of their own, moved with the rest.

Layers can be shared by several models (transfer learning calls a trained model's layers in a new one).
A weight then belongs to whichever store bound it last; binding copies its current value into the
binding store's buffer. A global counter of such take-overs lets `bind` return at once when nothing moved.
"""
import numpy as np

from numbanet.backend import get_backend, is_device_array, to_numpy, write
from numbanet.checks import weight_values
from numbanet.utils import global_rng

FLOAT = np.dtype(np.float32)
_takeovers = 0  # bumped whenever a store takes weights over from another (or binds new ones)


class Weight:
    """One parameter tensor of a layer. `value` (and, for trainable weights, `grad`) are live arrays in
    the buffers of the store that bound it last; None until a store does.

    `trainable=False` marks state that gradients do not train (it sits in the state buffer and has no
    gradient). `mask`, set by pruning, marks the entries (False) that stay zero through training."""

    def __init__(self, name, shape, initializer, trainable=True, dtype='float32', regularizer=None):
        self.name = name
        self.regularizer = regularizer  # a numbanet.regularizers object, or None
        self.shape = tuple(int(d) for d in shape)
        self.initializer = initializer
        self.trainable = bool(trainable)
        self.dtype = np.dtype(dtype)
        self.size = int(np.prod(self.shape))
        self.value = None
        self.grad = None
        self.store = None
        self.version = 0       # bumped by assign(): whatever was derived from the value is stale
        self._mask = None
        self.mask_version = 0  # bumped when the mask changes, so stores rebuild their flat mask
        # What values this weight may take beyond finite and well-shaped: check(name, values) raises a
        # ValueError for others (an int8 kernel's scales must be positive, say). None: anything finite.
        self.check = None

    @property
    def flat(self):
        """True when the weight lives in a store's float32 buffers (not an array of its own)."""
        return self.dtype == FLOAT

    @property
    def mask(self):
        return self._mask

    @mask.setter
    def mask(self, value):
        if value is not None:
            value = np.asarray(value, bool)
            if value.shape != self.shape:
                raise ValueError(f"the mask of weight '{self.name}' must have its shape {self.shape}, "
                                 f"got {value.shape}")
        self._mask = value
        self.mask_version += 1

    def checked(self, values):
        """values as this weight takes them, or a ValueError: its exact shape, finite, and what check allows."""
        values = weight_values(values, self.name, self.shape, self.dtype)
        if self.check is not None:
            self.check(self.name, values)
        return values

    def assign(self, values):
        """Write new values into this weight's array, wherever it lives (checked first: its exact shape,
        finite values, and what check allows)."""
        values = self.checked(values)
        if self.value is None:
            materialize([self], global_rng())
        write(self.value, values)
        self.version += 1

    def initial_values(self, rng):
        """What the initializer gives for this weight, checked."""
        try:
            values = self.initializer(self.shape, rng)
        except Exception as e:
            raise ValueError(f"the initializer of weight '{self.name}' failed: {type(e).__name__}: {e}") from None
        return weight_values(values, self.name, self.shape, self.dtype if self.flat else FLOAT).astype(self.dtype)

    def numpy(self):
        """A host copy of the value (Keras's Variable.numpy())."""
        if self.value is None:
            materialize([self], global_rng())
        return to_numpy(self.value)

    def __array__(self, dtype=None, copy=None):
        values = self.numpy()
        return values if dtype is None else values.astype(dtype)

    def __repr__(self):
        kind = '' if self.trainable else ', non-trainable'
        return f"<Weight {self.name} shape={self.shape}{kind}>"


class Parameters:
    """The flat buffers behind one model's weights, on one device."""

    def __init__(self, device='cpu'):
        self.backend = get_backend(device)
        self.weights = []
        self.values = self.backend.empty(0)
        self.grads = self.backend.empty(0)
        self.state = self.backend.empty(0)
        self.mask = None          # flat 0/1 over `values` where pruning set masks; None without
        self._mask_key = None
        self._seen = -1

    @property
    def device(self):
        return self.backend.name

    def bind(self, weights, rng):
        """Make every weight in the list a view into this store, in this order (taking it over from any
        store that holds it now, value included). New weights are initialised from rng. Cheap when
        nothing changed since the last call with the same list object."""
        global _takeovers
        if weights is self.weights and self._seen == _takeovers:
            return
        # New weights' values first, all checked: a failing initializer leaves every weight where it was.
        fresh = {id(w): w.initial_values(rng) for w in weights if w.value is None}
        if [id(w) for w in weights] != [id(w) for w in self.weights]:
            self._allocate(weights)
        if any(w.store is not self for w in weights):
            try:
                self._take_over(fresh)
            finally:
                _takeovers += 1  # other stores must look again, even after a failure half-way
        self._seen = _takeovers

    def _allocate(self, weights):
        be = self.backend
        for w in self.weights + weights:
            if w.store is self:
                w.store = None  # the old buffers go: take the weight over again from its old view
        self.weights = weights
        self.values = be.empty(sum(w.size for w in weights if w.flat and w.trainable))
        self.grads = be.zeros(self.values.shape[0])
        self.state = be.empty(sum(w.size for w in weights if w.flat and not w.trainable))
        self._mask_key = None

    def _take_over(self, fresh):
        offsets = {True: 0, False: 0}
        for w in self.weights:
            if not w.flat:  # an array of its own, made or moved here
                if w.value is None:
                    w.value = self.backend.to_device(fresh[id(w)])
                elif is_device_array(w.value) != (self.device == 'cuda'):
                    w.value = self.backend.to_device(to_numpy(w.value))
                w.store = self
                continue
            lo = offsets[w.trainable]
            offsets[w.trainable] += w.size
            if w.store is self:
                continue
            buffer = self.values if w.trainable else self.state
            view = buffer[lo:lo + w.size].reshape(w.shape)
            write(view, fresh[id(w)] if w.value is None else w.value)
            w.value = view
            w.grad = self.grads[lo:lo + w.size].reshape(w.shape) if w.trainable else None
            w.store = self

    def ranges(self, frozen):
        """(lo, hi) runs of `values` the optimizer updates: every trainable weight not in `frozen` (a set of
        ids of weights whose layer is frozen), adjacent runs merged."""
        out, offset = [], 0
        for w in self.weights:
            if not (w.flat and w.trainable):
                continue
            if id(w) not in frozen:
                if out and out[-1][1] == offset:
                    out[-1] = (out[-1][0], offset + w.size)
                else:
                    out.append((offset, offset + w.size))
            offset += w.size
        return out

    def weight_ranges(self):
        """(lo, hi) of `values` for each trainable weight, in order (what clipnorm clips one by one)."""
        out, offset = [], 0
        for w in self.weights:
            if w.flat and w.trainable:
                out.append((offset, offset + w.size))
                offset += w.size
        return out

    def regularized(self, frozen):
        """(regularizer, values, grads) for every regularized trainable weight not in `frozen`: flat views
        into the buffers, made once per fit."""
        out, offset = [], 0
        for w in self.weights:
            if not (w.flat and w.trainable):
                continue
            if w.regularizer is not None and id(w) not in frozen:
                out.append((w.regularizer, self.values[offset:offset + w.size], self.grads[offset:offset + w.size]))
            offset += w.size
        return out

    def refresh_mask(self):
        """Rebuild the flat pruning mask if any weight's mask changed since the last call."""
        trained = [w for w in self.weights if w.flat and w.trainable]
        key = tuple((id(w), w.mask_version) for w in trained)
        if key == self._mask_key:
            return
        self._mask_key = key
        if all(w.mask is None for w in trained):
            self.mask = None
            return
        flat = np.concatenate([np.ones(w.size, np.float32) if w.mask is None else
                               w.mask.reshape(-1).astype(np.float32) for w in trained])
        self.mask = self.backend.to_device(flat)

    def apply_mask(self):
        if self.mask is not None:
            self.backend.k.apply_mask(self.values, self.mask)


def materialize(weights, rng):
    """Storage on the CPU for weights that no model holds yet (a layer's get_weights before any model)."""
    if weights and any(w.store is None for w in weights):
        Parameters('cpu').bind(list(weights), rng)
