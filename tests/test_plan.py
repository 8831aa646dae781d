"""The plan that runs a graph: gradients through skip connections, merges and shared layers (checked by
finite differences), and a training step that allocates nothing."""

import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet import Model
from tests.helpers import finite_difference_check


# ---- gradients through graphs ------------------------------------------------------------------------------------
def test_skip_connection_gradients(rng):
    # One tensor (h) feeds two layers and the Add: its gradient is the sum over three readers.
    inputs = layers.Input(shape=(6,))
    h = layers.Dense(8, activation='relu')(inputs)
    a = layers.Dense(8)(h)
    b = layers.Dense(8, activation='relu')(h)
    merged = layers.Add()([a, b, h])
    outputs = layers.Dense(3)(merged)
    model = Model(inputs, outputs, seed=3)
    x = rng.standard_normal((9, 6)).astype(np.float32)
    y = rng.standard_normal((9, 3)).astype(np.float32)
    finite_difference_check(model, x, y, rng)


def test_concatenate_and_two_inputs(rng):
    i1, i2 = layers.Input(shape=(4,)), layers.Input(shape=(3,))
    a = layers.Dense(5, activation='relu')(i1)
    merged = layers.Concatenate()([a, i2, a])
    outputs = layers.Dense(2)(merged)
    model = Model([i1, i2], outputs, seed=1)
    x1 = rng.standard_normal((7, 4)).astype(np.float32)
    x2 = rng.standard_normal((7, 3)).astype(np.float32)
    y = rng.standard_normal((7, 2)).astype(np.float32)
    W1, b1, W2, b2 = model.get_weights()
    h = np.maximum(x1 @ W1 + b1, 0)
    np.testing.assert_allclose(model.predict([x1, x2], verbose=0),
                               np.concatenate([h, x2, h], 1) @ W2 + b2, rtol=1e-5, atol=1e-5)
    finite_difference_check(model, [x1, x2], y, rng)


def test_shared_layer_accumulates_both_uses(rng):
    inputs = layers.Input(shape=(5,))
    shared = layers.Dense(5, activation='relu')
    outputs = layers.Dense(2)(shared(shared(inputs)))
    model = Model(inputs, outputs, seed=2)
    assert model.count_params() == 5 * 5 + 5 + 5 * 2 + 2
    x = rng.standard_normal((6, 5)).astype(np.float32) + 1
    y = rng.standard_normal((6, 2)).astype(np.float32)
    finite_difference_check(model, x, y, rng)


class _AddingDense(layers.Dense):
    # A backward of its own (here: Dense's, then nothing): it may add to its gradients, so they are zeroed for it.
    def backward(self, x, out, dout, dx, ctx):
        super().backward(x, out, dout, dx, ctx)


def _weights_after_two_steps(rng, poison):
    inputs = layers.Input(shape=(5,))
    shared = layers.Dense(5, activation='relu')
    h = layers.BatchNormalization()(shared(shared(inputs)))
    h = _AddingDense(4, activation='relu')(layers.Dense(6, trainable=False)(h))
    outputs = layers.Dense(3, kernel_regularizer=numbanet.regularizers.L2(0.1))(h)
    model = Model(inputs, outputs, seed=4)
    model.compile(optimizer=numbanet.optimizers.SGD(0.1), loss='mse')
    x = rng.standard_normal((9, 5)).astype(np.float32)
    y = rng.standard_normal((9, 3)).astype(np.float32)
    model.train_on_batch(x, y)
    zeroed = []
    fill = model.parameters.backend.fill
    model.parameters.backend.fill = lambda a, v: (zeroed.append(a.size), fill(a, v))
    try:
        if poison:  # whatever the buffer held: every gradient is written or zeroed before it is added to
            model.parameters.grads[:] = np.nan
        model.train_on_batch(x, y)
    finally:
        del model.parameters.backend.fill
    return model.get_weights(), sum(zeroed), model.parameters.grads.size


def test_gradients_are_written_or_zeroed_whatever_the_buffer_held(monkeypatch):
    # Dense writes its gradients in its first backward call of a step (a shared layer adds in its second), so
    # the plan zeroes only the others': BatchNormalization's, the frozen layer's, the subclass's.
    assert layers.Dense.overwrites_gradients and not _AddingDense.overwrites_gradients
    got, zeroed, size = _weights_after_two_steps(np.random.default_rng(0), poison=True)
    assert 0 < zeroed < size - 5 * 5 - 5  # the shared Dense's gradients were written, not zeroed
    monkeypatch.setattr(layers.Dense, 'overwrites_gradients', False)
    want, zeroed, _ = _weights_after_two_steps(np.random.default_rng(0), poison=False)
    assert zeroed >= size - 1  # every gradient zeroed (the one-element flag of the optimizer's check aside)
    for a, b in zip(got, want):
        assert np.array_equal(a, b)


def test_backward_calls_must_be_a_list_of_pairs(rng):
    class Pair(layers.Dense):  # forward_call's shape by mistake: one pair, not a list of them
        def backward_calls(self, x, out, dout, dx, ctx):
            return self.backward, (x, out, dout, dx, ctx)
    inputs = layers.Input(shape=(4,))
    model = Model(inputs, layers.Dense(2)(Pair(3)(inputs)), seed=0)
    model.compile(optimizer='sgd', loss='mse')
    before = model.get_weights()
    with pytest.raises(TypeError, match="layer 'pair.*list of \\(fn, args\\) pairs"):
        model.fit(np.ones((5, 4), np.float32), np.ones((5, 2), np.float32), verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


# ---- memory: no allocation in a training step --------------------------------------------------------------------
_ALLOCATION_PROBE = """
import functools
import sys
import tracemalloc
import numpy as np
import numba.core.runtime as nrt
from numba.core.registry import CPUDispatcher
import numbanet
from numbanet.kernels import cpu
from tests.helpers import mlp

rng = np.random.default_rng(0)
model = MODEL
model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
x = rng.standard_normal((512,) + FEATURES).astype(np.float32)
y = numbanet.utils.to_categorical(rng.integers(0, 10, 512), 10)
model.fit(x, y, batch_size=128, epochs=1, verbose=0)  # compile kernels, make the plan
xs, targets = model._data(x, y)
idx = np.arange(128)
comm = numbanet.distributed.SingleProcess()
model._train_step(xs, targets, idx, comm)

# numba registers one allocation (a MemInfo) for each array a Python call hands to a jitted function;
# count those hand-overs, so that whatever else the allocator counted was allocated inside a kernel.
# (Wrapped only now that everything is compiled: a kernel compiled later would see a Python function.)
handed = [0]
def counting(f):
    @functools.wraps(f)
    def call(*args):
        handed[0] += sum(isinstance(a, np.ndarray) for a in args)
        return f(*args)
    return call
for name, module in list(sys.modules.items()):
    if name.startswith('numbanet.kernels.cpu'):
        for attr, value in list(vars(module).items()):
            if isinstance(value, CPUDispatcher):
                setattr(module, attr, counting(value))
model._plans.clear()  # plans bind kernel calls when made (Layer.forward_call): new ones bind the wrappers
model._train_step(xs, targets, idx, comm)
before, handed[0] = nrt.rtsys.get_allocation_stats().alloc, 0
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
for _ in range(20):
    model._train_step(xs, targets, idx, comm)
peak = tracemalloc.get_traced_memory()[1] - base
tracemalloc.stop()
print(peak, nrt.rtsys.get_allocation_stats().alloc - before - handed[0], handed[0])
"""


_MODELS = {
    'mlp': "mlp(hidden=(64, 32), n_in=100, n_out=10)",
    # The convolution's backward sums its bias gradient in partial sums, one per 1,024 rows of dout.
    'convnet': (
        "numbanet.Sequential([numbanet.layers.Input(shape=(12, 12, 2)),"
        " numbanet.layers.Conv2D(8, 3, activation='relu'), numbanet.layers.MaxPooling2D(),"
        " numbanet.layers.Flatten(), numbanet.layers.Dense(10, activation='softmax')], seed=0)"),
    # Every layer that keeps per-step state: dropout masks, batch statistics, moving averages, penalties.
    'dropout-norms': (
        "numbanet.Sequential([numbanet.layers.Input(shape=(100,)),"
        " numbanet.layers.Dense(64, activation='gelu', kernel_regularizer='l2'), numbanet.layers.BatchNormalization(),"
        " numbanet.layers.Dropout(0.3), numbanet.layers.Dense(32, activation='silu'),"
        " numbanet.layers.LayerNormalization(), numbanet.layers.Dense(10, activation='softmax')], seed=0)"),
}
_FEATURES = {'convnet': '(12, 12, 2)'}  # a sample's shape; (100,) for the others


@pytest.mark.parametrize('kind', sorted(_MODELS))
def test_training_step_allocates_nothing(kind):
    # A subprocess, because numba counts its allocations only when NUMBA_NRT_STATS is set at start.
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_NRT_STATS='1', PYTHONPATH=root)
    probe = _ALLOCATION_PROBE.replace('MODEL', _MODELS[kind]).replace('FEATURES', _FEATURES.get(kind, '(100,)'))
    out = subprocess.run([sys.executable, '-c', probe], env=env, cwd=root, capture_output=True,
                         text=True, check=True).stdout.split()
    python_peak, kernel_allocs, handed = int(out[-3]), int(out[-2]), int(out[-1])
    assert handed > 20 * 20  # the counting saw the kernel calls
    # The smallest buffer of that model is 128 x 10 float32 = 5 KB; a step may make only small Python
    # objects (views, floats), no arrays.
    assert python_peak < 4096, f"a training step allocated {python_peak} bytes of Python memory"
    assert kernel_allocs == 0, f"kernels allocated {kernel_allocs} arrays inside 20 training steps"


# ---- the head: the output activation a loss may fold into itself ---------------------------------------------------
def _plan(model, batch):
    from numbanet.plan import Plan
    return Plan(model.graph, model.parameters.backend, batch)


def test_forward_stops_beneath_the_head_and_head_forward_finishes(rng):
    inputs = layers.Input(shape=(4,))
    model = Model(inputs, layers.Dense(3, activation='softmax')(layers.Dense(5, activation='relu')(inputs)))
    plan = _plan(model, 6)
    assert plan.head is not None and plan.head.name == 'softmax' and plan.logits is not plan.output
    x = rng.standard_normal((6, 4)).astype(np.float32)
    plan.inputs[0][...] = x
    plan.forward(training=False)
    W1, b1, W2, b2 = model.get_weights()
    z = np.maximum(x @ W1 + b1, 0) @ W2 + b2
    np.testing.assert_allclose(plan.logits, z, rtol=1e-5, atol=1e-6)
    plan.head_forward()
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(plan.output, e / e.sum(1, keepdims=True), rtol=1e-5)
    plan.output[...] = -1.0
    plan.head_forward()  # once per forward pass: a second call finds it done
    assert (plan.output == -1.0).all()
    np.testing.assert_allclose(plan.predict(), e / e.sum(1, keepdims=True), rtol=1e-5)


def test_a_softmax_layer_is_a_head_and_a_linear_output_is_none(rng):
    inputs = layers.Input(shape=(4,))
    logits = layers.Dense(3)(inputs)
    plan = _plan(Model(inputs, layers.Softmax()(logits)), 2)
    assert plan.head.name == 'softmax' and plan.logits.shape == (2, 3)
    plain = _plan(Model(inputs, layers.Activation('linear')(logits)), 2)
    assert plain.head is None and plain.logits is plain.output


def test_head_backward_is_the_activations_gradient(rng):
    inputs = layers.Input(shape=(4,))
    model = Model(inputs, layers.Dense(3, activation='softmax')(inputs))
    plan = _plan(model, 5)
    plan.prepare_training()
    plan.inputs[0][...] = rng.standard_normal((5, 4)).astype(np.float32)
    plan.forward(training=True)
    plan.head_forward()
    g = rng.standard_normal((5, 3)).astype(np.float32)
    plan.grad_output[...] = g
    plan.head_backward()
    p = plan.output.astype(np.float64)
    want = p * (g - (g * p).sum(1, keepdims=True))
    np.testing.assert_allclose(plan.grad_logits, want, rtol=1e-5, atol=1e-7)
