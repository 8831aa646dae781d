"""Model and Sequential: Keras's compile / fit / evaluate / predict over the layer graph.

A training step: gather the shuffled batch into the plan's input buffer, run the graph forward, let the
loss write the output gradient (softmax + cross-entropy fused when the model ends in softmax), zero the
flat gradient buffer, run the graph backward, and hand both flat buffers to one optimizer kernel.
"""
import math
import warnings

import numpy as np

from numbanet import callbacks as callbacks_module
from numbanet import losses as losses_module
from numbanet import metrics as metrics_module
from numbanet import optimizers as optimizers_module
from numbanet import utils
from numbanet.backend import get_backend, is_device_array, to_numpy, write
from numbanet.checks import (as_array, as_float_array, check_weight_list, non_negative_int,
                             positive_int)
from numbanet.graph import Graph, KerasTensor, Plan
from numbanet.layers import Activation, Dense, InputLayer, Layer
from numbanet.progress import ProgressBar

_bind_generation = 0   # bumped whenever any model takes over layers' storage
_MAX_PLANS = 8         # batch sizes kept allocated per model


def _seed_value(seed):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
    return int(seed)


def _verbosity(verbose):
    if verbose == 'auto':
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return verbose


class Model:
    """A model from the functional API: Model(inputs=Input(...), outputs=tensor)."""

    def __init__(self, inputs=None, outputs=None, name=None, seed=None, device='cpu'):
        if inputs is None or outputs is None:
            raise ValueError("Model needs inputs= and outputs= tensors (subclassing Model is not supported)")
        self._setup(name or 'functional', seed, device)
        self._set_graph(Graph(inputs, outputs))

    def _setup(self, name, seed, device):
        self.name = name
        self._backend = get_backend(device)
        self._k = self._backend.k
        seed = _seed_value(seed)
        # Without a seed the model draws one from numbanet's global generator, so set_random_seed()
        # before building makes the run repeatable too.
        if seed is None:
            seed = int(utils.global_rng().integers(2**63))
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._graph = None
        self._params = None
        self._grads = None
        self._layout = None
        self._generation = -1
        self._plans = {}
        self._mask = None
        self.optimizer = None
        self.loss = None
        self.compiled_metrics = []
        self.compiled = False
        self._fused = False
        self.stop_training = False
        self.history = None

    def _set_graph(self, graph):
        self._graph = graph
        self._plans = {}
        self._generation = -1  # a new graph may hold new layers: bind whatever the generation says
        self._bind()

    @property
    def device(self):
        return self._backend.name

    def to(self, device):
        """Move parameters, gradients, optimizer state and buffers to 'cpu' or 'cuda'; weights and optimizer
        state come along unchanged. Returns the model."""
        backend = get_backend(device)
        if backend is self._backend:
            return self
        state = None
        if self.built:
            self._bind()
            opt = self.optimizer
            if opt is not None and opt._params is self._params:
                state = ({slot: to_numpy(a) for slot, a in opt.state_arrays().items()}, opt.iterations)
            for w in self._weight_specs():
                w.value, w.grad = to_numpy(w.value), None  # host copies: _bind writes them into the new buffer
        self._backend, self._k = backend, backend.k
        self._plans, self._layout, self._generation = {}, None, -1
        self._trainable_flags = None
        if self.built:
            self._bind()
            if state is not None:
                self._prepare_training()
                self.optimizer.load_state(*state)
        return self

    @property
    def built(self):
        return self._graph is not None

    # ---- storage: every weight is a view into one flat buffer, every gradient into another ---------
    @property
    def layers(self):
        if self._graph is None:
            return []
        return list(self._graph.layers)

    def _weight_specs(self):
        return [w for layer in self._graph.layers for w in layer.weights_list]

    def _bind(self):
        """Point every layer's weights at this model's flat buffers (again, if another model that shares
        layers took them over since); weights keep their values, new ones are initialised."""
        global _bind_generation
        if self._generation == _bind_generation:
            return
        specs = self._weight_specs()
        layout = [(id(w), w.shape) for w in specs if w.flat]
        if layout != self._layout:
            total = sum(w.size for w in specs if w.flat)
            self._params = self._backend.empty(total)
            self._grads = self._backend.zeros(total)
            self._layout = layout
            self._mask_key = None
            owned = False
        else:
            owned = all(layer.owner is self for layer in self._graph.layers if layer.weights_list)
        if not owned:
            offset = 0
            for layer in self._graph.layers:
                for w in layer.weights_list:
                    if not w.flat:  # an array of its own (int8 kernel, scales): only moved to this device
                        if is_device_array(w.value) != (self._backend.name == 'cuda'):
                            w.value = self._backend.to_device(to_numpy(w.value))
                        continue
                    view = self._params[offset:offset + w.size].reshape(w.shape)
                    if w.value is not None:
                        write(view, w.value)
                    else:
                        write(view, w.initializer(w.shape, self._rng))
                    w.value = view
                    w.grad = self._grads[offset:offset + w.size].reshape(w.shape)
                    offset += w.size
                if layer.weights_list:
                    layer.owner = self
            _bind_generation += 1
        self._generation = _bind_generation

    def _prepare_training(self):
        """Bind the weights and ready the optimizer. Layers' trainable flags are read here, so a layer
        frozen (or thawed) since the last fit takes effect now: its weights get no gradient and the
        optimizer skips them."""
        self._bind()
        flags = tuple(layer.trainable for layer in self._graph.layers)
        if flags != getattr(self, '_trainable_flags', None):
            self._plans = {}  # which tensors need gradients changed
            self._trainable_flags = flags
        ranges, offset = [], 0
        for layer in self._graph.layers:
            for w in layer.weights_list:
                if layer.trainable:
                    if ranges and ranges[-1][1] == offset:
                        ranges[-1] = (ranges[-1][0], offset + w.size)
                    else:
                        ranges.append((offset, offset + w.size))
                offset += w.size
        self.optimizer.prepare(self._backend, self._params, self._grads, ranges)
        self._prepare_mask()

    def _prepare_mask(self):
        """The flat 0/1 mask of pruned weights, rebuilt when pruning or the layout changed (None: none)."""
        specs = [w for w in self._weight_specs() if w.flat]
        key = tuple(id(w.mask) for w in specs)
        if key == getattr(self, '_mask_key', None):
            return
        self._mask_key = key
        if all(w.mask is None for w in specs):
            self._mask = None
            return
        mask = np.concatenate([np.ones(w.size, np.float32) if w.mask is None else w.mask.reshape(-1).astype(np.float32)
                               for w in specs])
        self._mask = self._backend.to_device(mask)

    def _apply_mask(self):
        if self._mask is not None:
            self._k.apply_mask(self._params, self._mask)

    # ---- int8 ------------------------------------------------------------------------------------------
    @property
    def quantized(self):
        return self.built and any(getattr(layer, 'quantized', None) for layer in self._graph.layers)

    def quantize(self, mode='int8', calibration_data=None):
        """Keras's model.quantize('int8'): every Dense layer gets int8 weights with one symmetric scale per
        output column; predict and evaluate then run int8 x int8 -> int32 kernels. Activations are quantized
        per row of each batch, or, given calibration_data, with one scale per layer measured on it.
        A quantized model is for inference: fit is refused."""
        if mode != 'int8':
            raise ValueError(f"quantize supports mode='int8', got {mode!r}")
        self._require_built('quantize')
        dense = [layer for layer in self._graph.layers if isinstance(layer, Dense)]
        if not dense:
            raise ValueError(f"model '{self.name}' has no Dense layer to quantize")
        if self.quantized:
            raise ValueError(f"model '{self.name}' is already quantized")
        scales = {}
        if calibration_data is not None:
            xs = self._inputs(calibration_data, 'calibration_data')
            self._bind()
            scales = {name: (m / 127.0 if m > 0 else 1.0) for name, m in self._dense_input_maxima(xs).items()}
        self._bind()
        for layer in dense:
            layer.quantize_int8(to_numpy(layer._kernel.value), scales.get(layer.name))
        self._plans, self._generation = {}, -1
        self._bind()

    def _dense_input_maxima(self, xs, batch_size=256):
        """max |input| of every Dense layer over the data, from a float forward pass."""
        graph, k = self._graph, self._k
        reads = [(node.layer.name, graph.in_ids[i][0]) for i, node in enumerate(graph.nodes)
                 if isinstance(node.layer, Dense)]
        maxima = {name: 0.0 for name, _ in reads}
        for _, _, plan in self._in_order(xs, batch_size):
            plan.forward(k)
            for name, j in reads:
                maxima[name] = max(maxima[name], float(np.abs(to_numpy(plan.values[j])).max()))
        return maxima

    @property
    def trainable(self):
        return all(layer.trainable for layer in self.layers)

    @trainable.setter
    def trainable(self, value):
        for layer in self.layers:
            layer.trainable = bool(value)

    # ---- files ---------------------------------------------------------------------------------------
    def save(self, filepath):
        """Architecture, weights, compile settings and optimizer state in one safetensors file."""
        from numbanet import saving
        self._require_built('save')
        saving.save_model(self, filepath)

    def save_weights(self, filepath, layout='numbanet'):
        """Weights only; layout='torch' writes them as an equivalent torch.nn.Sequential's state_dict."""
        from numbanet import saving
        self._require_built('save_weights')
        saving.save_weights(self, filepath, layout)

    def load_weights(self, filepath, skip_mismatch=False):
        from numbanet import saving
        self._require_built('load_weights')
        return saving.load_weights(self, filepath, skip_mismatch)

    def export(self, filepath, format='onnx', opset=17):
        """Export for inference elsewhere; format='onnx' needs the onnx package (pip install numbanet[onnx])."""
        if format != 'onnx':
            raise ValueError(f"export format must be 'onnx', got {format!r}")
        from numbanet import onnx_export
        self._require_built('export')
        onnx_export.export(self, filepath, opset)

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"model '{self.name}' is not built yet, so there is nothing to {what}")

    def _plan(self, batch):
        plan = self._plans.get(batch)
        if plan is None:
            if len(self._plans) >= _MAX_PLANS:
                self._plans.pop(next(iter(self._plans)))
            plan = self._plans[batch] = Plan(self._graph, self._backend, batch)
        return plan

    # ---- Keras's weight API ---------------------------------------------------------------------
    @property
    def weights(self):
        if not self.built:
            return []
        self._bind()
        return [w.value for w in self._weight_specs()]

    @property
    def trainable_weights(self):
        if not self.built:
            return []
        self._bind()
        return [w.value for layer in self._graph.layers if layer.trainable for w in layer.weights_list]

    @property
    def non_trainable_weights(self):
        if not self.built:
            return []
        self._bind()
        return [w.value for layer in self._graph.layers if not layer.trainable for w in layer.weights_list]

    def get_weights(self):
        return [to_numpy(v) for v in self.weights]

    def set_weights(self, weights):
        if not self.built:
            raise ValueError(f"model '{self.name}' is not built yet; call it on data or build() it first")
        specs = self._weight_specs()
        values = check_weight_list(weights, specs, f"model '{self.name}'")
        self._bind()
        for w, v in zip(specs, values):
            w.assign(v)

    def count_params(self):
        if not self.built:
            raise ValueError(f"model '{self.name}' is not built yet, so it has no weights to count")
        return sum(w.size for w in self._weight_specs())

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers are {[l.name for l in self.layers]}")

    # ---- compile -----------------------------------------------------------------------------------
    def compile(self, optimizer='adam', loss=None, metrics=None):
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='categorical_crossentropy'")
        optimizer = optimizers_module.get(optimizer)
        loss = losses_module.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, metrics_module.Metric)):
            metrics = [metrics]
        self.optimizer, self.loss = optimizer, loss
        self._metric_ids = list(metrics)
        self.compiled = True
        if self.built:
            self._resolve_compile()

    def _resolve_compile(self):
        # What compile means depends on the output layer, which a Sequential may learn only later.
        n_out = self._graph.output.shape[-1]
        self.compiled_metrics = [metrics_module.get(m, self.loss, n_out) for m in self._metric_ids]
        self._fused = False
        if self.loss.takes_logits and not self.loss.from_logits:
            if not self._ends_in_softmax():
                layer = self._graph.output.node.layer
                raise ValueError(
                    f"{self.loss.name} with from_logits=False needs a model that ends in softmax, but the "
                    f"output layer '{layer.name}' does not; give it activation='softmax', or use "
                    f"{type(self.loss).__name__}(from_logits=True)")
            self._fused = True

    def _ends_in_softmax(self):
        layer = self._graph.output.node.layer
        return isinstance(layer, (Dense, Activation)) and layer.activation == 'softmax'

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"model '{self.name}' must be compiled before {what}(); call model.compile(...)")
        if what in ('fit', 'train_on_batch') and self.quantized:
            raise RuntimeError(f"model '{self.name}' is quantized to int8 for inference; {what}() is not "
                               f"supported: train the float model, then quantize() it")

    # ---- input checks, all before any kernel runs --------------------------------------------------
    def _ensure_built(self, xs):
        pass  # a functional model is built when made; Sequential overrides this

    def _inputs(self, x, what='x'):
        self._ensure_built(x)
        graph = self._graph
        if len(graph.inputs) > 1:
            if not isinstance(x, (list, tuple)) or len(x) != len(graph.inputs):
                raise ValueError(f"model '{self.name}' has {len(graph.inputs)} inputs; pass {what} as a list "
                                 f"of {len(graph.inputs)} arrays")
            xs = list(x)
        else:
            xs = [x[0]] if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray) else [x]
        arrays = []
        for i, (arr, tensor) in enumerate(zip(xs, graph.inputs)):
            name = what if len(xs) == 1 else f"{what}[{i}]"
            arr = as_array(arr, name)
            want = tensor.shape[1:]
            if arr.shape[1:] != want or arr.ndim != len(want) + 1:
                raise ValueError(f"{name} has shape {arr.shape}, but input '{tensor.name}' of model "
                                 f"'{self.name}' expects (N,) + {want}" +
                                 (f"; reshape with {what}.reshape(len({what}), -1)"
                                  if arr.ndim > 2 and int(np.prod(arr.shape[1:])) == int(np.prod(want)) else ""))
            arrays.append(as_float_array(arr, name))
        n = arrays[0].shape[0]
        for i, arr in enumerate(arrays[1:], 1):
            if arr.shape[0] != n:
                raise ValueError(f"{what}[0] has {n} samples but {what}[{i}] has {arr.shape[0]}")
        if n == 0:
            raise ValueError(f"{what} is empty: there are no samples")
        return arrays

    def _data(self, x, y, what='x', y_what='y'):
        xs = self._inputs(x, what)
        if y is None:
            raise ValueError(f"{y_what} is missing: pass the targets")
        n_out = self._graph.output.shape[-1]
        y = self.loss.targets(y, n_out, y_what)
        if y.shape[0] != xs[0].shape[0]:
            raise ValueError(f"{what} has {xs[0].shape[0]} samples but {y_what} has {y.shape[0]}")
        return xs, y

    # ---- training --------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose='auto', callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, distributed=False):
        """Keras's fit. distributed=True trains data-parallel across MPI ranks (numbanet.distributed):
        batch_size is then per rank."""
        self._require_compiled('fit')
        batch_size = 32 if batch_size is None else positive_int(batch_size, 'batch_size')
        epochs = non_negative_int(epochs, 'epochs')
        initial_epoch = non_negative_int(initial_epoch, 'initial_epoch')
        verbose = _verbosity(verbose)
        xs, y = self._data(x, y)
        if not isinstance(validation_split, (int, float)) or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            val = self._data(validation_data[0], validation_data[1], 'validation x', 'validation y')
        elif validation_split:
            n_val = int(xs[0].shape[0] * validation_split)
            if n_val == 0 or n_val == xs[0].shape[0]:
                raise ValueError(f"validation_split={validation_split} leaves no samples on one side "
                                 f"of {xs[0].shape[0]}")
            cut = xs[0].shape[0] - n_val
            val = ([a[cut:] for a in xs], y[cut:])
            xs, y = [a[:cut] for a in xs], y[:cut]
        self._prepare_training()
        dp = None
        if distributed:
            from numbanet.distributed import DataParallel
            dp = DataParallel.start(self)
        if dp is not None and dp.rank != 0:
            verbose = 0
        # The data go to the device once per fit; each step gathers its batch there.
        to_device = self._backend.to_device
        xs, y = [to_device(a) for a in xs], to_device(y)
        if val is not None:
            val = ([to_device(a) for a in val[0]], to_device(val[1]))

        n = xs[0].shape[0]
        shard = n if dp is None else math.ceil(n / dp.size)  # the longest shard sets the step count
        steps = math.ceil(shard / batch_size)
        history = callbacks_module.History()
        cbs = [history] + list(callbacks or [])
        if verbose:
            cbs.append(callbacks_module.ProgbarLogger(verbose))
        cb = callbacks_module.CallbackList(cbs, self, {'epochs': epochs, 'steps': steps, 'verbose': verbose})
        self.stop_training = False
        try:
            self._fit_loop(xs, y, val, batch_size, epochs, initial_epoch, shuffle, steps, cb, dp)
        except BaseException:
            if dp is None:
                raise
            dp.abort()
        self.history = history
        return history

    def _fit_loop(self, xs, y, val, batch_size, epochs, initial_epoch, shuffle, steps, cb, dp):
        n = xs[0].shape[0]
        order = np.arange(n)
        cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cb.on_epoch_begin(epoch)
            if shuffle:
                order = self._rng.permutation(n)
            rows = self._backend.to_device(order if dp is None else order[dp.rank::dp.size])
            for m in self.compiled_metrics:
                m.reset()
            seen, total = 0, 0.0
            for step in range(steps):
                idx = rows[step * batch_size:(step + 1) * batch_size]
                if dp is None:
                    loss_sum, count = self._train_step(xs, y, idx), idx.shape[0]
                else:
                    loss_sum, count = self._train_step_dp(xs, y, idx, dp)
                if not math.isfinite(loss_sum):
                    self._stop_on_nan(epoch, step, loss_sum)
                    break
                seen += count
                total += loss_sum
                cb.on_train_batch_end(step, self._logs(total / seen))
            if self.stop_training:
                break
            if dp is not None:
                dp.reduce_metrics(self.compiled_metrics)
            logs = self._logs(total / seen)
            if val is not None:
                val_logs = self._evaluate_arrays(val[0], val[1], batch_size)
                logs.update({'val_' + name: value for name, value in val_logs.items()})
            cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cb.on_train_end()

    def train_on_batch(self, x, y, return_dict=False):
        """One optimizer step on exactly this batch; returns its loss (and metrics), as Keras does."""
        self._require_compiled('train_on_batch')
        xs, y = self._data(x, y)
        self._prepare_training()
        for m in self.compiled_metrics:
            m.reset()
        n = xs[0].shape[0]
        to_device = self._backend.to_device
        loss_sum = self._train_step([to_device(a) for a in xs], to_device(y), to_device(self._arange(n)))
        logs = self._logs(loss_sum / n)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def test_on_batch(self, x, y, return_dict=False):
        return self.evaluate(x, y, batch_size=len(y), verbose=0, return_dict=return_dict)

    def predict_on_batch(self, x):
        xs = self._inputs(x)
        return self.predict(xs if len(xs) > 1 else xs[0], batch_size=xs[0].shape[0], verbose=0)

    def _arange(self, n):
        # Row numbers 0..n-1, kept so repeated calls on one batch size make no new array.
        cached = getattr(self, '_arange_cache', None)
        if cached is None or cached.shape[0] < n:
            cached = self._arange_cache = np.arange(max(n, 1024))
        return cached[:n]

    def _logs(self, mean_loss):
        logs = {'loss': mean_loss}
        for m in self.compiled_metrics:
            logs[m.name] = m.result()
        return logs

    def _stop_on_nan(self, epoch, step, value):
        self.stop_training = True
        message = (f"loss became {value} at epoch {epoch + 1}, step {step + 1}; training stopped and the "
                   f"weights were kept from the last finite step. Try a lower learning rate or check the data.")
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    def _forward_loss(self, xs, y, idx):
        k, plan = self._k, self._plan(idx.shape[0])
        plan.prepare_training()
        for buf, x in zip(plan.inputs, xs):
            k.gather_rows(buf, x, idx)
        shape, dtype = self.loss.target_spec(plan.batch, plan.output.shape[1])
        targets = plan.scratch('targets', shape, dtype)
        k.gather_rows(targets, y, idx)
        plan.forward(k, logits=self._fused)
        return plan, targets, self._train_loss(plan, targets)

    def _train_loss(self, plan, targets):
        # Writes the output's gradient; returns the batch's summed loss. (Distiller runs its teacher here.)
        return self.loss.train(self._k, plan.grad_output, plan.output, targets)

    def _train_step(self, xs, y, idx):
        plan, targets, loss_sum = self._forward_loss(xs, y, idx)
        if not math.isfinite(loss_sum):
            return loss_sum  # nothing is updated: the weights stay at the last finite step
        self._update_metrics(plan, targets)
        self._backend.fill(self._grads, 0.0)
        plan.backward(self._k, logits=self._fused)
        self.optimizer.apply(self._k)
        self._apply_mask()
        return loss_sum

    def _train_step_dp(self, xs, y, idx, dp):
        """One data-parallel step: (summed loss, rows) over all ranks. A rank whose shard ran out (its
        last step may be empty) still joins both reductions with zeros."""
        local = idx.shape[0]
        plan = targets = None
        loss_sum = 0.0
        if local:
            plan, targets, loss_sum = self._forward_loss(xs, y, idx)
        # The loss is summed before anything changes, so every rank sees the same NaN and stops together.
        loss_sum, count = dp.sum_pair(loss_sum, local)
        if not math.isfinite(loss_sum):
            return loss_sum, count
        self._backend.fill(self._grads, 0.0)
        if local:
            self._update_metrics(plan, targets)
            plan.backward(self._k, logits=self._fused)
        dp.average_gradients(self._grads, local / count)
        self.optimizer.apply(self._k)
        self._apply_mask()
        return loss_sum, count

    def _update_metrics(self, plan, targets, probs=None):
        # Metrics judge the model's outputs. A fused model holds logits here; argmax metrics can use
        # them as they are, the others need the softmax taken first.
        for m in self.compiled_metrics:
            if self._fused and not m.argmax_only and probs is None:
                probs = plan.scratch('probs', plan.output.shape)
                self._k.softmax_forward(probs, plan.output)
            m.update(self._k, probs if (self._fused and probs is not None) else plan.output, targets)

    # ---- evaluation and prediction ---------------------------------------------------------------------
    def _in_order(self, xs, batch_size):
        """(start, stop, plan) for consecutive slices of the data, each slice already copied into the
        plan's input buffers: the walk evaluate, predict and calibration share."""
        n = xs[0].shape[0]
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            plan = self._plan(stop - start)
            for buf, x in zip(plan.inputs, xs):
                write(buf, x[start:stop])
            yield start, stop, plan

    def _evaluate_arrays(self, xs, y, batch_size):
        k = self._k
        xs, y = [self._backend.to_device(a) for a in xs], self._backend.to_device(y)
        for m in self.compiled_metrics:
            m.reset()
        total, n = 0.0, xs[0].shape[0]
        for start, stop, plan in self._in_order(xs, batch_size):
            shape, dtype = self.loss.target_spec(plan.batch, plan.output.shape[1])
            targets = plan.scratch('targets', shape, dtype)
            write(targets, y[start:stop])
            plan.forward(k, logits=self._fused)
            probs = plan.scratch('probs', plan.output.shape)
            total += self.loss.evaluate(k, probs, plan.output, targets)
            self._update_metrics(plan, targets, probs if self._fused else None)
        logs = {'loss': total / n}
        for m in self.compiled_metrics:
            logs[m.name] = m.result()
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose='auto', return_dict=False):
        self._require_compiled('evaluate')
        batch_size = 32 if batch_size is None else positive_int(batch_size, 'batch_size')
        verbose = _verbosity(verbose)
        xs, y = self._data(x, y)
        self._bind()
        bar = ProgressBar(math.ceil(xs[0].shape[0] / batch_size)) if verbose else None
        logs = self._evaluate_arrays(xs, y, batch_size)
        if bar:
            bar.update(bar.target, logs, finished=True)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose='auto'):
        batch_size = 32 if batch_size is None else positive_int(batch_size, 'batch_size')
        verbose = _verbosity(verbose)
        xs = self._inputs(x)
        self._bind()
        k = self._k
        n = xs[0].shape[0]
        if n <= batch_size and not verbose:
            # One batch (batch-1 inference, say): no loop, one copy in, one copy out.
            plan = self._plan(n)
            for buf, arr in zip(plan.inputs, xs):
                write(buf, arr)
            plan.forward(k)
            return to_numpy(plan.output)
        xs = [self._backend.to_device(a) for a in xs]
        result = np.empty((n,) + self._graph.output.shape[1:], np.float32)
        for start, stop, plan in self._in_order(xs, batch_size):
            plan.forward(k)
            result[start:stop] = self._backend.to_host(plan.output)
        if verbose:
            bar = ProgressBar(math.ceil(n / batch_size))
            bar.update(bar.target, {}, finished=True)
        return result

    def __call__(self, x):
        if isinstance(x, KerasTensor) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], KerasTensor)):
            raise NotImplementedError("calling a model on symbolic tensors (nesting models) is not supported; "
                                      "call its layers instead")
        return self.predict(x, batch_size=max(1, len(x) if hasattr(x, '__len__') else 1), verbose=0)

    # ---- description -----------------------------------------------------------------------------------
    def summary(self, print_fn=None):
        print_fn = print_fn or print
        if not self.built:
            raise ValueError(f"model '{self.name}' has not been built yet: give it an Input, call build(), "
                             f"or fit/predict it once so it can learn the input shape")
        graph = self._graph
        linear = all(len(n.inputs) <= 1 for n in graph.nodes)
        rows, counted = [], set()
        for node in graph.nodes:
            layer = node.layer
            # A layer called twice (shared weights) owns its parameters once.
            params = 0 if id(layer) in counted else sum(w.size for w in layer.weights_list)
            counted.add(id(layer))
            row = [f"{layer.name} ({type(layer).__name__})", str(node.output.shape), f"{params:,}"]
            if not linear:
                row.append(', '.join(t.name.split('/')[0] for t in node.inputs))
            rows.append(row)
        heads = ['Layer (type)', 'Output Shape', 'Param #'] + ([] if linear else ['Connected to'])
        widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(heads)]
        line = lambda cells: ' ' + ''.join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
        total = sum(widths) + 1
        trainable = sum(w.size for layer in graph.layers if layer.trainable for w in layer.weights_list)
        count = self.count_params()
        size = lambda n: f"{n * 4 / 1024:.2f} KB" if n * 4 >= 1024 else f"{n * 4:.2f} B"
        print_fn(f'Model: "{self.name}"')
        print_fn('_' * total)
        print_fn(line(heads))
        print_fn('=' * total)
        for r in rows:
            print_fn(line(r))
        print_fn('=' * total)
        print_fn(f"Total params: {count:,} ({size(count)})")
        print_fn(f"Trainable params: {trainable:,} ({size(trainable)})")
        print_fn(f"Non-trainable params: {count - trainable:,} ({size(count - trainable)})")
        print_fn('_' * total)

    def __repr__(self):
        state = f"{self.count_params():,} params" if self.built else "not built"
        return f"<{type(self).__name__} name={self.name}, {len(self.layers)} layers, {state}, device={self.device}>"


class Sequential(Model):
    """A stack of single-input layers. Without an Input (or input_shape=) it learns its input size from
    the first data it sees, as Keras does."""

    def __init__(self, layers=None, name=None, seed=None, device='cpu'):
        self._setup(name or 'sequential', seed, device)
        self._stack = []
        self._input_layer = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError("an Input can only be the first thing added to a Sequential")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes a layer, got {type(layer).__name__}")
        if not layer.single_input:
            raise ValueError(f"layer '{layer.name}' merges several inputs and cannot sit in a Sequential; "
                             f"use the functional API")
        self._stack.append(layer)
        shape = self._known_input_shape()
        if shape is not None:
            self._build_graph(shape)

    @property
    def layers(self):
        return list(self._stack)

    def _known_input_shape(self):
        if self._input_layer is not None:
            return self._input_layer.shape
        if self._stack and self._stack[0].input_shape_hint is not None:
            return self._stack[0].input_shape_hint
        return None

    def _build_graph(self, shape):
        from numbanet.layers import Input
        if self._input_layer is None:
            self._input_layer = Input(shape=shape).node.layer
        x = inputs = self._input_layer.output
        for layer in self._stack:
            x = layer(x)
        self._set_graph(Graph(inputs, x))
        if self.compiled:
            self._resolve_compile()

    def build(self, input_shape=None):
        """build((None, 784)) or build((784,)): fix the input size and create the weights."""
        if input_shape is None:
            input_shape = self._known_input_shape()
            if input_shape is None:
                raise ValueError("build() needs an input_shape, e.g. build((None, 784))")
        input_shape = tuple(input_shape)
        if input_shape and input_shape[0] is None:
            input_shape = input_shape[1:]
        if not self._stack:
            raise ValueError("a Sequential needs at least one layer before it can be built")
        known = self._known_input_shape()
        if known is not None and self.built and tuple(known) != input_shape:
            raise ValueError(f"model '{self.name}' was built for input shape {known}, got {input_shape}")
        if not self.built:
            self._build_graph(input_shape)

    def _ensure_built(self, x):
        if self.built:
            return
        if not self._stack:
            raise ValueError("this Sequential has no layers; add some before using it")
        # Check the data before building, so refused data leaves the model unbuilt.
        arr = as_float_array(x[0] if isinstance(x, (list, tuple)) and len(x) == 1 else x, 'x')
        if arr.ndim < 2:
            raise ValueError(f"x must be shaped (N, features) to build the model from it, got shape {arr.shape}")
        self._build_graph(arr.shape[1:])

    def summary(self, print_fn=None):
        super().summary(print_fn)
