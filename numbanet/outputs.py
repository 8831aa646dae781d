"""Models with several outputs: a loss per output, weighed and summed, and metrics named after their output
(Keras's 'loss', '<output>_loss', '<output>_<metric>'), outputs named after the layers that make them.

A MultiLoss stands where a single-output model's loss stands: the model hands it the plan and the batch's
targets as it hands one loss, and it hands each output's loss that output's view of the plan (plan.Output)
and targets, so no loss learns that the model has other outputs. Targets travel as a Targets tuple, one
array per output, which slices by rows and counts samples as one array does.
"""
import numpy as np

from numbanet import losses
from numbanet import metrics as metrics_module
from numbanet.checks import is_number


class Targets(tuple):
    """One checked target array per output; t[a:b] slices every array's rows, t.shape[0] counts samples."""

    @property
    def shape(self):
        return self[0].shape[:1]

    def __getitem__(self, key):
        if isinstance(key, slice):
            return Targets(a[key] for a in self)
        return tuple.__getitem__(self, key)


def per_output(value, names, what):
    """A list entry, or a dict by output name, as one entry per output (None where a dict leaves one out)."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names), key=str)
        if unknown:
            raise ValueError(f"{what} names {unknown}, which are not outputs of the model; its outputs are {names}")
        return [value.get(name) for name in names]
    if not isinstance(value, (list, tuple)) or len(value) != len(names):
        raise ValueError(f"the model has {len(names)} outputs ({names}): pass {what} as a list of {len(names)} "
                         f"entries in that order, or a dict by output name; got {value!r:.80}")
    return list(value)


def metric_lists(metrics, names, what='metrics'):
    """compile's metrics for a model with several outputs: per output, a list of metric names or objects."""
    if metrics is None:
        return [[] for _ in names]
    return [[] if m is None else list(m) if isinstance(m, (list, tuple)) else [m]
            for m in per_output(metrics, names, what)]


class MultiLoss(losses.Loss):
    """compile's loss for a model with several outputs: one loss for all, a list in output order or a dict by
    output name, each output's times its loss_weights entry (1 by default); the loss minimised is their sum."""

    def __init__(self, graph, loss, loss_weights=None):
        super().__init__('loss')
        self.names = list(graph.output_names)
        self.widths = [t.shape[-1] for t in graph.outputs]
        entries = per_output(loss, self.names, 'loss') if isinstance(loss, (list, tuple, dict)) \
            else [loss] * len(self.names)
        for name, entry in zip(self.names, entries):
            if entry is None:
                raise ValueError(f"loss has no entry for output '{name}': every output needs a loss")
        self.losses = [losses.get(entry) for entry in entries]
        weights = [1.0] * len(self.names) if loss_weights is None else per_output(loss_weights, self.names,
                                                                                    'loss_weights')
        for name, w in zip(self.names, weights):
            if w is not None and (not is_number(w) or not 0 <= w < float('inf')):
                raise ValueError(f"loss_weights for output '{name}' must be a finite number >= 0, got {w!r}")
        self.weights = [1.0 if w is None else float(w) for w in weights]
        self.sums = np.zeros(len(self.names))  # the last batch's summed loss per output, for OutputLoss

    def resolve(self, graph, device, metric_ids, weighted_ids):
        """compile's check of the model: each output's loss checks its output; then the compiled metrics: each
        output's loss, each output's metrics, each output's weighted metrics."""
        read = {j for ids in graph.in_ids for j in ids}
        for name, i in zip(self.names, graph.output_ids):
            if i in read:  # its loss would have to write its gradient alone and first (plan.py)
                raise NotImplementedError(f"output '{name}' is also read by another layer of the model: such a model "
                                          f"predicts, but numbanet trains models whose outputs only losses read")
        for name, loss, view in zip(self.names, self.losses, graph.output_views()):
            if len(view.output.shape) != 2:
                raise ValueError(f"output '{name}' is shaped {view.output.shape}; losses and metrics take outputs "
                                 f"shaped (batch, features): flatten or reduce it first")
            loss.check_model(view, device)
        get = lambda i, ids: [metrics_module.get(m, self.losses[i], self.widths[i]) for m in ids]
        plain = [get(i, ids) for i, ids in enumerate(metric_ids)]
        weighted = [metrics_module.weighted(get(i, ids), plain[i]) for i, ids in enumerate(weighted_ids)]
        return [OutputLoss(self, i) for i in range(len(self.names))] + [
            OutputMetric(m, i, self.names[i]) for per_output in (plain, weighted) for i, ms in enumerate(per_output)
            for m in ms]

    def targets(self, y, n_out, what='y'):
        if y is None or not isinstance(y, (list, tuple, dict)):
            raise ValueError(f"the model has {len(self.names)} outputs ({self.names}): pass {what} as a list of "
                             f"{len(self.names)} target arrays in that order, or a dict by output name")
        checked = []
        for name, loss, width, arr in zip(self.names, self.losses, self.widths, per_output(y, self.names, what)):
            if arr is None:
                raise ValueError(f"{what} has no targets for output '{name}'")
            checked.append(loss.targets(arr, width, f"{what} for output '{name}'"))
        for name, arr in zip(self.names[1:], checked[1:]):
            if arr.shape[0] != checked[0].shape[0]:
                raise ValueError(f"{what} for output '{self.names[0]}' has {checked[0].shape[0]} samples but "
                                 f"{what} for output '{name}' has {arr.shape[0]}")
        return Targets(checked)

    def weighs_samples(self):
        return all(loss.weighs_samples() for loss in self.losses)

    def gather(self, k, plan, y, rows):
        return tuple(loss.gather(k, out, t, rows) for loss, out, t in zip(self.losses, plan.outputs, y))

    def train(self, k, plan, targets, weights=None):
        total = 0.0
        for i, (loss, out, t, w) in enumerate(zip(self.losses, plan.outputs, targets, self.weights)):
            self.sums[i] = loss.train(k, out, t) if weights is None else loss.train(k, out, t, weights)
            if w != 1.0:
                k.scale_values(out.grad_logits.reshape(-1), w)
            total += w * self.sums[i]
        return float(total)

    def evaluate(self, k, plan, targets, weights=None):
        total = 0.0
        for i, (loss, out, t, w) in enumerate(zip(self.losses, plan.outputs, targets, self.weights)):
            self.sums[i] = loss.evaluate(k, out, t) if weights is None else loss.evaluate(k, out, t, weights)
            total += w * self.sums[i]
        return float(total)

    def get_config(self):
        return {'losses': {n: loss.get_config() for n, loss in zip(self.names, self.losses)},
                'loss_weights': self.weights}


class OutputLoss(metrics_module.Metric):
    """'<output>_loss': an output's loss over the epoch, before its loss weight, from MultiLoss's sums."""

    def __init__(self, source, index):
        super().__init__(f'{source.names[index]}_loss')
        self.source, self.index = source, index

    def update(self, k, outputs, targets):
        self.state += (self.source.sums[self.index], targets[0].shape[0])


class OutputMetric(metrics_module.Metric):
    """A metric of one output, named '<output>_<metric>', reading that output and its targets."""

    def __init__(self, metric, index, output_name):
        self.metric, self.index, self.name = metric, index, f'{output_name}_{metric.name}'
        self.state, self.weighted = metric.state, metric.weighted  # a reset or a distributed sum is the metric's

    def update(self, k, outputs, targets, *weights):
        self.metric.update(k, outputs[self.index], targets[self.index], *weights)

    def result(self):
        return self.metric.result()
