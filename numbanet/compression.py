"""Making a trained model cheaper: magnitude pruning and knowledge distillation. (int8 quantization is
model.quantize('int8'), in model.py, as in Keras.)"""
import numpy as np

from numbanet.backend import to_numpy, write
from numbanet.layers import Activation, Dense
from numbanet.losses import CategoricalCrossentropy
from numbanet.model import Model


# ---- pruning -------------------------------------------------------------------------------------------------
def _kernels(model, layers=None):
    model._require_built('prune')
    model._bind()
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    if layers is not None:
        names = {layer if isinstance(layer, str) else layer.name for layer in layers}
        unknown = names - {layer.name for layer in dense}
        if unknown:
            raise ValueError(f"no Dense layers named {sorted(unknown)} in model '{model.name}'")
        dense = [layer for layer in dense if layer.name in names]
    if not dense:
        raise ValueError(f"model '{model.name}' has no Dense kernels to prune")
    if any(layer.quantized for layer in dense):
        raise ValueError("prune before quantize(): int8 kernels cannot be pruned")
    return [layer._kernel for layer in dense]


def prune(model, sparsity=0.5, scope='global', layers=None):
    """Zero the smallest-magnitude weights of the Dense kernels (biases are kept) and keep them zero
    through later training: the optimizer's step is followed by the mask every time.

    scope='global' ranks all kernels together (layers keep different shares); 'layer' prunes each kernel
    to the same sparsity. Pruning again only adds zeros. Returns the sparsity reached."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
    if scope not in ('global', 'layer'):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    kernels = _kernels(model, layers)
    values = [np.abs(to_numpy(w.value)) for w in kernels]
    if scope == 'global':
        everything = np.concatenate([v.ravel() for v in values])
        cut = int(round(sparsity * everything.size))
        thresholds = [np.partition(everything, cut - 1)[cut - 1] if cut else -1.0] * len(values)
    else:
        thresholds = []
        for v in values:
            cut = int(round(sparsity * v.size))
            thresholds.append(np.partition(v.ravel(), cut - 1)[cut - 1] if cut else -1.0)
    for w, v, threshold in zip(kernels, values, thresholds):
        keep = v > threshold
        if w.mask is not None:
            keep &= w.mask
        w.mask = keep
        w.assign(np.where(keep, to_numpy(w.value), 0.0).astype(np.float32))
    model._mask_key = None  # masks changed: the next fit rebuilds the flat mask
    return _zero_fraction(model, layers, False)


def sparsity(model, layers=None, per_layer=False):
    """Fraction of the Dense kernels' weights that are exactly zero (per layer name with per_layer=True)."""
    return _zero_fraction(model, layers, per_layer)


def _zero_fraction(model, layers, per_layer):
    model._require_built('measure sparsity')
    model._bind()
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    if layers is not None:
        names = {layer if isinstance(layer, str) else layer.name for layer in layers}
        dense = [layer for layer in dense if layer.name in names]
    zeros = {layer.name: (int((to_numpy(layer._kernel.value) == 0).sum()), layer._kernel.size) for layer in dense}
    if per_layer:
        return {name: z / n for name, (z, n) in zeros.items()}
    total = sum(n for _, n in zeros.values())
    return sum(z for z, _ in zeros.values()) / total if total else 0.0


def strip_pruning(model):
    """Forget the masks: the zeros stay, but later training may move them again."""
    for w in model._weight_specs():
        w.mask = None
    model._mask_key = None


# ---- distillation ----------------------------------------------------------------------------------------------
class DistillationLoss(CategoricalCrossentropy):
    """alpha * CE(hard labels) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))."""

    def __init__(self, temperature=3.0, alpha=0.1, from_logits=False, name='distillation'):
        super().__init__(from_logits=from_logits, name=name)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        self.temperature, self.alpha = float(temperature), float(alpha)

    def targets(self, y, n_out, what='y'):
        y_arr = np.asarray(y)
        if y_arr.ndim == 1 or (y_arr.ndim == 2 and y_arr.shape[1] == 1 and n_out > 1):
            from numbanet.checks import as_label_array
            from numbanet.utils import to_categorical
            return to_categorical(as_label_array(y_arr, what, n_out), n_out)  # labels are accepted too
        return super().targets(y, n_out, what)

    def distill(self, k, dout, student_logits, teacher_logits, targets):
        total = k.distillation_forward(student_logits, teacher_logits, targets, self.temperature, self.alpha)
        k.distillation_backward(dout, student_logits, teacher_logits, targets, self.temperature, self.alpha)
        return total

    def get_config(self):
        return {**super().get_config(), 'temperature': self.temperature, 'alpha': self.alpha}


def _ends_in_softmax(model):
    layer = model._graph.output.node.layer
    return isinstance(layer, (Dense, Activation)) and layer.activation == 'softmax'


class Distiller(Model):
    """Trains a student to match a trained teacher (Hinton et al., 2015), with fit like any model.

        distiller = Distiller(teacher, student, temperature=3.0, alpha=0.1)
        distiller.compile(optimizer='adam', metrics=['accuracy'])
        distiller.fit(x, y, ...)          # y: one-hot rows or integer labels
        student.predict(x)                # the student's layers were trained in place

    The teacher runs forward on every batch (its weights never change); evaluate() reports the student's
    hard-label cross-entropy. Both models must end in softmax, or in logits (from_logits).

    It pays when the teacher generalises better than it memorises: a teacher that fits its training set
    almost exactly gives near one-hot targets there, and the student learns nothing the labels did not say.
    On MNIST a teacher trained on shifted images (augmentation.random_shift) lifts a 784-64-10 student by
    about 0.3 points; the plain reference MLP does not (README, Compression)."""

    def __init__(self, teacher, student, temperature=3.0, alpha=0.1, name='distiller'):
        for role, model in (('teacher', teacher), ('student', student)):
            if not isinstance(model, Model) or not model.built:
                raise ValueError(f"the {role} must be a built numbanet model")
        if [t.shape for t in teacher._graph.inputs] != [t.shape for t in student._graph.inputs]:
            raise ValueError("teacher and student must take the same inputs")
        if teacher._graph.output.shape != student._graph.output.shape:
            raise ValueError(f"teacher and student outputs differ: {teacher._graph.output.shape} vs "
                             f"{student._graph.output.shape}")
        if teacher.device != student.device:
            raise ValueError("teacher and student must be on the same device")
        self._setup(name, student.seed, student.device)
        self._rng = student._rng  # the student's own shuffling: same seed, same batches as student.fit
        self._set_graph(student._graph)  # the student's own layers: training here trains the student
        self.teacher, self.student = teacher, student
        self._distill = DistillationLoss(temperature, alpha, from_logits=not _ends_in_softmax(student))

    def compile(self, optimizer='adam', loss=None, metrics=None):
        if loss is not None:
            raise ValueError("a Distiller's loss is the distillation loss; set temperature and alpha instead")
        super().compile(optimizer=optimizer, loss=self._distill, metrics=metrics)

    def _train_loss(self, plan, targets):
        teacher = self.teacher
        teacher._bind()
        tplan = teacher._plan(plan.batch)
        for dst, src in zip(tplan.inputs, plan.inputs):
            write(dst, src)
        tplan.forward(teacher._k, logits=_ends_in_softmax(teacher))
        return self.loss.distill(self._k, plan.grad_output, plan.output, tplan.output, targets)
