"""Ctrl-C during fit: every step's update applied whole or not at all, masks kept, the progress line ended."""
import io
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import numbanet
from numbanet import callbacks, layers

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import numbanet
    from numbanet import layers

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 20)).astype(np.float32), rng.integers(0, 3, 64)

    def make():
        model = numbanet.Sequential([layers.Input((20,)), layers.Dense(32, activation='relu'),
                                     layers.Dense(32, activation='relu'), layers.Dense(3, activation='softmax')],
                                    seed=0)
        # A frozen layer in the middle and weight decay make the update several kernels, not one.
        model.layers[1].trainable = False
        model.compile(optimizer=numbanet.optimizers.Adam(1e-3, weight_decay=1e-2),
                      loss='sparse_categorical_crossentropy')
        weights = model.get_weights()
        for layer, i in ((model.layers[0], 0), (model.layers[2], 4)):
            layer.kernel.mask = np.random.default_rng(1).random(layer.kernel.shape) > 0.5
            weights[i] *= layer.kernel.mask  # pruned as compression.prune leaves it: zeros under the mask
        model.set_weights(weights)
        return model

    # Compile every kernel first, so the interrupts land in training rather than in numba's compiler
    # (with a fresh cache the first fit spends seconds there).
    make().fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
    for trial in range(int(sys.argv[1])):
        model = make()
        try:
            print('ready', flush=True)
            model.fit(x, y, batch_size=64, epochs=10**6, shuffle=False, verbose=0)
        except KeyboardInterrupt:
            pass
        steps = model.optimizer.iterations
        replay = make()
        replay.fit(x, y, batch_size=64, epochs=steps, shuffle=False, verbose=0)  # one step an epoch
        same = all(np.array_equal(a, b) for a, b in zip(model.get_weights(), replay.get_weights()))
        masked = all(not np.any(layer.kernel.numpy()[~layer.kernel.mask])
                     for layer in (model.layers[0], model.layers[2]))
        print(f'steps={steps} same={same} masked={masked}', flush=True)
""")


def test_ctrl_c_during_fit_leaves_whole_steps_and_masks_intact():
    trials = 8
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this numbanet, not an installed one
    child = subprocess.Popen([sys.executable, '-c', CHILD, str(trials)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, 'PYTHONPATH': root})
    delays = np.random.default_rng().uniform(0.05, 0.4, trials)  # a different moment every run
    results = []
    try:
        for delay in delays:
            assert child.stdout.readline().strip() == 'ready', child.stderr.read()
            try:
                child.wait(delay)
            except subprocess.TimeoutExpired:
                child.send_signal(signal.SIGINT)
            results.append(child.stdout.readline().strip())
        assert child.wait(60) == 0, child.stderr.read()
    finally:
        child.kill()
    for result in results:
        assert result.endswith('same=True masked=True'), results


def test_an_interrupted_fit_ends_its_progress_line(rng, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr(sys, 'stdout', Terminal())

    class CtrlC(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                raise KeyboardInterrupt
    model = numbanet.Sequential([layers.Input((4,)), layers.Dense(2)])
    model.compile(optimizer='sgd', loss='mse')
    with pytest.raises(KeyboardInterrupt):
        model.fit(rng.standard_normal((64, 4)), np.zeros((64, 2)), batch_size=8, verbose=1, callbacks=[CtrlC()])
    assert sys.stdout.getvalue().endswith('\n') and 'loss' in sys.stdout.getvalue()
