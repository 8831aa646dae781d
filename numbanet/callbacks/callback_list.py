"""CallbackList: what fit, evaluate and predict call, one hook at a time, on every callback in order."""
from numbanet.callbacks.callback import HOOKS, Callback, History
from numbanet.callbacks.progbar_logger import ProgbarLogger


class CallbackList:
    """Keras's CallbackList(callbacks, add_history, add_progbar, model, **params). History and the progress
    logger go after the user's callbacks, so they see what those add to the logs ('learning_rate')."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        callbacks = [] if callbacks is None else [callbacks] if isinstance(callbacks, Callback) else callbacks
        if not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list of numbanet.callbacks.Callback objects, got "
                            f"{type(callbacks).__name__}")
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be numbanet.callbacks.Callback objects, got {type(cb).__name__}")
        self.callbacks = list(callbacks)
        self.history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        self.params = params
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)

    def end_progress(self):
        """End an interrupted progress line, so what is printed next (a traceback) starts on its own."""
        for cb in self.callbacks:
            if isinstance(cb, ProgbarLogger) and cb.bar is not None:
                cb.bar.end()


def _dispatch(hook):
    # Every callback gets the same logs dict, so what one adds (ReduceLROnPlateau's 'learning_rate') the
    # next ones see.
    if 'batch' in hook or 'epoch' in hook:
        def call(self, index, logs=None):
            logs = {} if logs is None else logs
            for cb in self.callbacks:
                getattr(cb, hook)(index, logs)
    else:
        def call(self, logs=None):
            logs = {} if logs is None else logs
            for cb in self.callbacks:
                getattr(cb, hook)(logs)
    call.__name__ = hook
    return call


for _hook in HOOKS:
    setattr(CallbackList, _hook, _dispatch(_hook))
