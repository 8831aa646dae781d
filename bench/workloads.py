"""The reference workload (the seed's MLP 784-256-128-64-10, ReLU, softmax, Adam 1e-3, batch 128) in
numbanet and in each peer, so that benchmarks and compare.py time the same thing from the same weights.
Each class also takes other layer sizes and another batch size, for scaling.py's sweeps.

Each framework is imported only when its class is made: compare.py runs each in a process of its own, and a
peer's process must never load numbanet (or the other way round)."""
import importlib.util
import os
import time

import numpy as np

SIZES = (784, 256, 128, 64, 10)
BATCH = 128


def mnist_or_synthetic(limit=None):
    """Real MNIST when a source exists on this machine, else random data of the same shapes."""
    import numbanet  # the loader is numbanet's; a peer's process is handed the arrays instead
    try:
        (x, y), (xt, yt) = numbanet.datasets.mnist.load_data()
        source = 'MNIST'
    except numbanet.datasets.DatasetNotFoundError:
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 60000)
        xt, yt = x[:10000], y[:10000]
        source = 'synthetic (no MNIST found)'
    if limit:
        x, y = x[:limit], y[:limit]
    x = x.reshape(len(x), 784).astype(np.float32) / 255
    xt = xt.reshape(len(xt), 784).astype(np.float32) / 255
    return x, y.astype(np.int64), xt, yt.astype(np.int64), source


def installed(name):
    return importlib.util.find_spec(name) is not None


def initial_weights(seed=0, sizes=SIZES):
    """[W0, b0, W1, b1, ...]: Glorot-uniform kernels (inputs x outputs) and zero biases, float32, which every
    framework below starts from, so that all of them train the same model."""
    rng = np.random.default_rng(seed)
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        lim = np.sqrt(6 / (a + b))
        out += [rng.uniform(-lim, lim, (a, b)).astype(np.float32), np.zeros(b, np.float32)]
    return out


# ---- numbanet -----------------------------------------------------------------------------------------------
class NumbanetMLP:
    name = 'numbanet'

    def __init__(self, seed=0, threads=None, weights=None, sizes=SIZES, batch_size=BATCH):
        import numbanet
        self.numbanet = numbanet
        if threads:
            numbanet.set_num_threads(threads)
        self.batch_size = batch_size
        inputs = numbanet.layers.Input(shape=(sizes[0],))
        x = inputs
        for width in sizes[1:-1]:
            x = numbanet.layers.Dense(width, activation='relu')(x)
        outputs = numbanet.layers.Dense(sizes[-1], activation='softmax')(x)
        self.model = numbanet.Model(inputs, outputs, seed=seed)
        self.model.compile(optimizer=numbanet.optimizers.Adam(1e-3), loss='categorical_crossentropy')
        self.model.set_weights(initial_weights(seed, sizes) if weights is None else weights)

    def prepare(self, x, y):
        self.x, self.y = x, self.numbanet.utils.to_categorical(y, 10)

    def epoch(self):
        self.model.fit(self.x, self.y, batch_size=self.batch_size, epochs=1, verbose=0)

    def step(self, xb, yb):
        return self.model.train_on_batch(xb, yb)

    def infer(self, x):
        return self.model.predict(x, verbose=0)

    def version(self):
        import numba
        nn = self.numbanet
        return f"numbanet {nn.__version__}, numba {numba.__version__}, {nn.get_num_threads()} threads"


# ---- plain numpy ------------------------------------------------------------------------------------------
class NumpyMLP:
    """The same MLP written the plain way in numpy: BLAS matmuls, temporaries allowed."""
    name = 'numpy'

    def __init__(self, seed=0, threads=None, weights=None, sizes=SIZES, batch_size=BATCH):
        # threads: OpenBLAS reads its thread count when numpy loads; compare.py sets it in the child's environment
        self.batch_size = batch_size
        weights = [w.copy() for w in (initial_weights(seed, sizes) if weights is None else weights)]
        self.W, self.b = weights[0::2], weights[1::2]
        self.params = self.W + self.b
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.rng = np.random.default_rng(seed)

    def prepare(self, x, y):
        self.x, self.y = x, np.eye(10, dtype=np.float32)[y]

    def forward(self, x):
        hs = [x]
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            z = hs[-1] @ W + b
            hs.append(np.maximum(z, 0) if i < len(self.W) - 1 else z)
        return hs

    def step(self, xb, yb):
        hs = self.forward(xb)
        z = hs[-1]
        e = np.exp(z - z.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        d = (p - yb) / len(xb)
        gW, gb = [None] * len(self.W), [None] * len(self.W)
        for i in reversed(range(len(self.W))):
            gW[i], gb[i] = hs[i].T @ d, d.sum(0)
            if i:
                d = (d @ self.W[i].T) * (hs[i] > 0)
        self.t += 1
        alpha = 1e-3 * np.sqrt(1 - 0.999 ** self.t) / (1 - 0.9 ** self.t)
        for p_, g, m, v in zip(self.params, gW + gb, self.m, self.v):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p_ -= alpha * m / (np.sqrt(v) + 1e-7)

    def epoch(self):
        order = self.rng.permutation(len(self.x))
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            self.step(self.x[idx], self.y[idx])

    def infer(self, x):
        z = self.forward(x)[-1]
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def version(self):
        return f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}"


# ---- PyTorch ----------------------------------------------------------------------------------------------
class TorchMLP:
    name = 'pytorch'

    def __init__(self, seed=0, threads=None, weights=None, sizes=SIZES, batch_size=BATCH):
        import torch
        self.torch, self.batch_size = torch, batch_size
        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(seed)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        weights = initial_weights(seed, sizes) if weights is None else weights
        with torch.no_grad():
            for linear, W, b in zip(self.model[0::2], weights[0::2], weights[1::2]):
                linear.weight.copy_(torch.from_numpy(W.T))  # PyTorch keeps a kernel as outputs x inputs
                linear.bias.copy_(torch.from_numpy(b))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=1e-7)
        self.loss = torch.nn.CrossEntropyLoss()

    def prepare(self, x, y):
        self.x, self.y = self.torch.from_numpy(x), self.torch.from_numpy(y)

    def step(self, xb, yb):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        return loss

    def epoch(self):
        order = self.torch.randperm(len(self.x))
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            self.step(self.x[idx], self.y[idx])

    def infer(self, x):
        with self.torch.inference_mode():
            return self.torch.softmax(self.model(x), dim=1)

    def version(self):
        return f"torch {self.torch.__version__}, {self.torch.get_num_threads()} threads"


# ---- JAX --------------------------------------------------------------------------------------------------
class JaxMLP:
    name = 'jax'

    def __init__(self, seed=0, threads=None, weights=None, sizes=SIZES, batch_size=BATCH):
        # threads: XLA has no setting for its CPU pool; compare.py limits the child to that many cores
        import jax
        import jax.numpy as jnp
        self.jax, self.jnp, self.batch_size = jax, jnp, batch_size
        params = [jnp.asarray(w) for w in (initial_weights(seed, sizes) if weights is None else weights)]
        self.params = params
        self.state = ([jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params], jnp.float32(0))

        def loss_fn(params, x, y):
            h = x
            for i in range(0, len(params) - 2, 2):
                h = jax.nn.relu(h @ params[i] + params[i + 1])
            z = h @ params[-2] + params[-1]
            return -jnp.mean(jnp.sum(jax.nn.log_softmax(z) * y, axis=1))

        def step(params, state, x, y):
            grads = jax.grad(loss_fn)(params, x, y)
            m, v, t = state
            t = t + 1
            m = [0.9 * mi + 0.1 * g for mi, g in zip(m, grads)]
            v = [0.999 * vi + 0.001 * g * g for vi, g in zip(v, grads)]
            alpha = 1e-3 * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            params = [p - alpha * mi / (jnp.sqrt(vi) + 1e-7) for p, mi, vi in zip(params, m, v)]
            return params, (m, v, t)

        self._step = jax.jit(step)
        self.rng = np.random.default_rng(seed)

    def prepare(self, x, y):
        self.x, self.y = x, np.eye(10, dtype=np.float32)[y]

    def step(self, xb, yb):
        self.params, self.state = self._step(self.params, self.state, xb, yb)

    def epoch(self):
        order = self.rng.permutation(len(self.x))
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            self.step(self.x[idx], self.y[idx])
        self.jax.block_until_ready(self.params)

    def version(self):
        return f"jax {self.jax.__version__}, jit, {len(os.sched_getaffinity(0))} cores"


# name -> (class, the module its interpreter must have), numbanet first: the others are its peers
FRAMEWORKS = {'numbanet': (NumbanetMLP, 'numbanet'), 'numpy': (NumpyMLP, 'numpy'), 'pytorch': (TorchMLP, 'torch'),
              'jax': (JaxMLP, 'jax')}


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
