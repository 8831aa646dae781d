"""Run under `mpirun -n 2 python -m mpi4py`: data-parallel training against one process, and weights
identical on every rank. Rank 0 prints OK; any failed check raises, which aborts the job."""
import numpy as np
from mpi4py import MPI

import numbanet
from numbanet import distributed, layers

distributed.init()
comm, rank, size = MPI.COMM_WORLD, distributed.rank(), distributed.size()
assert size == 2, size
assert numbanet.get_num_threads() == max(1, __import__('os').cpu_count() // 2)

rng = np.random.default_rng(0)
x = rng.standard_normal((69, 10)).astype(np.float32)  # 69: the shards differ by one row
y = (x[:, :3].argmax(1) + (x[:, 3] > 1)).astype(np.int64) % 4


def build(seed):
    inputs = layers.Input(shape=(10,))
    h = layers.Dense(12, activation='relu')(inputs)
    model = numbanet.Model(inputs, layers.Dense(4, activation='softmax')(h), seed=seed)
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    return model


# Ranks build with different seeds on purpose: fit must start everyone from rank 0's weights.
model = build(seed=1 if rank == 0 else 99)
history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, distributed=True)
flat = np.concatenate([w.ravel() for w in model.get_weights()])
everyone = comm.gather(flat, root=0)
logs = comm.gather(history.history, root=0)

# With shuffling every rank must draw the same permutations, so the shards stay disjoint; they are rank
# 0's permutations, so the run still matches one process with the same seed.
shuffled = build(seed=1 if rank == 0 else 7)
shuffled.fit(x, y, batch_size=8, epochs=2, verbose=0, distributed=True)
states = comm.gather(str(shuffled.rng.bit_generator.state), root=0)
shuffled_weights = comm.gather(np.concatenate([w.ravel() for w in shuffled.get_weights()]), root=0)

if rank == 0:
    assert all(np.array_equal(everyone[0], other) for other in everyone[1:]), "ranks' weights differ"
    assert logs[0] == logs[1], "ranks report different metrics"
    assert len(set(states)) == 1, "ranks shuffle differently"
    assert np.array_equal(shuffled_weights[0], shuffled_weights[1])
    reference = build(seed=1)  # one process, batch 2 x 8 = 16
    ref_history = reference.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    ref_flat = np.concatenate([w.ravel() for w in reference.get_weights()])
    np.testing.assert_allclose(everyone[0], ref_flat, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(history.history['loss'], ref_history.history['loss'], rtol=1e-5)
    assert history.history['accuracy'] == ref_history.history['accuracy']
    shuffled_reference = build(seed=1)
    shuffled_reference.fit(x, y, batch_size=16, epochs=2, verbose=0)
    np.testing.assert_allclose(shuffled_weights[0], np.concatenate([w.ravel() for w in
                                                                    shuffled_reference.get_weights()]),
                               rtol=2e-5, atol=2e-6)
    print('OK', history.history['loss'])
