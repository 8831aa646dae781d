"""numbanet.warmup: compiles what fit, evaluate and predict will call, and leaves the model bit for bit as it was;
fit says "compiling kernels, first run only" while numba compiles, and only then."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet.progress import COMPILING


def small_model(optimizer='adam', seed=0):
    model = numbanet.Sequential([layers.Input((12,)), layers.Dense(8), layers.BatchNormalization(),
                                 layers.ReLU(), layers.Dropout(0.25), layers.Dense(3, activation='softmax')], seed=seed)
    model.compile(optimizer=optimizer, loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    return model


def data(n=37):
    rng = np.random.default_rng(5)
    return rng.random((n, 12), dtype=np.float32), rng.integers(0, 3, n)


def state(model):
    """Everything fit reads or writes, as bytes: weights, optimizer slots and step, metrics, RNGs, history."""
    slots = model.optimizer.state_for(model.parameters)
    return {'weights': [w.tobytes() for w in model.get_weights()],
            'slots': None if slots is None else {k: np.asarray(v).tobytes() for k, v in slots.items()},
            'iterations': model.optimizer.iterations,
            'metrics': [np.asarray(m.result()).tobytes() for m in model.compiled_metrics],
            'rng': model.rng.bit_generator.state, 'global_rng': numbanet.utils.global_rng().bit_generator.state,
            'numpy_rng': repr(np.random.get_state()), 'history': model.history,
            'history_values': None if model.history is None else repr(model.history.history),
            'stop_training': model.stop_training}


@pytest.mark.parametrize('fitted', [False, True], ids=['fresh', 'after-fit'])
def test_warmup_leaves_the_model_as_it_was(fitted):
    x, y = data()
    warmed, control = small_model(), small_model()
    if fitted:
        for m in (warmed, control):
            m.fit(x, y, batch_size=16, epochs=1, verbose=0)
    before = state(warmed)
    numbanet.warmup(warmed, batch_size=16, samples=len(x), sample_weight=True)
    assert state(warmed) == before
    # Training on gives what it gives without the warm-up, bit for bit.
    h1 = warmed.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y))
    h2 = control.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y))
    assert repr(h1.history) == repr(h2.history)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(warmed.get_weights(), control.get_weights()))


def test_warmup_refuses_bad_input_before_anything_runs():
    model = numbanet.Sequential([layers.Input((12,)), layers.Dense(3, activation='softmax')])
    with pytest.raises(ValueError, match='not compiled'):
        numbanet.warmup(model)
    with pytest.raises(ValueError, match='not built'):
        numbanet.warmup(numbanet.Sequential([layers.Dense(3)]))
    model = small_model()
    before = state(model)
    for bad in ({'batch_size': 0}, {'samples': -1}, {'batch_size': 2.5}, {'dtype': 'U3'}, {'dtype': ['uint8'] * 2}):
        with pytest.raises(ValueError):
            numbanet.warmup(model, **bad)
    assert state(model) == before


COLD = textwrap.dedent('''
    import sys
    import numpy as np
    import numbanet
    from numbanet.kernels.compiling import CompileWatch
    sys.path.insert(0, {tests!r})
    from test_warmup import data, small_model

    x, y = data()
    def run(model, x=x):
        with CompileWatch() as watch:
            model.fit(x, y, batch_size=16, epochs=1, verbose=2, validation_data=(x, y))
            model.evaluate(x, y, batch_size=16, verbose=0)
            model.predict(x, verbose=0)
            model.predict(x[:1], verbose=0)
        print('compiled', watch.count, flush=True)

    if sys.argv[1] == 'cold':
        model = small_model('adam')
        print('warmup compiled', numbanet.warmup(model, batch_size=16, samples=len(x)), flush=True)
        print('--- warmed fit', flush=True)
        run(model)
        print('--- first fit', flush=True)
        run(small_model('rmsprop'))  # an optimizer the warm-up did not compile
        model, pixels = small_model('adam'), (x * 255).astype(np.uint8)  # gathered by kernels of their own
        print('uint8 warmup compiled', numbanet.warmup(model, batch_size=16, samples=len(x), dtype='uint8'))
        print('--- uint8 fit', flush=True)
        run(model, pixels)
    else:
        print('--- warm cache', flush=True)
        run(small_model('adam'))
        run(small_model('rmsprop'))
''')


def test_cold_cache_warmup_then_fit_compiles_nothing_and_notices(tmp_path):
    """In fresh processes over an empty NUMBA_CACHE_DIR: after warmup a fit, evaluate and predict compile no
    kernel (and print no notice); a fit that compiles says so once, on its own line before its epoch line; the
    same fits in a new process over the now warm cache compile nothing and print nothing of it."""
    script = tmp_path / 'cold.py'
    script.write_text(COLD.format(tests=os.path.dirname(__file__)))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / 'numba-cache'))
    runs = [subprocess.run([sys.executable, str(script), kind], env=env, capture_output=True, text=True)
            for kind in ('cold', 'warm')]
    for r in runs:
        assert r.returncode == 0, r.stderr
    cold, warm = runs[0].stdout, runs[1].stdout
    warmup_line, warmed, first, uint8 = cold.split('--- ')
    assert int(first.splitlines()[-1].split()[-1]) > 0 and COMPILING not in uint8 and 'compiled 0' in uint8
    assert int(warmup_line.split()[-1]) > 0
    assert COMPILING not in warmed and 'compiled 0' in warmed
    lines = first.splitlines()
    assert lines.count(COMPILING) == 1 and first.count(COMPILING) == 1
    assert lines.index(COMPILING) == 1 and lines[2].startswith('3/3 - ')  # then the epoch line as ever
    assert COMPILING not in warm and warm.count('compiled 0') == 2
