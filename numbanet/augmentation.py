"""Data augmentation on whole arrays of images, done once per epoch before fit sees them.

    rng = np.random.default_rng(0)
    for epoch in range(10):
        model.fit(random_shift(images, 1, rng).reshape(-1, 784), y, epochs=1)

fit keeps the optimizer's state between calls, so ten one-epoch fits train as one ten-epoch fit does,
each epoch on freshly shifted copies."""
import numpy as np

from numbanet.utils import global_rng


def random_shift(images, max_shift=1, rng=None):
    """Each image moved by its own whole-pixel offset (dy, dx), each drawn uniformly from
    [-max_shift, max_shift]; pixels moved in from outside are 0. images: (N, H, W) or (N, H, W, C),
    any dtype; returns a new array of the same shape and dtype. rng: a numpy Generator, an int seed, or
    None for numbanet's global generator (utils.set_random_seed)."""
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"random_shift needs images shaped (N, H, W) or (N, H, W, C), got shape {images.shape}")
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ValueError(f"max_shift must be a non-negative int, got {max_shift!r}")
    H, W = images.shape[1:3]
    r = int(max_shift)
    if r >= min(H, W):
        raise ValueError(f"max_shift must be smaller than the image, got {r} for {H}x{W} images")
    if rng is None:
        rng = global_rng()
    elif not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    n = images.shape[0]
    dy = rng.integers(-r, r + 1, n)
    dx = rng.integers(-r, r + 1, n)
    # Pad once, then every image is a window of its padded copy: out[y, x] = image[y - dy, x - dx].
    # One vectorised copy per offset, (2r + 1)^2 in all, instead of one per image.
    pad = [(0, 0), (r, r), (r, r)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, pad)
    out = np.empty_like(images)
    for oy in range(-r, r + 1):
        for ox in range(-r, r + 1):
            which = np.flatnonzero((dy == oy) & (dx == ox))
            if which.size:
                out[which] = padded[which, r - oy:r - oy + H, r - ox:r - ox + W]
    return out
