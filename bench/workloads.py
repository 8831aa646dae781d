"""The reference workload (the seed's MLP 784-256-128-64-10, ReLU, softmax, Adam 1e-3, batch 128) in
numbanet and in each peer that is installed, so that benchmarks and compare.py time the same thing."""
import importlib.util
import time

import numpy as np

import numbanet

SIZES = (784, 256, 128, 64, 10)
BATCH = 128


def mnist_or_synthetic(limit=None):
    """Real MNIST when a source exists on this machine, else random data of the same shapes."""
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


# ---- numbanet -----------------------------------------------------------------------------------------------
class NumbanetMLP:
    name = 'numbanet'

    def __init__(self, seed=0):
        inputs = numbanet.layers.Input(shape=(784,))
        x = inputs
        for width in SIZES[1:-1]:
            x = numbanet.layers.Dense(width, activation='relu')(x)
        outputs = numbanet.layers.Dense(SIZES[-1], activation='softmax')(x)
        self.model = numbanet.Model(inputs, outputs, seed=seed)
        self.model.compile(optimizer=numbanet.optimizers.Adam(1e-3), loss='categorical_crossentropy')

    def prepare(self, x, y):
        self.x, self.y = x, numbanet.utils.to_categorical(y, 10)

    def epoch(self):
        self.model.fit(self.x, self.y, batch_size=BATCH, epochs=1, verbose=0)

    def step(self, xb, yb):
        return self.model.train_on_batch(xb, yb)

    def infer(self, x):
        return self.model.predict(x, verbose=0)

    def version(self):
        import numba
        return f"numbanet {numbanet.__version__}, numba {numba.__version__}, {numbanet.get_num_threads()} threads"


# ---- plain numpy ------------------------------------------------------------------------------------------
class NumpyMLP:
    """The same MLP written the plain way in numpy: BLAS matmuls, temporaries allowed."""
    name = 'numpy'

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.W = [rng.uniform(-np.sqrt(6 / (a + b)), np.sqrt(6 / (a + b)), (a, b)).astype(np.float32)
                  for a, b in zip(SIZES[:-1], SIZES[1:])]
        self.b = [np.zeros(b, np.float32) for b in SIZES[1:]]
        self.params = self.W + self.b
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.rng = rng

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
        gW, gb = [None] * 4, [None] * 4
        for i in reversed(range(4)):
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
        for s in range(0, len(order), BATCH):
            idx = order[s:s + BATCH]
            self.step(self.x[idx], self.y[idx])

    def infer(self, x):
        z = self.forward(x)[-1]
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def version(self):
        return f"numpy {np.__version__}"


# ---- PyTorch ----------------------------------------------------------------------------------------------
class TorchMLP:
    name = 'pytorch'

    def __init__(self, seed=0, threads=None):
        import torch
        self.torch = torch
        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(seed)
        layers = []
        for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(SIZES) - 2:
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
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
        for s in range(0, len(order), BATCH):
            idx = order[s:s + BATCH]
            self.step(self.x[idx], self.y[idx])

    def infer(self, x):
        with self.torch.inference_mode():
            return self.torch.softmax(self.model(x), dim=1)

    def version(self):
        return f"torch {self.torch.__version__}, {self.torch.get_num_threads()} threads"


# ---- JAX --------------------------------------------------------------------------------------------------
class JaxMLP:
    name = 'jax (jit)'

    def __init__(self, seed=0):
        import jax
        import jax.numpy as jnp
        self.jax, self.jnp = jax, jnp
        rng = np.random.default_rng(seed)
        params = []
        for a, b in zip(SIZES[:-1], SIZES[1:]):
            lim = np.sqrt(6 / (a + b))
            params += [jnp.asarray(rng.uniform(-lim, lim, (a, b)).astype(np.float32)), jnp.zeros(b, jnp.float32)]
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
        self.rng = rng

    def prepare(self, x, y):
        self.x, self.y = x, np.eye(10, dtype=np.float32)[y]

    def step(self, xb, yb):
        self.params, self.state = self._step(self.params, self.state, xb, yb)

    def epoch(self):
        order = self.rng.permutation(len(self.x))
        for s in range(0, len(order), BATCH):
            idx = order[s:s + BATCH]
            self.step(self.x[idx], self.y[idx])
        self.jax.block_until_ready(self.params)

    def version(self):
        return f"jax {self.jax.__version__}"


def peers(threads=None, only=None):
    """Every framework that can run here (or those named in only), numbanet first."""
    wanted = lambda name: only is None or name in only  # noqa: E731
    out = [NumbanetMLP()]
    if wanted('numpy'):
        out.append(NumpyMLP())
    if wanted('pytorch') and installed('torch'):
        out.append(TorchMLP(threads=threads))
    if wanted('jax') and installed('jax'):
        out.append(JaxMLP())
    return out


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
