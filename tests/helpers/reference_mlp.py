"""An independent numpy implementation of an MLP's training step, written from the math (Keras's
formulas), that the engine is checked against."""
import numpy as np


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class ReferenceMLP:
    def __init__(self, weights, activations, optimizer, lr, momentum=0.0, nesterov=False):
        # weights: [W0, b0, W1, b1, ...] with W shaped (in, out); activations per layer
        self.W = [np.array(w, np.float64) for w in weights[0::2]]
        self.b = [np.array(b, np.float64) for b in weights[1::2]]
        self.act = activations
        self.opt, self.lr, self.momentum, self.nesterov = optimizer, lr, momentum, nesterov
        params = self.W + self.b
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def forward(self, x):
        hs = [x.astype(np.float64)]
        for W, b, act in zip(self.W, self.b, self.act):
            z = hs[-1] @ W + b
            hs.append(np.maximum(z, 0) if act == 'relu' else z)
        return hs  # the last entry is logits (softmax is applied by the loss)

    def step(self, x, y_onehot):
        hs = self.forward(x)
        p = softmax(hs[-1])
        B = x.shape[0]
        loss = -np.sum(y_onehot * np.log(p)) / B
        d = (p - y_onehot) / B
        gW, gb = [None] * len(self.W), [None] * len(self.W)
        for i in reversed(range(len(self.W))):
            if self.act[i] == 'relu':
                d = d * (hs[i + 1] > 0)
            gW[i] = hs[i].T @ d
            gb[i] = d.sum(0)
            d = d @ self.W[i].T
        params, grads = self.W + self.b, gW + gb
        self.t += 1
        for j, (p_, g) in enumerate(zip(params, grads)):
            if self.opt == 'sgd':
                if self.momentum:
                    self.m[j] = self.momentum * self.m[j] - self.lr * g
                    p_ += (self.momentum * self.m[j] - self.lr * g) if self.nesterov else self.m[j]
                else:
                    p_ -= self.lr * g
            else:
                b1, b2, eps = 0.9, 0.999, 1e-7
                self.m[j] = b1 * self.m[j] + (1 - b1) * g
                self.v[j] = b2 * self.v[j] + (1 - b2) * g * g
                alpha = self.lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
                p_ -= alpha * self.m[j] / (np.sqrt(self.v[j]) + eps)
        return loss

    def weights(self):
        out = []
        for W, b in zip(self.W, self.b):
            out += [W, b]
        return out
