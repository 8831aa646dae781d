"""The Callback base with Keras's full set of hooks, History (what fit returns) and LambdaCallback."""

TRAIN_HOOKS = ('on_train_begin', 'on_train_end', 'on_epoch_begin', 'on_epoch_end', 'on_train_batch_begin',
               'on_train_batch_end')
HOOKS = TRAIN_HOOKS + ('on_test_begin', 'on_test_end', 'on_predict_begin', 'on_predict_end', 'on_test_batch_begin',
                       'on_test_batch_end', 'on_predict_batch_begin', 'on_predict_batch_end')


class Callback:
    """Subclass and override the hooks you need. fit, evaluate and predict call them with `logs`, a dict of
    floats (predict's batch logs hold the batch's 'outputs'); self.model and self.params are set first."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass

    # Keras's older names for the training batch hooks: overriding either pair works.
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def __repr__(self):
        return f"<{type(self).__name__}>"


class History(Callback):
    """What fit() returns: history.history['loss'] etc., one value per epoch (any key a callback adds to
    the epoch's logs, such as 'learning_rate', included)."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"


class LambdaCallback(Callback):
    """A callback from plain functions: LambdaCallback(on_epoch_end=lambda epoch, logs: ...). Any hook of
    Callback may be given by name; each takes the arguments that hook takes."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in hooks.items():
            if name not in HOOKS + ('on_batch_begin', 'on_batch_end'):
                raise TypeError(f"LambdaCallback got an unknown hook {name!r}; hooks are {list(HOOKS)}")
            if fn is not None and not callable(fn):
                raise TypeError(f"LambdaCallback's {name} must be a function, got {fn!r}")
        # Set only after every check, so a refused call builds nothing half-way.
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)
