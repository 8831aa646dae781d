"""Activation layers (ReLU, Activation, Softmax) in a graph, and a linear output."""

import numpy as np

from numbanet import layers
from numbanet import Model


def test_activation_layers_and_linear_output(rng):
    inputs = layers.Input(shape=(4,))
    x = layers.ReLU()(layers.Dense(6)(inputs))
    x = layers.Activation('linear')(x)
    logits = layers.Dense(3)(x)
    model = Model(inputs, layers.Softmax()(logits), seed=0)
    data = rng.standard_normal((10, 4)).astype(np.float32)
    W1, b1, W2, b2 = model.get_weights()
    z = np.maximum(data @ W1 + b1, 0) @ W2 + b2
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(model.predict(data, verbose=0), e / e.sum(1, keepdims=True), rtol=1e-5)
    # Training through a Softmax layer fuses it into the loss just like Dense(activation='softmax').
    model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(data, rng.integers(0, 3, 10), epochs=2, verbose=0)
