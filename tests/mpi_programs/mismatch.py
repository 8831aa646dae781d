"""Run under `mpirun -n 2 python mismatch.py WHAT`: rank 1 differs from rank 0 in WHAT ('batch_size', 'rows',
'width', or 'input', where rank 1's data has a column too many and fit refuses it before any collective).
The job must end with an error naming what differs, not hang or fail with MPI_ERR_TRUNCATE."""
import sys

import numpy as np

import numbanet
from numbanet import distributed, layers

distributed.init()
what, other = sys.argv[1], distributed.rank() == 1
rng = np.random.default_rng(0)
rows = 60 if other and what == 'rows' else 69
x, y = rng.standard_normal((rows, 10)).astype(np.float32), rng.integers(0, 4, rows)
if other and what == 'input':
    x = np.concatenate([x, x[:, :1]], axis=1)
inputs = layers.Input(shape=(10,))
hidden = layers.Dense(13 if other and what == 'width' else 12, activation='relu')(inputs)
model = numbanet.Model(inputs, layers.Dense(4, activation='softmax')(hidden), seed=0)
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
model.fit(x, y, batch_size=16 if other and what == 'batch_size' else 8, epochs=2, verbose=0, distributed=True)
print('not reached')
