"""Keras's numbanet.models namespace: the model classes and load_model."""
from numbanet.model import Model, Sequential
from numbanet.saving import SavedFileError, load_model

__all__ = ['Model', 'Sequential', 'load_model', 'SavedFileError']
