"""Run under `mpirun -n 2`: rank 1 raises in the middle of training. The job must end within seconds
with its traceback, not hang with rank 0 waiting in an Allreduce."""
import numpy as np

import numbanet
from numbanet import distributed, layers


class Boom(numbanet.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if distributed.rank() == 1 and batch == 2:
            raise RuntimeError('rank 1 lost its data source')


distributed.init()
rng = np.random.default_rng(0)
x, y = rng.standard_normal((400, 6)).astype(np.float32), rng.integers(0, 3, 400)
inputs = layers.Input(shape=(6,))
model = numbanet.Model(inputs, layers.Dense(3, activation='softmax')(inputs), seed=0)
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
model.fit(x, y, batch_size=4, epochs=50, verbose=0, distributed=True, callbacks=[Boom()])
print('not reached')
