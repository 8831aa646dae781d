"""Model: Keras's compile / fit / evaluate / predict over a layer graph.

A training step: gather the shuffled rows into the input buffers of the batch size's plan, run the plan
forward, let the loss write the gradient (of the outputs, or of the logits beneath an output activation
it folds into itself), zero the flat gradient buffer and run the plan backward, exchange gradients through
the communicator (nothing to do in a single process), and hand both flat buffers to one optimizer kernel.
"""
import contextlib
import json
import math
import threading
import warnings

import numpy as np

from numbanet import callbacks as callbacks_module
from numbanet import layers as layers_module
from numbanet import losses, onnx_export, optimizers, quantization, saving, utils
from numbanet import metrics as metrics_module
from numbanet.backend import to_numpy, write
from numbanet.checks import (check_weight_list, class_weight_array, input_arrays, is_number, non_negative_int,
                             positive_int, positive_int_or_none, ready_inputs, sample_weight_array, seed_value,
                             verbosity)
from numbanet.data_adapters import ArrayBatches, is_stream, stream_batches, unpack
from numbanet.distributed import SingleProcess, communicator
from numbanet.graph import ConfigError, Graph, KerasTensor, call_from_config
from numbanet.interrupts import CriticalSection
from numbanet.outputs import MultiLoss, metric_lists
from numbanet.params import Parameters
from numbanet.plan import Plan
from numbanet.summary import print_summary

_MAX_PLANS = 8  # batch sizes kept allocated per model
# Every built-in layer by class name: what a config names turns back into objects here.
LAYERS = {name: getattr(layers_module, name) for name in layers_module.__all__ if name not in ('Input', 'Layer')}
LAYERS.update({cls.__name__: cls for cls in quantization.INT8_LAYERS})


def deserialize(kind, registry, entry):
    """The object a config entry {'class': name, 'config': {...}} describes, its class looked up in registry."""
    if not isinstance(entry, dict) or entry.get('class') not in registry or not isinstance(entry.get('config'), dict):
        hint = " (pass your own classes with custom_objects={'Name': Class}" + (
            "; load_model(..., compile=False) skips the compile settings)" if kind != 'layer' else ")")
        raise ConfigError(f"unknown {kind} in the saved model: {entry!r}{hint}")
    cls = registry[entry['class']]
    config = dict(entry['config'])
    if cls is layers_module.Dense and config.pop('quantized', None) == 'int8':
        # How files written before Int8Dense existed describe an int8 layer; its weights come from the file.
        cls = quantization.Int8Dense
        config.pop('kernel_initializer', None)
        config.pop('bias_initializer', None)
    try:
        return cls.from_config(config) if hasattr(cls, 'from_config') else cls(**config)
    except Exception as e:  # a class of the user's may raise anything: name the entry
        raise ConfigError(f"cannot rebuild {kind} {entry['class']}: {type(e).__name__}: {e}") from None


def custom_classes(custom_objects, base):
    """The classes of custom_objects that are subclasses of base, by name."""
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects must be a dict of name -> class, got {type(custom_objects).__name__}")
    kinds = (layers_module.Layer, losses.Loss, optimizers.Optimizer, metrics_module.Metric,
             optimizers.schedules.LearningRateSchedule)
    for name, cls in custom_objects.items():
        if not (isinstance(cls, type) and issubclass(cls, kinds)):
            raise TypeError(f"custom_objects['{name}'] must be a numbanet Layer, Loss, Optimizer, Metric or "
                            f"LearningRateSchedule subclass, got {cls!r}")
    return {name: cls for name, cls in custom_objects.items() if issubclass(cls, base)}


@contextlib.contextmanager
def config_errors():
    """Whatever a malformed config makes go wrong, as one ConfigError."""
    try:
        yield
    except ConfigError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise ConfigError(f"the saved architecture does not describe a model numbanet can build: "
                          f"{type(e).__name__}: {e}") from None


def rebuild_layers(config, custom_objects, check_weights):
    """The layers of get_config()'s graph, rebuilt and called as its nodes say: (layers, inputs, output).
    check_weights(weights) sees the weights they declare before any is allocated."""
    registry = {**LAYERS, **custom_classes(custom_objects, layers_module.Layer)}
    with config_errors():
        layers = [deserialize('layer', registry, entry) for entry in config['layers']]
        inputs, output = call_from_config(config, layers)
    if check_weights is not None:  # calling the layers made their weights' shapes, not their values
        check_weights([w for layer in layers for w in layer.weights_list])
    return layers, inputs, output


class Model:
    """A model from the functional API: Model(inputs=Input(...), outputs=tensor)."""

    def __init__(self, inputs=None, outputs=None, name=None, seed=None, device='cpu'):
        if inputs is None or outputs is None:
            raise ValueError("Model needs inputs= and outputs= tensors (subclassing Model is not supported)")
        self._setup(name or 'functional', seed, device)
        self._set_graph(Graph(inputs, outputs))

    def _setup(self, name, seed, device):
        self.name = name
        self._parameters = Parameters(device)
        seed = seed_value(seed)
        # Without a seed the model draws one from numbanet's global generator, so set_random_seed()
        # before building makes the run repeatable too.
        self.seed = int(utils.global_rng().integers(2**63)) if seed is None else seed
        self.rng = np.random.default_rng(self.seed)  # initialises the weights, then shuffles every epoch
        self.graph = None
        self._weights = []
        self._plans = {}
        self._trainable_flags = None
        self.optimizer = self.loss = None
        self._metric_ids, self._weighted_ids = [], []
        self._set_metrics([])
        self.compiled = False
        self._compiled_graph = None  # the graph compile's loss and metrics were checked against
        self.stop_training = False
        self.history = None
        self._eager_calls = 0
        self._regularized = []
        self._update = CriticalSection()  # a step's update, which Ctrl-C must not split
        # A plan's buffers (and the metrics' state) serve one call at a time: threads take turns, a step or
        # a whole predict/evaluate each. Reentrant, so a callback may predict.
        self._lock = threading.RLock()

    def _set_graph(self, graph):
        self.graph = graph
        self._weights = [w for layer in graph.layers for w in layer.weights_list]
        self._plans = {}
        self._bind()

    def _bind(self):
        # Cheap when nothing moved; takes the weights back if a model sharing layers bound them since.
        self._parameters.bind(self._weights, self.rng)

    @property
    def parameters(self):
        """The flat buffers holding this model's weights (params.py)."""
        if self.built:
            self._bind()
        return self._parameters

    @property
    def built(self):
        return self.graph is not None

    @property
    def device(self):
        return self._parameters.device

    def to(self, device):
        """Move weights, optimizer state and buffers to 'cpu' or 'cuda'. Returns the model."""
        moved = Parameters(device)
        if moved.backend is self._parameters.backend:
            return self
        state = None
        if self.built and self.optimizer is not None:
            self._bind()
            slots = self.optimizer.state_for(self._parameters)
            if slots is not None:
                state = ({slot: to_numpy(a) for slot, a in slots.items()}, self.optimizer.iterations)
        self._parameters, self._plans = moved, {}
        if self.built:
            self._bind()  # takes every weight over onto the new device
            if state is not None:
                self._prepare_training()
                self.optimizer.load_state(*state)
        return self

    def plan(self, batch):
        """The plan (buffers and kernel calls) for this batch size, weights bound: made once, then reused."""
        self._bind()
        plan = self._plans.get(batch)
        if plan is None:
            if len(self._plans) >= _MAX_PLANS:
                self._plans.pop(next(iter(self._plans)))
            plan = self._plans[batch] = Plan(self.graph, self._parameters.backend, batch)
        return plan

    def batch_plans(self, xs, batch_size):
        """(start, stop, plan) for consecutive slices of the inputs, each gathered into the plan's input buffers
        (which casts integer data to float32 on either device): the walk predict and int8 calibration share."""
        be, n = self._parameters.backend, xs[0].shape[0]
        xs, rows = [be.to_device(a) for a in xs], be.to_device(self._arange(n))
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            plan = self.plan(stop - start)
            for buf, x in zip(plan.inputs, xs):
                be.k.gather_rows(buf, x, rows[start:stop])
            yield start, stop, plan

    # ---- Keras's weight API ---------------------------------------------------------------------------
    @property
    def layers(self):
        return list(self.graph.layers) if self.built else []

    @property
    def weights(self):
        return [w.value for w in self.parameters.weights] if self.built else []

    def _weights_where(self, trainable):
        if not self.built:
            return []
        self._bind()
        return [w.value for layer in self.graph.layers for w in layer.weights_list
                if (layer.trainable and w.trainable) == trainable]

    @property
    def trainable_weights(self):
        return self._weights_where(True)

    @property
    def non_trainable_weights(self):
        return self._weights_where(False)

    @property
    def trainable(self):
        return all(layer.trainable for layer in self.layers)

    @trainable.setter
    def trainable(self, value):
        for layer in self.layers:
            layer.trainable = bool(value)

    def get_weights(self):
        return [to_numpy(v) for v in self.weights]

    def set_weights(self, weights):
        self._require_built('set weights of')
        values = check_weight_list(weights, self._weights, f"model '{self.name}'")
        self._bind()
        for w, v in zip(self._weights, values):
            w.assign(v)

    def count_params(self):
        self._require_built('count the weights of')
        return sum(w.size for w in self._weights)

    def get_layer(self, name=None, index=None):
        """The layer called name, or at position index of model.layers (one of the two, as in Keras)."""
        if (name is None) == (index is None):
            raise ValueError(f"get_layer takes a layer name or an index, not both nor neither; got name={name!r}, "
                             f"index={index!r}")
        layers = self.layers
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise TypeError(f"index must be an int, got {index!r}")
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"asked for the layer at index {index}, but model '{self.name}' has "
                                 f"{len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers are {[l.name for l in layers]}")

    @property
    def inputs(self):
        """The model's input tensors, a list: with outputs, what builds a new model over its layers."""
        if not self.built:
            raise AttributeError(f"model '{self.name}' is not built yet, so it has no input tensors")
        return list(self.graph.inputs)

    @property
    def outputs(self):
        if not self.built:
            raise AttributeError(f"model '{self.name}' is not built yet, so it has no output tensors")
        return list(self.graph.outputs)

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"model '{self.name}' is not built yet, so there is nothing to {what}")

    # ---- int8 -----------------------------------------------------------------------------------------
    @property
    def quantized(self):
        return any(isinstance(layer, quantization.INT8_LAYERS) for layer in self.layers)

    def quantize(self, mode='int8', calibration_data=None):
        """Keras's model.quantize('int8'): every Dense becomes an Int8Dense, every Conv2D an Int8Conv2D and every
        Conv1D an Int8Conv1D (quantization.py). Activations are quantized per row of each batch (per receptive
        field in a convolution) or, given calibration_data, with one scale per layer measured on it.
        A quantized model is for inference: fit is refused."""
        if mode != 'int8':
            raise ValueError(f"quantize supports mode='int8', got {mode!r}")
        self._require_built('quantize')
        if self.quantized:
            raise ValueError(f"model '{self.name}' is already quantized")
        xs = None if calibration_data is None else self._inputs(calibration_data, 'calibration_data')
        self._replace_layers(quantization.int8_replacements(self, xs))

    def _replace_layers(self, replacements):
        self._set_graph(self.graph.with_layers(replacements))

    # ---- files ------------------------------------------------------------------------------------------
    def save(self, filepath):
        """Architecture, weights, compile settings and optimizer state in one safetensors file."""
        self._require_built('save')
        saving.save_model(self, filepath)

    def save_weights(self, filepath, layout='numbanet'):
        """Weights only; layout='torch' writes them as an equivalent torch.nn.Sequential's state_dict."""
        self._require_built('save_weights')
        saving.save_weights(self, filepath, layout)

    def load_weights(self, filepath, skip_mismatch=False):
        self._require_built('load_weights')
        return saving.load_weights(self, filepath, skip_mismatch)

    def export(self, filepath, format='onnx', opset=17):
        """Export for inference elsewhere; format='onnx' needs the onnx package (pip install numbanet[onnx])."""
        if format != 'onnx':
            raise ValueError(f"export format must be 'onnx', got {format!r}")
        self._require_built('export')
        onnx_export.export(self, filepath, opset)

    def get_config(self):
        """What rebuilds the model (from_config): its graph, name and seed; not its weights (as in Keras)."""
        self._require_built('describe')
        return {'class': type(self).__name__, 'name': self.name, 'seed': self.seed, **self.graph.get_config()}

    @classmethod
    def from_config(cls, config, custom_objects=None, device='cpu', check_weights=None):
        """A new model, freshly initialised, from get_config(); load_model then sets the weights, which
        check_weights(weights) may refuse before any is allocated."""
        _, inputs, output = rebuild_layers(config, custom_objects, check_weights)
        with config_errors():
            return cls(inputs, output, name=config.get('name'), seed=config.get('seed'), device=device)

    def to_json(self, **kwargs):
        """get_config() as a JSON string (json.dumps's keyword arguments, e.g. indent=2, pass through)."""
        return json.dumps(self.get_config(), **kwargs)

    def get_compile_config(self):
        if not self.compiled:
            return None
        entry = lambda o: {'class': type(o).__name__, 'config': o.get_config()}
        # A model with several outputs has a loss, a list of metrics and a loss weight per output, in output order.
        ids = lambda ms: [ids(m) if isinstance(m, list) else m if isinstance(m, str) else entry(m) for m in ms]
        multi = isinstance(self.loss, MultiLoss)
        return {'optimizer': entry(self.optimizer), 'loss': [entry(l) for l in self.loss.losses] if multi else
                entry(self.loss), 'metrics': ids(self._metric_ids), 'weighted_metrics': ids(self._weighted_ids),
                **({'loss_weights': self.loss.weights} if multi else {})}

    # ---- compile --------------------------------------------------------------------------------------
    def compile(self, optimizer='adam', loss=None, metrics=None, loss_weights=None, weighted_metrics=None):
        """Keras's compile. weighted_metrics are metrics weighed by fit's sample_weight or class_weight. A model
        with several outputs takes loss as one for all, a list in output order or a dict by output name (outputs
        are named after their layers), loss_weights likewise, and metrics and weighted_metrics as a list with an
        entry (a metric or a list of them) per output, or a dict by output name (outputs.py)."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='categorical_crossentropy'")
        optimizer = optimizers.get(optimizer)
        if self.built and len(self.graph.outputs) > 1:
            loss = MultiLoss(self.graph, loss, loss_weights)
            metric_ids = metric_lists(metrics, self.graph.output_names)
            weighted_ids = metric_lists(weighted_metrics, self.graph.output_names, 'weighted_metrics')
        elif loss_weights is not None:
            raise ValueError("loss_weights weighs the losses of a model with several outputs; this model has one")
        else:
            loss = losses.get(loss)
            as_list = lambda ms: [] if ms is None else [ms] if isinstance(ms, (str, metrics_module.Metric)) else list(ms)
            metric_ids, weighted_ids = as_list(metrics), as_list(weighted_metrics)
        # Everything is checked before anything changes: a refused compile leaves the model as it was.
        compiled_metrics = self._resolve_compile(self.graph, loss, metric_ids, weighted_ids) if self.built else []
        for m in metric_ids + weighted_ids if not self.built else ():  # all but what the output width decides, now
            metrics_module.get(m, loss, math.inf)
        self.optimizer, self.loss, self._metric_ids, self._weighted_ids = optimizer, loss, metric_ids, weighted_ids
        self._set_metrics(compiled_metrics)
        self.compiled, self._compiled_graph = True, self.graph

    def _resolve_compile(self, graph, loss, metric_ids, weighted_ids):
        # What compile means depends on the output layer, which a Sequential may learn only later.
        if isinstance(loss, MultiLoss):
            return loss.resolve(graph, self.device, metric_ids, weighted_ids)
        if len(graph.output.shape) != 2:
            raise ValueError(f"model '{self.name}' outputs {graph.output.shape}; losses and metrics take outputs "
                             f"shaped (batch, features): flatten or reduce them first")
        loss.check_model(graph, self.device)
        plain = [metrics_module.get(m, loss, graph.output.shape[-1]) for m in metric_ids]
        return plain + metrics_module.weighted([metrics_module.get(m, loss, graph.output.shape[-1])
                                                for m in weighted_ids], plain)

    def _set_metrics(self, compiled):
        # Weighted metrics (which come last) take each batch's sample weights; the others never see them.
        self.compiled_metrics = compiled
        self._weighted_metrics = [m for m in compiled if m.weighted]
        self._plain_metrics = [m for m in compiled if not m.weighted]

    @property
    def metrics_names(self):
        """'loss' then each compiled metric's name: the order evaluate() returns them in and the keys of
        History. (Keras 3 gives ['loss', 'compile_metrics'], its metrics grouped under one name; these are
        Keras 2's names, which pair with evaluate's list.) Empty before compile."""
        if not self.compiled:
            return []
        self._settle_compile()
        return ['loss'] + [m.name for m in self.compiled_metrics]

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"model '{self.name}' must be compiled before {what}(); call model.compile(...)")
        if what in ('fit', 'train_on_batch') and self.quantized:
            raise RuntimeError(f"model '{self.name}' is quantized to int8 for inference; {what}() is not "
                               f"supported: train the float model, then quantize() it")
        self._settle_compile()

    def _settle_compile(self):
        if self.built and self._compiled_graph is not self.graph:
            # A Sequential compiled before its layers were all added: what compile means is settled now.
            self._set_metrics(self._resolve_compile(self.graph, self.loss, self._metric_ids, self._weighted_ids))
            self._compiled_graph = self.graph

    # ---- input checks, all before any kernel runs --------------------------------------------------------
    def _ensure_built(self, x):
        pass  # a functional model is built when made; Sequential overrides this

    def _checking(self):
        return contextlib.nullcontext()  # Sequential's undoes a build that checks refused afterwards

    def _inputs(self, x, what='x'):
        self._ensure_built(x)
        return input_arrays(x, self.graph.inputs, what, self.name)

    def _data(self, x, y, what='x', y_what='y'):
        xs = self._inputs(x, what)
        self._settle_compile()
        if y is None:
            raise ValueError(f"{y_what} is missing: pass the targets")
        y = self.loss.targets(y, self.graph.output.shape[-1], y_what)
        if y.shape[0] != xs[0].shape[0]:
            raise ValueError(f"{what} has {xs[0].shape[0]} samples but {y_what} has {y.shape[0]}")
        return xs, y

    def _sample_weights(self, sample_weight, class_weight, y, what='sample_weight'):
        """Per-sample weights for the checked targets y, float32 (N,), or None for unweighted."""
        if sample_weight is not None and class_weight is not None:
            raise ValueError("class_weight and sample_weight cannot be used together (as in Keras): multiply the "
                             "class weights into sample_weight")
        if sample_weight is None and class_weight is None:
            return None
        if not self.loss.weighs_samples():
            raise ValueError(f"loss {self.loss.name!r} overrides train() or evaluate() without a weights "
                             f"parameter, so it cannot weigh samples; give them weights=None (see losses.py)")
        if class_weight is not None and isinstance(self.loss, MultiLoss):
            raise ValueError("class_weight is only supported for models with a single output (as in Keras); "
                             "pass the weights per sample as sample_weight")
        if class_weight is not None:
            return class_weight_array(class_weight, y, max(2, self.graph.output.shape[-1]))
        return sample_weight_array(sample_weight, y.shape[0], what)

    def _stream(self, x, y, sample_weight, where, steps, shuffle=False, class_weight=None, targets=True):
        """A generator, iterator or PyDataset as batches, its first one checked now (data_adapters.py)."""
        kind = 'PyDataset' if isinstance(x, utils.PyDataset) else 'generator'
        for name, value in (('y', y), ('sample_weight', sample_weight)):
            if value is not None:
                raise ValueError(f"{where}: when x is a {kind}, {name} must not be passed: the {kind} yields it "
                                 f"as part of each batch, (x, y) or (x, y, sample_weight)")
        if class_weight is not None and kind == 'generator':
            raise ValueError("class_weight is not supported with a generator (as in Keras): yield "
                             "(x, y, sample_weight) batches, or use a PyDataset")

        def check(batch):
            bx, by, bw = unpack(batch)
            if not targets:  # predict: Keras ignores what else a batch holds
                return self._inputs(bx), None, None
            if by is None:
                raise ValueError("a batch needs targets: yield (x, y) or (x, y, sample_weight)")
            xs, by = self._data(bx, by)
            return xs, by, self._sample_weights(bw, class_weight, by)
        return stream_batches(x, check, self._parameters.backend, where, steps, shuffle, self.rng)

    def _array_batches(self, xs, y, weights, batch_size, comm, steps=None, shuffle=False):
        """Arrays as ArrayBatches: they go to the device once; each step gathers its rows there."""
        to_device = self._parameters.backend.to_device
        return ArrayBatches([to_device(a) for a in xs], to_device(y), None if weights is None else to_device(weights),
                            batch_size, self._parameters.backend, comm, steps, shuffle, self.rng)

    def _batch_size(self, batch_size, n, steps):
        # Keras's default: 32, or as many rows as spread the data over `steps` batches.
        if batch_size is not None:
            return positive_int(batch_size, 'batch_size')
        return math.ceil(n / steps) if steps else 32

    # ---- training -----------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose='auto', callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None, distributed=False):
        """Keras's fit. x is arrays (with y), a generator or iterator of (x, y) or (x, y, sample_weight)
        batches, or a utils.PyDataset (data_adapters.py has the rules). sample_weight or class_weight weigh
        each sample's loss (Keras's 'sum_over_batch_size'). distributed=True trains data-parallel across MPI
        ranks (numbanet.distributed) on arrays: batch_size is then per rank."""
        self._require_compiled('fit')
        if distributed and isinstance(self.loss, MultiLoss):
            raise NotImplementedError("fit(distributed=True) trains models with one output; this one has several")
        epochs = non_negative_int(epochs, 'epochs')
        initial_epoch = non_negative_int(initial_epoch, 'initial_epoch')
        verbose = verbosity(verbose)
        steps_per_epoch = positive_int_or_none(steps_per_epoch, 'steps_per_epoch')
        validation_steps = positive_int_or_none(validation_steps, 'validation_steps')
        if not is_number(validation_split) or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
        with self._checking():
            train = val = None
            if is_stream(x):
                if distributed:
                    raise ValueError("fit(distributed=True) shards arrays across the ranks; a generator or PyDataset "
                                     "cannot be sharded that way: pass arrays")
                if validation_split:
                    raise ValueError("validation_split splits arrays; with a generator or PyDataset pass "
                                     "validation_data")
                data = self._stream(x, y, sample_weight, 'fit', steps_per_epoch, shuffle, class_weight)
                batch_size = None if batch_size is None else positive_int(batch_size, 'batch_size')
            else:
                xs, y = self._data(x, y)
                batch_size = self._batch_size(batch_size, xs[0].shape[0], steps_per_epoch)
                weights = self._sample_weights(sample_weight, class_weight, y)
                if validation_split and validation_data is None:
                    n_val = int(xs[0].shape[0] * validation_split)
                    if n_val == 0 or n_val == xs[0].shape[0]:
                        raise ValueError(f"validation_split={validation_split} leaves no samples on one side "
                                         f"of {xs[0].shape[0]}")
                    cut = xs[0].shape[0] - n_val
                    # class_weight weighs training only; sample weights go with their samples.
                    val = ([a[cut:] for a in xs], y[cut:], None if sample_weight is None else weights[cut:])
                    xs, y, weights = [a[:cut] for a in xs], y[:cut], None if weights is None else weights[:cut]
                train = (xs, y, weights)
            if validation_data is not None:
                val = self._validation_data(validation_data, validation_steps)
        self._prepare_training()
        # What every rank must agree on before a distributed fit's first collective (numbanet.distributed).
        plan = None if train is None else {
            'rows': train[0][0].shape[0], 'features': [list(a.shape[1:]) for a in train[0]], 'batch_size': batch_size,
            'epochs': epochs, 'initial_epoch': initial_epoch, 'steps_per_epoch': steps_per_epoch}
        comm = communicator(self, distributed, plan)
        if comm.rank != 0:
            verbose = 0
        if train is not None:
            data = self._array_batches(*train, batch_size, comm, steps_per_epoch, shuffle)
        if isinstance(val, tuple):
            val = self._array_batches(*val, batch_size or 32, SingleProcess(), validation_steps)
        steps = data.steps_per_epoch  # None: a generator's length is known only once it ends
        cb = callbacks_module.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                                           verbose=verbose, epochs=epochs, steps=steps)
        self.stop_training = False
        try:
            with self._update.installed():
                self._fit_loop(data, val, epochs, initial_epoch, cb, comm)
        except BaseException:
            cb.end_progress()
            comm.abort()
            raise
        self.history = cb.history
        return cb.history

    def _validation_data(self, validation_data, steps):
        """validation_data as checked host arrays (xs, y, weights), or batches of a generator or PyDataset."""
        if is_stream(validation_data):
            return self._stream(validation_data, None, None, 'validation_data', steps)
        if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be (x_val, y_val), (x_val, y_val, val_sample_weight), a "
                             "generator or a PyDataset")
        x_val, y_val, w_val = unpack(validation_data)
        xs, y = self._data(x_val, y_val, 'validation x', 'validation y')
        return xs, y, self._sample_weights(w_val, None, y, 'validation sample_weight')

    def _prepare_training(self):
        """Bind the weights, ready the optimizer and the pruning mask. Layers' trainable flags are read here,
        so a layer frozen (or thawed) since the last fit takes effect now: its weights get no gradient and
        the optimizer skips them."""
        self._bind()
        flags = tuple(layer.trainable for layer in self.graph.layers)
        if flags != self._trainable_flags:
            self._plans = {}  # which tensors need gradients changed
            self._trainable_flags = flags
        frozen = self._frozen()
        self.optimizer.build(self._parameters, self._parameters.ranges(frozen))
        self._regularized = self._parameters.regularized(frozen)
        self._parameters.refresh_mask()
        self._parameters.apply_mask()  # a mask set since the last step is in force from the first step on

    def _frozen(self):
        return {id(w) for layer in self.graph.layers if not layer.trainable for w in layer.weights_list}

    def _penalty(self, k, regularized):
        """What the weights' regularizers add to the loss (Keras reports the sum)."""
        return sum(regularizer(k, values) for regularizer, values, _ in regularized)

    def _fit_loop(self, data, val, epochs, initial_epoch, cb, comm):
        self.initial_epoch_override = None  # set by a callback that restored a backup (BackupAndRestore)
        cb.on_train_begin()
        if self.initial_epoch_override is not None:
            initial_epoch = self.initial_epoch_override
        for epoch in range(initial_epoch, epochs):
            cb.on_epoch_begin(epoch)
            for m in self.compiled_metrics:
                m.reset()
            seen, total = 0, 0.0
            for step, (xs, y, weights, rows) in enumerate(data.epoch()):
                cb.on_train_batch_begin(step)
                with self._lock:
                    loss_sum, count, applied = self._train_step(xs, y, rows, comm, weights)
                seen += count
                total += loss_sum
                cb.on_train_batch_end(step, self._logs(total / seen))
                if not applied:
                    self._stop_on_nan(loss_sum / count, f'at epoch {epoch + 1}, step {step + 1}')
                if self.stop_training:
                    break
            if self.stop_training:
                break
            if not seen:  # the data ran out before the epoch's first batch (data.epoch() warned)
                self.stop_training = True
                break
            comm.reduce_metrics(self.compiled_metrics)
            logs = self._logs(total / seen)
            if val is not None:
                val_logs = self._evaluate_data(val, cb)
                logs.update({'val_' + name: value for name, value in (val_logs or {}).items()})
            cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cb.on_train_end()

    def _gather(self, plan, xs, y, weights, idx):
        """The rows idx of the inputs, targets and sample weights (arrays on the device) into the plan's
        buffers; returns the targets and weights buffers (weights None without weights)."""
        k = self._parameters.backend.k
        for buf, x in zip(plan.inputs, xs):
            k.gather_rows(buf, x, idx)
        targets = self.loss.gather(k, plan, y, idx)
        if weights is None:
            return targets, None
        batch_weights = plan.scratch('sample_weight', (plan.batch,))
        k.gather_rows(batch_weights, weights, idx)
        return targets, batch_weights

    def _train_step(self, xs, y, idx, comm, weights=None):
        """One optimizer step on the rows idx of (xs, y), each row's loss times its weight when weights are
        given: (summed loss, rows, whether the update was applied) over every process. A process whose shard
        ran out (its last step may be empty) still joins the exchanges, with zeros."""
        local = idx.shape[0]
        k, loss_sum = self._parameters.backend.k, 0.0
        if local:
            plan = self.plan(local)
            plan.prepare_training()
            targets, batch_weights = self._gather(plan, xs, y, weights, idx)
            plan.forward(training=True, seed=utils.mix_seed(self.seed, self.optimizer.iterations, comm.rank))
            # Without weights, a loss of the user's that overrides train(k, plan, targets) keeps working.
            loss_sum = self.loss.train(k, plan, targets) if batch_weights is None else \
                self.loss.train(k, plan, targets, batch_weights)
        # Summed before anything changes, so every process sees the same NaN and stops together.
        loss_sum, count = comm.sum_pair(loss_sum, local)
        if self._regularized:
            loss_sum += self._penalty(k, self._regularized) * count  # every process holds the same weights
        if not math.isfinite(loss_sum):
            return loss_sum, count, False  # nothing is updated: the weights stay at the last finite step
        with self._update:
            grads = self._parameters.grads
            if not local:
                self._parameters.backend.fill(grads, 0.0)  # no backward pass here: zeros join the exchange
            else:
                plan.zero_gradients()  # backward writes the rest
                if self.compiled_metrics:
                    plan.head_forward()  # the metrics judge outputs; a loss that folds the head has none yet
                for m in self._plain_metrics:
                    m.update(k, plan.output, targets)
                for m in self._weighted_metrics:
                    m.update(k, plan.output, targets, batch_weights)
                plan.backward()
            comm.average_gradients(grads, local / count)
            for regularizer, values, grad in self._regularized:
                regularizer.add_gradient(k, grad, values)
            # Refused when it would make a weight or optimizer state non-finite (the same on every process:
            # the gradients are averaged); then the moving statistics stay as they were too.
            applied = self.optimizer.apply(k)
            if applied and local:
                plan.after_step()
            self._parameters.apply_mask()
        return loss_sum, count, applied

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on exactly this batch; returns its loss (and metrics), as Keras does."""
        self._require_compiled('train_on_batch')
        with self._checking():
            xs, y = self._data(x, y)
            weights = self._sample_weights(sample_weight, class_weight, y)
        self._prepare_training()
        for m in self.compiled_metrics:
            m.reset()
        n = xs[0].shape[0]
        to_device = self._parameters.backend.to_device
        with self._update.installed(), self._lock:
            loss_sum, _, applied = self._train_step([to_device(a) for a in xs], to_device(y),
                                                    to_device(self._arange(n)), SingleProcess(),
                                                    None if weights is None else to_device(weights))
        if not applied:
            self._stop_on_nan(loss_sum / n, 'in train_on_batch')
        return self._result(self._logs(loss_sum / n), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        return self.evaluate(x, y, batch_size=self._inputs(x)[0].shape[0], verbose=0, sample_weight=sample_weight,
                             return_dict=return_dict)

    def predict_on_batch(self, x):
        return self._infer(self._inference_inputs(x))

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

    @staticmethod
    def _result(logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _stop_on_nan(self, loss, where):
        self.stop_training = True
        what = (f"loss became {loss}" if not math.isfinite(loss) else
                f"the update would have made weights or optimizer state non-finite (loss {loss})")
        message = (f"{what} {where}; training stopped and the weights and optimizer state were kept from the last "
                   f"finite step. Try a lower learning rate or check the data.")
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    # ---- evaluation and prediction ------------------------------------------------------------------------
    def _evaluate_data(self, data, cb):
        """Loss (each sample's times its weight, where there are weights) and metrics over one epoch of data
        (data_adapters.py); None when the data had no batch left."""
        cb.on_test_begin()
        k = self._parameters.backend.k
        for m in self.compiled_metrics:
            m.reset()
        total, seen = 0.0, 0
        for step, (xs, y, weights, rows) in enumerate(data.epoch()):
            cb.on_test_batch_begin(step)
            plan = self.plan(rows.shape[0])
            targets, batch_weights = self._gather(plan, xs, y, weights, rows)
            plan.forward(training=False)
            total += self.loss.evaluate(k, plan, targets) if batch_weights is None else \
                self.loss.evaluate(k, plan, targets, batch_weights)
            seen += plan.batch
            plan.head_forward()
            for m in self._plain_metrics:
                m.update(k, plan.output, targets)
            for m in self._weighted_metrics:
                m.update(k, plan.output, targets, batch_weights)
            cb.on_test_batch_end(step, self._logs(total / seen))
        if not seen:
            cb.on_test_end({})
            return None
        penalty = self._penalty(k, self._parameters.regularized(self._frozen()))
        logs = self._logs(total / seen + penalty)
        cb.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose='auto', sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Keras's evaluate: the loss (each sample's times its weight, given sample_weight) and the metrics.
        x is arrays (with y), a generator or a PyDataset, as in fit; steps limits the batches."""
        self._require_compiled('evaluate')
        verbose = verbosity(verbose)
        steps = positive_int_or_none(steps, 'steps')
        if is_stream(x):
            data = self._stream(x, y, sample_weight, 'evaluate', steps)
        else:
            xs, y = self._data(x, y)
            batch_size = self._batch_size(batch_size, xs[0].shape[0], steps)
            data = self._array_batches(xs, y, self._sample_weights(sample_weight, None, y), batch_size,
                                       SingleProcess(), steps)
        cb = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                           epochs=1, steps=data.steps_per_epoch)
        with self._lock:
            logs = self._evaluate_data(data, cb)
        return self._result(logs, return_dict)

    def _predict_stream(self, x, steps, verbose, callbacks):
        data = self._stream(x, None, None, 'predict', steps, targets=False)
        cb = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                           epochs=1, steps=data.steps_per_epoch)
        cb.on_predict_begin()
        k, batches = self._parameters.backend.k, []
        for step, (xs, _, _, rows) in enumerate(data.epoch()):
            cb.on_predict_batch_begin(step)
            plan = self.plan(rows.shape[0])
            for buf, a in zip(plan.inputs, xs):
                k.gather_rows(buf, a, rows)
            plan.predict()
            batches.append(self._host_outputs(plan))
            cb.on_predict_batch_end(step, {'outputs': batches[-1]})
        cb.on_predict_end()
        return [np.concatenate(b) for b in zip(*batches)] if len(self.graph.outputs) > 1 else np.concatenate(batches)

    def _host_outputs(self, plan):
        # Host copies the caller owns (never the plan's buffers): one array, or a list of one per output.
        host = [to_numpy(o.output) for o in plan.outputs]
        return host if len(host) > 1 else host[0]

    def _inference_inputs(self, x):
        # The common case (checks.ready_inputs) cheaply, anything else through the general checks.
        xs = ready_inputs(x, self.graph.inputs) if self.built else None
        return self._inputs(x) if xs is None else xs

    def _infer(self, xs):
        # Checked inputs as one batch, in inference mode: predict's single batch, predict_on_batch, model(x).
        with self._lock:
            plan = self._plan_holding(xs)
            plan.predict()
            return self._host_outputs(plan)

    def _plan_holding(self, xs):
        # The plan for one batch of these checked inputs, with them copied into its input buffers.
        plan = self.plan(xs[0].shape[0])
        for buf, arr in zip(plan.inputs, xs):
            write(buf, arr)
        return plan

    def predict(self, x, batch_size=None, verbose='auto', steps=None, callbacks=None):
        """Keras's predict: the outputs for x, arrays or a generator or PyDataset of x (or (x,)) batches;
        steps limits the batches."""
        verbose = verbosity(verbose)
        steps = positive_int_or_none(steps, 'steps')
        if type(x) is not np.ndarray and is_stream(x):  # (an array never is: batch-1 calls skip the ABC check)
            with self._lock:
                return self._predict_stream(x, steps, verbose, callbacks)
        xs = self._inference_inputs(x)
        batch_size = self._batch_size(batch_size, xs[0].shape[0], steps)
        if steps is not None:  # the first `steps` batches, as in Keras
            xs = [a[:steps * batch_size] for a in xs]
        n = xs[0].shape[0]
        if n <= batch_size and not verbose and not callbacks:
            return self._infer(xs)  # one batch (batch-1 inference, say): no loop, one copy in, one copy out
        with self._lock:
            cb = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                               epochs=1, steps=math.ceil(n / batch_size))
            cb.on_predict_begin()
            be = self._parameters.backend
            results = [np.empty((n,) + t.shape[1:], np.float32) for t in self.graph.outputs]
            for step, (start, stop, plan) in enumerate(self.batch_plans(xs, batch_size)):
                cb.on_predict_batch_begin(step)
                plan.predict()
                for result, o in zip(results, plan.outputs):
                    result[start:stop] = be.to_host(o.output)
                batch = [r[start:stop] for r in results]
                cb.on_predict_batch_end(step, {'outputs': batch if len(batch) > 1 else batch[0]})
            cb.on_predict_end()
            return results if len(results) > 1 else results[0]

    def __call__(self, x, training=False):
        """model(x) on arrays: the outputs for the whole of x in one batch (training=True runs layers in
        their training mode, as fit does)."""
        if isinstance(x, KerasTensor) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], KerasTensor)):
            raise NotImplementedError("calling a model on symbolic tensors (nesting models) is not supported; "
                                      "call its layers instead")
        xs = self._inference_inputs(x)
        if not training:
            return self._infer(xs)
        with self._lock:
            plan = self._plan_holding(xs)
            self._eager_calls += 1  # a new draw of random numbers (Dropout) for every call in training mode
            plan.forward(training=True, seed=utils.mix_seed(self.seed, 1 << 62, self._eager_calls))
            plan.after_step()
            plan.head_forward()
            return self._host_outputs(plan)

    # ---- description ----------------------------------------------------------------------------------------
    def summary(self, print_fn=None):
        if not self.built:
            raise ValueError(f"model '{self.name}' has not been built yet: give it an Input, call build(), "
                             f"or fit/predict it once so it can learn the input shape")
        print_summary(self, print_fn or print)

    def __repr__(self):
        state = f"{self.count_params():,} params" if self.built else "not built"
        return f"<{type(self).__name__} name={self.name}, {len(self.layers)} layers, {state}, device={self.device}>"
