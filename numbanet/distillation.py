"""Knowledge distillation (Hinton et al., 2015): a loss that runs its teacher itself.

    student.compile(optimizer='adam', loss=DistillationLoss(teacher, temperature=3.0, alpha=0.1))
    student.fit(x, y)      # y: one-hot rows or integer labels

trains alpha * CE(hard labels) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T)) on
the student's logits; the teacher runs forward on every batch and never changes. evaluate() reports the
student's hard-label cross-entropy. Distiller wraps the same in Keras's example's shape.

It pays when the teacher generalises better than it memorises: a teacher that fits its training set
almost exactly gives near one-hot targets there, and the student learns nothing the labels did not say.
On MNIST a teacher trained on shifted images (augmentation.random_shift) lifts a 784-64-10 student by
about 0.3 points; the plain reference MLP does not (README, Compression).
"""
import math

import numpy as np

from numbanet.backend import write
from numbanet.checks import as_label_array, is_number
from numbanet.losses import CategoricalCrossentropy, Loss
from numbanet.model import Model
from numbanet.utils import to_categorical


def _softmax_or_logits(graph, role):
    head = graph.head
    if head is not None and head.name != 'softmax':
        raise ValueError(f"the {role} must end in softmax or in logits, but its output activation is {head.name}")


class DistillationLoss(Loss):
    def __init__(self, teacher, temperature=3.0, alpha=0.1, name='distillation'):
        if not isinstance(teacher, Model) or not teacher.built:
            raise ValueError("the teacher must be a built numbanet model")
        if not is_number(temperature) or not 0 < temperature < math.inf:
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        if not is_number(alpha) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        _softmax_or_logits(teacher.graph, 'teacher')
        self.teacher, self.temperature, self.alpha, self.name = teacher, float(temperature), float(alpha), name

    def targets(self, y, n_out, what='y'):
        y_arr = np.asarray(y)
        if y_arr.ndim == 1 or (y_arr.ndim == 2 and y_arr.shape[1] == 1 and n_out > 1):
            return to_categorical(as_label_array(y_arr, what, n_out), n_out)  # labels are accepted too
        return CategoricalCrossentropy().targets(y, n_out, what)

    def check_model(self, graph, device):
        teacher = self.teacher
        for role, g in (('teacher', teacher.graph), ('student', graph)):
            if len(g.outputs) > 1:
                raise NotImplementedError(f"distillation takes models with one output, but the {role} has {len(g.outputs)}")
        if [t.shape for t in teacher.graph.inputs] != [t.shape for t in graph.inputs]:
            raise ValueError("teacher and student must take the same inputs")
        if teacher.graph.output.shape != graph.output.shape:
            raise ValueError(f"teacher and student outputs differ: {teacher.graph.output.shape} vs "
                             f"{graph.output.shape}")
        if teacher.device != device:
            raise ValueError("teacher and student must be on the same device")
        # The teacher runs inside the student's step, on its own buffers: a layer with weights in both
        # would move between them mid-step, and the student's gradient would land in the teacher's.
        shared = [l.name for l in teacher.graph.layers if l.weights_list and any(l is m for m in graph.layers)]
        if shared:
            raise ValueError(f"teacher and student share the layers {shared}: distil into a student of its own")
        _softmax_or_logits(graph, 'student')

    def teacher_logits(self, plan):
        """The teacher's logits for the batch in the student's plan."""
        teacher_plan = self.teacher.plan(plan.batch)
        for dst, src in zip(teacher_plan.inputs, plan.inputs):
            write(dst, src)
        teacher_plan.forward(training=False)
        return teacher_plan.logits

    def train(self, k, plan, targets, weights=None):
        teacher = self.teacher_logits(plan)
        total = k.distillation_forward(plan.logits, teacher, targets, self.temperature, self.alpha, weights)
        k.distillation_backward(plan.grad_logits, plan.logits, teacher, targets, self.temperature, self.alpha)
        self.weigh_gradient(k, plan, weights)
        return total

    def evaluate(self, k, plan, targets, weights=None):
        if plan.head is None:  # the outputs are the logits: the probabilities go to scratch
            return k.softmax_crossentropy_forward(plan.scratch('probs', plan.output.shape), plan.logits, targets,
                                                  weights)
        total = k.softmax_crossentropy_forward(plan.output, plan.logits, targets, weights)
        plan.output_written()
        return total

    def get_config(self):
        # Saved for the record; load_model(..., compile=False) reads such a file, as the teacher is not in it.
        return {'name': self.name, 'temperature': self.temperature, 'alpha': self.alpha}


class Distiller(Model):
    """Trains a student to match a trained teacher, with compile and fit like any model:

        distiller = Distiller(teacher, student, temperature=3.0, alpha=0.1)
        distiller.compile(optimizer='adam', metrics=['accuracy'])
        distiller.fit(x, y, ...)          # y: one-hot rows or integer labels
        student.predict(x)                # the student's layers were trained in place

    A model over the student's own layers and its random generator (the batches student.fit would draw),
    compiled with a DistillationLoss; the student keeps its own compile settings."""

    def __init__(self, teacher, student, temperature=3.0, alpha=0.1, name='distiller'):
        for role, model in (('teacher', teacher), ('student', student)):
            if not isinstance(model, Model) or not model.built:
                raise ValueError(f"the {role} must be a built numbanet model")
        distillation = DistillationLoss(teacher, temperature, alpha)
        distillation.check_model(student.graph, student.device)
        super().__init__(student.graph.inputs, student.graph.output, name=name, seed=student.seed,
                         device=student.device)
        self.rng = student.rng
        self.teacher, self.student, self.distillation = teacher, student, distillation

    def compile(self, optimizer='adam', loss=None, metrics=None, weighted_metrics=None):
        if loss is not None:
            raise ValueError("a Distiller's loss is the distillation loss; set temperature and alpha instead")
        super().compile(optimizer=optimizer, loss=self.distillation, metrics=metrics, weighted_metrics=weighted_metrics)
