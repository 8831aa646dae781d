"""numbanet.warmup(model): compile ahead of time (an image build, CI) the kernels the model's fit, evaluate and
predict will call. Sizes choose kernels too (parallel variants, the last partial batch), so a throwaway copy
trains an epoch at fit's sizes on made-up data; the model is untouched. Use training's thread count."""
import numpy as np

from numbanet import models
from numbanet.checks import positive_int
from numbanet.kernels.compiling import CompileWatch


def warmup(model, batch_size=None, samples=None, sample_weight=False, custom_objects=None, dtype='float32'):
    """batch_size: fit's (default 32, as fit's); samples: rows fit will get, for the size of the last batch
    (default: one more than a batch); dtype: the inputs' (uint8 images have gather kernels of their own), or a
    list of one per input. Returns how many kernels numba compiled (0: all were ready)."""
    if not model.built or not model.compiled:
        raise ValueError(f"warmup needs a built and compiled model; model '{model.name}' is "
                         f"{'not compiled' if model.built else 'not built'}")
    batch = 32 if batch_size is None else positive_int(batch_size, 'batch_size')
    samples = batch + 1 if samples is None else positive_int(samples, 'samples')
    rows = min(samples, batch) + (samples % batch if samples > batch else 0)  # a full batch and the last one
    dtypes = [np.dtype(d) for d in (dtype if isinstance(dtype, (list, tuple)) else [dtype] * len(model.inputs))]
    if len(dtypes) != len(model.inputs) or any(d.kind not in 'iubf' for d in dtypes):
        raise ValueError(f"dtype must be a numeric dtype, or a list of one per input ({len(model.inputs)}), got {dtype!r}")
    copy = models.model_from_config(model.get_config(), custom_objects, model.device)
    models.compile_from_config(copy, model.get_compile_config(), custom_objects)
    for mine, theirs in zip(copy.parameters.weights, model.parameters.weights):
        mine.mask = theirs.mask
    xs = [np.random.default_rng(0).random((rows,) + t.shape[1:]).astype('f4' if d.kind == 'f' else d)
          for t, d in zip(copy.inputs, dtypes)]
    shape, dtype = copy.loss.target_spec(rows, copy.outputs[0].shape[-1])
    y = np.zeros(shape, dtype) if np.issubdtype(dtype, np.integer) else np.full(shape, 1 / shape[-1], dtype)
    w = np.ones(rows, np.float32) if sample_weight else None
    x = xs if len(xs) > 1 else xs[0]
    with CompileWatch() as watch:
        if not copy.quantized:
            copy.fit(x, y, batch_size=batch, epochs=1, verbose=0, sample_weight=w, validation_data=(x, y))
        copy.evaluate(x, y, batch_size=batch, verbose=0, sample_weight=w)
        copy.predict([a[:1] for a in xs], verbose=0)
        copy.predict(x, batch_size=batch, verbose=0)
    return watch.count
