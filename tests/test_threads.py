"""numbanet.threads: the thread count, and its checks; one model used from several Python threads."""
import concurrent.futures
import sys
import threading

import numpy as np
import pytest

import numbanet
from numbanet import layers


def test_set_num_threads_validates():
    numbanet.set_num_threads(1)
    assert numbanet.get_num_threads() == 1
    numbanet.set_num_threads(numbanet.threads.numba.config.NUMBA_NUM_THREADS)
    with pytest.raises(ValueError, match='positive int'):
        numbanet.set_num_threads(0)
    with pytest.raises(ValueError, match='at most'):
        numbanet.set_num_threads(10_000)


def _mlp(rng):
    model = numbanet.Sequential([layers.Input((12,)), layers.Dense(32, activation='relu'),
                                 layers.Dense(4, activation='softmax')], seed=0)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    return model


def _in_threads(work, n_threads=6):
    # Python switches threads every 5 ms by default, longer than a call here: switch often, as a loaded
    # server would, so that calls interleave.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with concurrent.futures.ThreadPoolExecutor(n_threads) as pool:
            return list(pool.map(work, range(n_threads)))
    finally:
        sys.setswitchinterval(interval)


def test_predict_evaluate_and_call_from_several_threads_give_the_single_threaded_results(rng):
    model = _mlp(rng)
    batches = [rng.standard_normal((16, 12)).astype(np.float32) for _ in range(6)]
    labels = [rng.integers(0, 4, 16) for _ in range(6)]
    expected = [model.predict(x, verbose=0) for x in batches]  # one batch size: every call shares one plan
    scores = [model.evaluate(x, y, verbose=0) for x, y in zip(batches, labels)]

    def work(i):
        wrong = 0
        for _ in range(60):
            wrong += not np.array_equal(model.predict(batches[i], verbose=0), expected[i])
            wrong += not np.array_equal(model(batches[i]), expected[i])
        wrong += model.evaluate(batches[i], labels[i], verbose=0) != scores[i]
        return wrong
    assert _in_threads(work) == [0] * 6


def test_fit_in_one_thread_while_others_predict_trains_as_alone(rng):
    x, y = rng.standard_normal((64, 12)).astype(np.float32), rng.integers(0, 4, 64)
    alone = _mlp(rng)
    alone.fit(x, y, batch_size=16, epochs=5, shuffle=False, verbose=0)
    shared = _mlp(rng)

    def work(i):
        if i == 0:
            shared.fit(x, y, batch_size=16, epochs=5, shuffle=False, verbose=0)
        else:
            for _ in range(100):
                shared.predict(x[:16], verbose=0)  # the batch size fit trains with: the same plan
    _in_threads(work, 4)
    for a, b in zip(alone.get_weights(), shared.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_threads_making_the_first_call_on_an_unbuilt_sequential_build_it_once(rng):
    # issue #16: a Sequential without an Input learns its width from the first x; threads that all made the
    # first call at once each built it (a layer added its weights twice, a plan met half a build), and got
    # exceptions or wrong outputs. Now one builds it under the model's lock and the others find it built.
    x = rng.standard_normal((8, 12)).astype(np.float32)

    def unbuilt():
        return numbanet.Sequential([layers.Dense(16, activation='relu'), layers.Dense(3)], seed=3)
    want = unbuilt().predict(x, verbose=0)
    for _ in range(5):
        model, barrier = unbuilt(), threading.Barrier(6)

        def work(i):
            barrier.wait()
            return model.predict(x, verbose=0)
        for got in _in_threads(work):
            np.testing.assert_array_equal(got, want)
        assert model.count_params() == 12 * 16 + 16 + 16 * 3 + 3
        assert [len(layer.weights_list) for layer in model.layers] == [2, 2]
