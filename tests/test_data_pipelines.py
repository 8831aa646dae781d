"""fit, evaluate and predict on generators, iterators and PyDatasets (numbanet/data_adapters.py), under Keras
3's rules: steps_per_epoch and validation_steps, epochs that carry on or run out, batches of any size, bad
batches refused naming their step; and the targets buffer that follows the loss across recompiles."""
import warnings

import numpy as np
import pytest

import numbanet
from numbanet.utils import PyDataset
from tests.helpers import blobs, mlp

N = 70  # two batches of 32 and a last one of 6


@pytest.fixture
def data(rng):
    return blobs(rng, n=N)


def batches(x, y, size=32, weights=None):
    for start in range(0, len(x), size):
        part = slice(start, start + size)
        yield (x[part], y[part]) if weights is None else (x[part], y[part], weights[part])


class Batches(PyDataset):
    """Batch i of (x, y[, weights]); records what fit asked for."""

    def __init__(self, x, y, size=32, weights=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.size, self.weights = x, y, size, weights
        self.asked, self.ends, self.begins = [], 0, 0

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        self.asked.append(i)
        part = slice(i * self.size, (i + 1) * self.size)
        return (self.x[part], self.y[part]) + (() if self.weights is None else (self.weights[part],))

    def on_epoch_begin(self):
        self.begins += 1

    def on_epoch_end(self):
        self.ends += 1


def compiled(seed=0, **kwargs):
    model = mlp(seed=seed, **kwargs)
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    return model


def same_weights(a, b):
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        result = fn(*args, **kwargs)
    return result, [str(w.message) for w in caught]


# ---- the same steps as arrays ------------------------------------------------------------------------------------
@pytest.mark.parametrize('source', ['generator', 'iterator', 'pydataset'])
def test_a_stream_trains_exactly_as_the_same_batches_of_arrays(data, source):
    x, y = data
    arrays = compiled()
    h_arrays = arrays.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    streamed = compiled()
    stream = {'generator': lambda: batches(x, y), 'iterator': lambda: iter(list(batches(x, y))),
              'pydataset': lambda: Batches(x, y)}[source]()
    h_stream = streamed.fit(stream, epochs=1, shuffle=False, verbose=0)
    same_weights(arrays, streamed)  # the last, smaller batch included
    assert h_stream.history == h_arrays.history
    assert sorted(streamed._plans) == [6, 32]


def test_evaluate_and_predict_take_streams(data):
    x, y = data
    model = compiled()
    model.fit(x, y, epochs=1, verbose=0)
    assert model.evaluate(batches(x, y, 16), verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    assert model.evaluate(Batches(x, y, 16), verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    first = model.evaluate(batches(x, y, 16), steps=2, verbose=0)
    assert first == pytest.approx(model.evaluate(x[:32], y[:32], verbose=0), rel=1e-6)
    assert first == pytest.approx(model.evaluate(x, y, batch_size=16, steps=2, verbose=0), rel=1e-6)
    want = model.predict(x, verbose=0)
    for stream in ((b for b, _ in batches(x, y, 16)), ((b,) for b, _ in batches(x, y, 16)), batches(x, y, 16)):
        np.testing.assert_allclose(model.predict(stream, verbose=0), want, rtol=1e-6)  # y is ignored, as in Keras
    np.testing.assert_allclose(model.predict(Batches(x, y, 16), verbose=0), want, rtol=1e-6)
    np.testing.assert_allclose(model.predict(batches(x, y, 16), steps=2, verbose=0), want[:32], rtol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=16, steps=2, verbose=0), want[:32], rtol=1e-6)


def test_a_generator_yields_sample_weights(data, rng):
    x, y = data
    w = rng.random(N).astype(np.float32)
    arrays = compiled()
    h_arrays = arrays.fit(x, y, sample_weight=w, batch_size=32, shuffle=False, verbose=0)
    streamed = compiled()
    h_stream = streamed.fit(batches(x, y, weights=w), verbose=0)
    same_weights(arrays, streamed)
    assert h_stream.history == h_arrays.history
    assert streamed.evaluate(batches(x, y, 16, w), verbose=0)[0] == pytest.approx(
        streamed.evaluate(x, y, sample_weight=w, verbose=0)[0], rel=1e-6)


def test_a_pydataset_takes_class_weight(data):
    x, y = data
    table = {1: 3.0, 4: 0.5}
    arrays = compiled()
    arrays.fit(x, y, class_weight=table, batch_size=32, shuffle=False, verbose=0)
    streamed = compiled()
    streamed.fit(Batches(x, y), class_weight=table, shuffle=False, verbose=0)
    same_weights(arrays, streamed)


def test_a_sequential_learns_its_input_from_the_first_batch(data):
    x, y = data
    model = mlp(functional=False)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    model.fit(batches(x, y), verbose=0)
    assert model.built and model.layers[0].kernel.shape == (12, 16)


# ---- epochs, steps, running out ----------------------------------------------------------------------------------
def test_pydataset_epochs_call_its_hooks_and_shuffle_their_batches(data):
    x, y = data
    ds = Batches(x, y, size=10, workers=4, use_multiprocessing=True, max_queue_size=3)  # accepted, run in-thread
    history = compiled().fit(ds, epochs=3, verbose=0)
    assert len(history.epoch) == 3 and ds.begins == ds.ends == 3
    # Batch 0 is read first to check it before training; then every epoch visits all 7.
    epochs = [ds.asked[1:8], ds.asked[8:15], ds.asked[15:22]]
    assert len(ds.asked) == 22 and all(sorted(e) == list(range(7)) for e in epochs)
    assert epochs[0] != epochs[1] or epochs[1] != epochs[2]  # shuffled anew each epoch
    ds = Batches(x, y, size=10)
    compiled().fit(ds, epochs=2, shuffle=False, verbose=0)
    assert ds.asked == [0] + list(range(7)) * 2


def test_steps_per_epoch_carries_on_across_epochs_and_warns_when_a_pass_is_short(data):
    x, y = data
    ds = Batches(x, y, size=10)
    history, caught = quietly(compiled().fit, ds, epochs=3, steps_per_epoch=3, shuffle=False, verbose=0)
    # 7 batches a pass: 0-2, 3-5, then 6 ends the pass early (Keras warns) and the next pass starts over.
    assert ds.asked[1:] == [0, 1, 2, 3, 4, 5, 6]
    assert len(history.epoch) == 3 and ds.ends == 3
    assert sum('ran out of data' in m for m in caught) == 1
    ds = Batches(x, y, size=10)
    history, caught = quietly(compiled().fit, ds, epochs=2, steps_per_epoch=9, shuffle=False, verbose=0)
    assert ds.asked[1:] == list(range(7)) * 2 and len(history.epoch) == 2
    assert sum('ran out of data' in m for m in caught) == 2


def test_a_generator_without_steps_is_one_epoch_and_then_runs_out(data):
    x, y = data
    model = compiled()
    history, caught = quietly(model.fit, batches(x, y), epochs=3, verbose=0)
    assert len(history.epoch) == 1 and model.stop_training
    assert any('ran out of data' in m for m in caught)
    history, caught = quietly(compiled().fit, batches(x, y), epochs=1, verbose=0)
    assert len(history.epoch) == 1 and caught == []


def test_a_generator_with_steps_carries_on_until_it_ends(data):
    x, y = data
    seen = []

    def counting():
        for i, batch in enumerate(batches(x, y, size=10)):
            seen.append(i)
            yield batch
    history, caught = quietly(compiled().fit, counting(), epochs=5, steps_per_epoch=3, verbose=0)
    # 7 batches: 3 + 3 + 1, the third epoch cut short with Keras's warning; nothing is left for a fourth.
    assert seen == list(range(7)) and len(history.epoch) == 3
    assert sum('ran out of data' in m for m in caught) == 2

    def endless():
        while True:
            yield x[:8], y[:8]
    history = compiled().fit(endless(), epochs=2, steps_per_epoch=4, verbose=0)
    assert len(history.epoch) == 2


def test_validation_from_a_stream_with_validation_steps(data):
    x, y = data
    model = compiled()
    history = model.fit(x[:40], y[:40], epochs=2, verbose=0, validation_data=Batches(x[40:], y[40:], size=10))
    assert history.history['val_loss'][-1] == pytest.approx(model.evaluate(x[40:], y[40:], verbose=0)[0], rel=1e-6)
    model = compiled()
    ds = Batches(x[40:], y[40:], size=10)
    history = model.fit(batches(x[:40], y[:40]), verbose=0, validation_data=ds, validation_steps=2)
    assert ds.asked == [0, 0, 1]
    assert history.history['val_loss'][-1] == pytest.approx(model.evaluate(x[40:60], y[40:60], verbose=0)[0],
                                                            rel=1e-6)
    model = compiled()
    history = model.fit(x[:40], y[:40], epochs=1, verbose=0, validation_data=batches(x[40:], y[40:], 8))
    assert history.history['val_loss'][-1] == pytest.approx(model.evaluate(x[40:], y[40:], verbose=0)[0], rel=1e-6)


def test_an_endless_pydataset_needs_steps(data):
    x, y = data

    class Endless(PyDataset):
        num_batches = None

        def __getitem__(self, i):
            return x[i % 7 * 10:(i % 7 + 1) * 10], y[i % 7 * 10:(i % 7 + 1) * 10]
    with pytest.raises(ValueError, match='no end.*steps_per_epoch'):
        compiled().fit(Endless(), verbose=0)
    history = compiled().fit(Endless(), epochs=2, steps_per_epoch=5, verbose=0)
    assert len(history.epoch) == 2
    with pytest.raises(ValueError, match='no end.*steps'):
        compiled().predict(Endless(), verbose=0)


def test_verbose_fit_on_a_generator_of_unknown_length(data, capsys):
    x, y = data
    compiled().fit(batches(x, y), verbose=1)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith('3/') and 'loss: ' in line


# ---- refused, with the reason ------------------------------------------------------------------------------------
def _bad_stream(x, y, bad_at, bad):
    for i, batch in enumerate(batches(x, y, size=10)):
        yield bad if i == bad_at else batch


@pytest.mark.parametrize('bad, error, match', [
    (7, ValueError, r'batch needs targets.*It gave int 7'),
    ('xy', ValueError, r'batch needs targets.*It gave str'),
    (None, ValueError, 'batch needs targets'),
    ((np.ones((10, 12)), np.zeros(10), np.ones(10), 1), ValueError, 'not a tuple of 4'),
    ((np.ones((10, 3)), np.zeros(10)), ValueError, r"x has shape \(10, 3\).*It gave tuple\(ndarray float64 \(10, 3\)"),
    ((np.ones((10, 12)), np.zeros(9)), ValueError, 'x has 10 samples but y has 9'),
    ((np.ones((10, 12)), np.full(10, 7)), ValueError, 'label 7'),
    ((np.ones((10, 12)), np.zeros(10), -np.ones(10)), ValueError, 'sample_weight must be >= 0'),
    ((np.ones((0, 12)), np.zeros(0)), ValueError, 'empty'),
    ((np.full((10, 12), 'a'), np.zeros(10)), TypeError, 'strings'),
])
def test_a_bad_batch_is_refused_naming_its_step_and_what_it_held(data, bad, error, match):
    x, y = data
    model = compiled()
    with pytest.raises(error, match=r'fit: batch 3 from the generator \(step 3\): .*' + match):
        model.fit(_bad_stream(x, y, 2, bad), verbose=0)
    with pytest.raises(error, match=r'^fit: batch 1 from the generator \(step 1\)'):
        compiled().fit(_bad_stream(x, y, 0, bad), verbose=0)


def test_a_bad_first_batch_leaves_the_model_unchanged(data):
    x, y = data
    model = compiled()
    before = model.get_weights()
    for stream, which in ((_bad_stream(x, y, 0, 7), r'batch 1 from the generator'),
                          (Batches(x[:, :3], y), r'PyDataset\[0\]')):
        with pytest.raises(ValueError, match=rf'^fit: {which} \(step 1\)'):
            model.fit(stream, verbose=0)
    same = compiled()
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0
    same_weights(model, same)


def test_what_a_stream_does_not_take_is_refused(data):
    x, y = data
    model = compiled()
    for kwargs, match in (({'y': y}, 'y must not be passed'),
                          ({'sample_weight': np.ones(N)}, 'sample_weight must not be passed'),
                          ({'class_weight': {0: 2.0}}, 'class_weight is not supported with a generator'),
                          ({'validation_split': 0.2}, 'validation_split splits arrays'),
                          ({'distributed': True}, 'distributed=True.*cannot be sharded'),
                          ({'steps_per_epoch': 0}, 'steps_per_epoch must be a positive int'),
                          ({'validation_steps': 1.5}, 'validation_steps must be a positive int')):
        with pytest.raises(ValueError, match=match):
            model.fit(batches(x, y), verbose=0, **kwargs)
    with pytest.raises(ValueError, match='yielded no batches'):
        model.fit(iter([]), verbose=0)
    with pytest.raises(ValueError, match=r'empty \(len\(\) is 0\)'):
        model.fit(Batches(x[:0], y[:0]), verbose=0)
    with pytest.raises(TypeError, match=r'x is a function \(batches\).*gen\(\)'):
        model.fit(batches, verbose=0)
    with pytest.raises(ValueError, match='validation_data must be'):
        model.fit(x, y, validation_data=(x,), verbose=0)
    assert model.optimizer.iterations == 0


# ---- a recompiled model: its targets buffers follow the loss -----------------------------------------------------
def test_recompiling_with_another_kind_of_target_then_fitting(data):
    x, labels = data
    onehot = numbanet.utils.to_categorical(labels, 5)
    model = mlp()
    for loss, y in (('sparse_categorical_crossentropy', labels), ('categorical_crossentropy', onehot),
                    ('mse', onehot), ('sparse_categorical_crossentropy', labels), ('mse', onehot),
                    ('categorical_crossentropy', onehot)):
        model.compile(optimizer='adam', loss=loss)
        history = model.fit(x, y, batch_size=32, epochs=1, validation_data=(x[:10], y[:10]), verbose=0)
        assert np.isfinite(history.history['loss'][0])
        reference = mlp()  # the same weights, compiled once with this loss
        reference.set_weights(model.get_weights())
        reference.compile(optimizer='adam', loss=loss)
        assert model.evaluate(x, y, verbose=0) == pytest.approx(reference.evaluate(x, y, verbose=0), rel=1e-6)


def test_a_bad_batch_of_a_pydataset_is_named_by_its_index(data):
    x, y = data

    class Broken(Batches):
        def __getitem__(self, i):
            return (x[:10, :5], y[:10]) if i == 4 else super().__getitem__(i)
    model = compiled()
    with pytest.raises(ValueError, match=r"^fit: PyDataset\[4\] \(step 5\): x has shape \(10, 5\)"):
        model.fit(Broken(x, y, size=10), shuffle=False, verbose=0)
    assert model.optimizer.iterations == 4  # the steps before it were taken, as in Keras
