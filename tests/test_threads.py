"""numbanet.threads: the thread count, and its checks; one model used from several Python threads."""
import concurrent.futures
import sys

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
