"""Write a layer of your own: a parametric ReLU with a learnable slope per feature, on its own numba kernels.

    python examples/custom_layer.py                  # MLP with PReLU on MNIST, 3 epochs
    python examples/custom_layer.py --limit 5000 --epochs 1 --json

The layer is the whole contract of numbanet.layers.Layer: build() declares a weight, forward() and
backward() call the layer's own njit kernels, get_config() makes it saveable. The model around it trains,
saves and loads (load_model with custom_objects) like any other.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
from numba import njit

import numbanet


# ---- the kernels: forward and backward side by side ------------------------------------------------------
@njit(cache=True)
def prelu_forward(out, x, alpha):
    # out, x: (B, C); alpha: (C,). out = x where x > 0, alpha * x elsewhere.
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            v = x[b, c]
            out[b, c] = v if v > 0.0 else alpha[c] * v


@njit(cache=True)
def prelu_backward(dx, dalpha, dout, x, alpha):
    # dx (B, C) is overwritten; dalpha (C,) is added to (+=), as weight gradients always are.
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            v, g = x[b, c], dout[b, c]
            if v > 0.0:
                dx[b, c] = g
            else:
                dx[b, c] = alpha[c] * g
                dalpha[c] += v * g


# ---- the layer ---------------------------------------------------------------------------------------------
class PReLU(numbanet.layers.Layer):
    """Keras's PReLU: f(x) = x for x > 0, alpha * x otherwise, one learnable alpha per feature."""

    def __init__(self, alpha_initializer='zeros', **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer

    def build(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"PReLU '{self.name}' takes (batch, features) inputs, got {(None,) + input_shape}")
        self.alpha = self.add_weight('alpha', (input_shape[0],), initializer=self.alpha_initializer)

    def workspace(self, batch, training):
        # Room for an input gradient the model does not need (the model's first layer gets dx=None), so
        # that one kernel serves both cases.
        return {'dx': (batch, self.alpha.shape[0])} if training else {}

    def forward(self, x, out, ctx):
        if ctx.device != 'cpu':
            raise RuntimeError("this PReLU has CPU kernels only")
        prelu_forward(out, x, self.alpha.value)

    def backward(self, x, out, dout, dx, ctx):
        # (A frozen layer's gradients are zeroed every step and skipped by the optimizer: writing them is
        # harmless, so there is no case for freezing here.)
        prelu_backward(ctx.ws['dx'] if dx is None else dx, self.alpha.grad, dout, x, self.alpha.value)

    def get_config(self):
        return {**super().get_config(), 'alpha_initializer': self.alpha_initializer}


def build_model(hidden=(256, 128), seed=0):
    inputs = numbanet.layers.Input(shape=(784,))
    x = inputs
    for width in hidden:
        x = PReLU()(numbanet.layers.Dense(width)(x))
    outputs = numbanet.layers.Dense(10, activation='softmax')(x)
    model = numbanet.Model(inputs, outputs, seed=seed)
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--hidden', default='256,128', help='hidden widths, comma-separated (default 256,128)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--data-dir', default=None, help='a folder with the IDX files or mnist.npz, or a data file')
    p.add_argument('--limit', type=int, default=None, help='train on the first N images only')
    p.add_argument('--json', action='store_true', help='print the results as one JSON object on the last line')
    args = p.parse_args(argv)
    try:
        (x_train, y_train), (x_test, y_test) = numbanet.datasets.mnist.load_data(args.data_dir)
    except (numbanet.datasets.DatasetNotFoundError, numbanet.datasets.DataFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_train = x_train.reshape(len(x_train), 784).astype('float32') / 255
    x_test = x_test.reshape(len(x_test), 784).astype('float32') / 255
    y_train, y_test = numbanet.utils.to_categorical(y_train, 10), numbanet.utils.to_categorical(y_test, 10)

    model = build_model([int(h) for h in args.hidden.split(',')], args.seed)
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0 if args.json else 1)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    slopes = [float(np.mean(layer.alpha.numpy())) for layer in model.layers if isinstance(layer, PReLU)]

    with tempfile.TemporaryDirectory() as folder:  # it saves and loads like any model
        path = os.path.join(folder, 'prelu.safetensors')
        model.save(path)
        loaded = numbanet.models.load_model(path, custom_objects={'PReLU': PReLU})
        same = bool(np.array_equal(loaded.predict(x_test, verbose=0), model.predict(x_test, verbose=0)))

    print(f"test accuracy {accuracy:.4f}, loss {loss:.4f}; mean learned slope per PReLU layer: "
          + ', '.join(f'{s:.4f}' for s in slopes) + f"; reloaded model predicts the same: {same}")
    if args.json:
        print(json.dumps({'test_accuracy': accuracy, 'test_loss': loss, 'mean_slopes': slopes,
                          'reload_identical': same, 'epochs': args.epochs, 'train_samples': len(x_train)}))
    return 0


if __name__ == '__main__':
    # Run as the module custom_layer rather than as __main__, so that numba's on-disk cache of the kernels
    # above is written under the one module name the tests import them by too (a cache written under one
    # module name does not load under another).
    import custom_layer
    sys.exit(custom_layer.main())
