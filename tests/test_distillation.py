"""Knowledge distillation: the Distiller trains the student and leaves the teacher. The loss kernels are
tested in tests/kernels/test_distillation.py."""
import numpy as np
import pytest

import numbanet
from numbanet import compression
from tests.helpers import mlp, trained_mlp


def test_distiller_with_alpha_1_is_plain_training(rng):
    teacher, x, labels = trained_mlp(rng)
    y = numbanet.utils.to_categorical(labels, 5)
    alone, student = mlp(hidden=(8,), seed=3), mlp(hidden=(8,), seed=3)
    alone.compile(optimizer='adam', loss='categorical_crossentropy')
    distiller = compression.Distiller(teacher, student, temperature=4.0, alpha=1.0)
    distiller.compile(optimizer='adam')
    alone.fit(x, y, batch_size=32, epochs=2, verbose=0)
    distiller.fit(x, y, batch_size=32, epochs=2, verbose=0)
    for a, b in zip(alone.get_weights(), student.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_distiller_trains_the_student_and_leaves_the_teacher(rng):
    teacher, x, labels = trained_mlp(rng)
    teacher_weights = teacher.get_weights()
    student = mlp(hidden=(8,), seed=3)
    distiller = compression.Distiller(teacher, student, temperature=3.0, alpha=0.1)
    distiller.compile(optimizer='adam', metrics=['accuracy'])
    history = distiller.fit(x, labels, batch_size=32, epochs=20, verbose=0)  # integer labels are accepted
    assert history.history['loss'][-1] < history.history['loss'][0]
    for a, b in zip(teacher_weights, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
    # The student model itself (its layers were trained in place) now follows the teacher.
    agreement = (student.predict(x, verbose=0).argmax(1) == teacher.predict(x, verbose=0).argmax(1)).mean()
    assert agreement > 0.9
    _, acc = distiller.evaluate(x, labels, verbose=0)
    assert acc > 0.9
    with pytest.raises(ValueError, match='distillation loss'):
        distiller.compile(optimizer='adam', loss='mse')
    with pytest.raises(ValueError, match='outputs differ'):
        compression.Distiller(teacher, mlp(n_out=3))
    with pytest.raises(ValueError, match='temperature'):
        compression.Distiller(teacher, student, temperature=0)


def test_a_teacher_sharing_layers_with_the_student_is_refused(rng):
    teacher, _, _ = trained_mlp(rng)
    inputs = numbanet.layers.Input(shape=(12,))
    student = numbanet.Model(inputs, numbanet.layers.Dense(5, activation='softmax')(teacher.layers[1](inputs)))
    with pytest.raises(ValueError, match='share the layers'):
        compression.Distiller(teacher, student)
    with pytest.raises(ValueError, match='share the layers'):
        student.compile(optimizer='adam', loss=compression.DistillationLoss(teacher))
    with pytest.raises(ValueError, match='share the layers'):
        compression.Distiller(teacher, teacher)
    for bad in (float('inf'), float('nan'), -1.0):
        with pytest.raises(ValueError, match='temperature'):
            compression.DistillationLoss(teacher, temperature=bad)
