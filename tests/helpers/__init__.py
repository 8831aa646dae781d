"""What several test files share: small models and data, the gradient checks, the examples as modules.
reference_mlp.py (an independent numpy MLP) and datafiles.py (tiny data files) sit beside this file."""
import importlib.util
import os
import sys

import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet import Model, Sequential
from tests.helpers.reference_mlp import softmax  # the numpy reference the softmax kernels are checked against

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Kernel test shapes: batch size 1, one class, and sizes that are no multiple of anything.
SHAPES = [(1, 1), (1, 10), (7, 13), (129, 257)]


# ---- models and data -------------------------------------------------------------------------------------------
def mlp(hidden=(16, 8), n_in=12, n_out=5, seed=0, functional=True):
    if functional:
        inputs = layers.Input(shape=(n_in,))
        x = inputs
        for h in hidden:
            x = layers.Dense(h, activation='relu')(x)
        outputs = layers.Dense(n_out, activation='softmax')(x)
        return Model(inputs=inputs, outputs=outputs, seed=seed)
    return Sequential([layers.Dense(h, activation='relu') for h in hidden] +
                      [layers.Dense(n_out, activation='softmax')], seed=seed)


def blobs(rng, n=300, n_in=12, n_out=5, spread=0.5):
    centers = rng.standard_normal((n_out, n_in)) * 2
    labels = rng.integers(0, n_out, n)
    x = (centers[labels] + spread * rng.standard_normal((n, n_in))).astype(np.float32)
    return x, labels


def trained_mlp(rng, hidden=(32, 16), n=400):
    """An mlp trained for three epochs on blobs: (model, x, labels)."""
    x, labels = blobs(rng, n=n)
    model = mlp(hidden=hidden)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x, labels, batch_size=32, epochs=3, verbose=0)
    return model, x, labels


def convnet(seed=0, shape=(10, 9, 2), n_out=3):
    """Every kind of window in one graph: Conv2D 'same', 'valid' with stride 2 and dilated 2, MaxPooling2D, and
    a Conv1D branch ('causal' with stride 3, dilated 'same' without bias) over the image read as a sequence,
    joined before a Dense softmax."""
    inputs = layers.Input(shape=shape)
    a = layers.Conv2D(6, 3, padding='same', activation='relu')(inputs)
    a = layers.Conv2D(6, 3, strides=2, padding='valid', activation='relu')(a)
    a = layers.Conv2D(5, (2, 3), dilation_rate=2, padding='same')(a)
    a = layers.Flatten()(layers.MaxPooling2D(2)(a))
    b = layers.Reshape((shape[0] * shape[1], shape[2]))(inputs)
    b = layers.Conv1D(4, 5, strides=3, padding='causal', activation='relu')(b)
    b = layers.Flatten()(layers.Conv1D(3, 3, dilation_rate=2, padding='same', use_bias=False)(b))
    outputs = layers.Dense(n_out, activation='softmax')(layers.Concatenate()([a, b]))
    return Model(inputs, outputs, seed=seed)


def images(rng, n=300, shape=(10, 9, 2), n_out=3, spread=2.5):
    """Blobs in image space: one random picture per class, plus noise (enough that a small convnet is not
    sure of every answer)."""
    centers = rng.standard_normal((n_out,) + shape)
    labels = rng.integers(0, n_out, n)
    x = (centers[labels] + spread * rng.standard_normal((n,) + shape)).astype(np.float32)
    return x, labels


def trained_convnet(rng, n=300):
    """convnet() trained for four epochs on images(): (model, x, labels)."""
    x, labels = images(rng, n=n)
    model = convnet()
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    model.fit(x, labels, batch_size=32, epochs=4, verbose=0)
    return model, x, labels


def residual(seed=1):
    """A graph with a skip connection (Add) and a Concatenate of a hidden tensor with the input."""
    inputs = layers.Input(shape=(6,))
    h = layers.Dense(8, activation='relu')(inputs)
    a = layers.Dense(8)(h)
    merged = layers.Add()([a, h])
    joined = layers.Concatenate()([merged, inputs])
    return numbanet.Model(inputs, layers.Dense(3, activation='softmax')(joined), seed=seed)


def trained_residual(rng):
    """residual() compiled with Adam and trained for two epochs: (model, x, y)."""
    model = residual()
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    x = rng.standard_normal((60, 6)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    model.fit(x, y, epochs=2, verbose=0)
    return model, x, y


# ---- gradient checks -------------------------------------------------------------------------------------------
def numeric_grad(f, x, eps, indices):
    """Central differences of the scalar f() with respect to x at the given flat indices."""
    flat = x.reshape(-1)
    out = []
    for i in indices:
        orig = flat[i]
        flat[i] = orig + eps
        fp = f()
        flat[i] = orig - eps
        fm = f()
        flat[i] = orig
        out.append((fp - fm) / (2 * eps))
    return np.array(out)


def sample_indices(size, rng, count=25):
    return rng.choice(size, size=min(count, size), replace=False)


def check_grad(f, x, analytic, rng, eps, rtol, atol):
    """Compare analytic dF/dx with central differences at a sample of entries of x."""
    idx = sample_indices(x.size, rng)
    num = numeric_grad(f, x, eps, idx)
    np.testing.assert_allclose(analytic.reshape(-1)[idx], num, rtol=rtol, atol=atol)


def finite_difference_check(model, x, y, rng, count=12, eps=2e-3, loss='mse', objective=None):
    """Compare the gradient the engine computes (one SGD step of rate 1 over the whole batch: w -= g) with
    central differences of the loss: evaluate()'s, or objective(model) where the training loss differs
    (batch statistics). Trainable weights only: state such as moving statistics moves for other reasons."""
    model.compile(optimizer=numbanet.optimizers.SGD(1.0), loss=loss)
    n = len(y)
    objective = objective or (lambda m: m.evaluate(x, y, batch_size=n, verbose=0))
    w0 = model.get_weights()
    trained = [w.trainable and not any(w is v for layer in model.layers if not layer.trainable
                                       for v in layer.weights_list) for w in model.parameters.weights]
    model.fit(x, y, batch_size=n, epochs=1, shuffle=False, verbose=0)
    grads = [a - b for a, b in zip(w0, model.get_weights())]
    model.set_weights(w0)
    for wi, g in enumerate(grads):
        if not trained[wi]:
            continue
        for flat in rng.choice(g.size, size=min(count, g.size), replace=False):
            ws = [w.copy() for w in w0]
            ws[wi].reshape(-1)[flat] += eps
            model.set_weights(ws)
            up = objective(model)
            ws[wi].reshape(-1)[flat] -= 2 * eps
            model.set_weights(ws)
            down = objective(model)
            assert g.reshape(-1)[flat] == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=2e-3)
    model.set_weights(w0)


def every_layer_model(seed=0):
    """One model holding every layer and activation with an ONNX mapping, trained a little so batch
    statistics are not the initial ones."""
    inputs = layers.Input(shape=(4, 6))
    x = layers.Flatten()(layers.Rescaling(0.5, offset=-0.25)(inputs))
    x = layers.Dense(16, activation='gelu')(x)
    x = layers.BatchNormalization()(x)
    for name in ('sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'softsign', 'silu', 'hard_sigmoid', 'leaky_relu',
                 numbanet.activations.GELU(approximate=True)):
        x = layers.Dense(16, activation=name)(x)
    x = layers.Dropout(0.3)(layers.LeakyReLU(negative_slope=0.1)(layers.ELU(alpha=0.7)(x)))
    x = layers.LayerNormalization()(layers.Reshape((4, 4))(x))
    x = layers.Dense(8, activation='exponential')(layers.Flatten()(x))
    return numbanet.Model(inputs, layers.Dense(3, activation='softmax')(x), seed=seed)


# ---- the examples ----------------------------------------------------------------------------------------------
def load_example(name):
    """examples/<name>.py as a module, so tests call its main() and helpers in this process. It is
    registered under its own name, the one the example runs as, because numba's on-disk cache of a
    kernel defined there loads only under the module name it was written with."""
    examples = os.path.join(ROOT, 'examples')
    if examples not in sys.path:  # where `python examples/<name>.py` finds its sibling _cli.py
        sys.path.insert(0, examples)
    path = os.path.join(examples, f'{name}.py')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
