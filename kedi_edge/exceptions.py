"""Exception types of kedi_edge.

Misuse of the array building blocks (wrong dtype, shape or layout) raises the built-in
``TypeError``/``ValueError``; failures of files, keys and sealed data raise a
:class:`KediError` subclass.
"""

__all__ = [
    "AuthenticationError",
    "InvalidInputError",
    "KediError",
    "KeyNotFoundError",
    "KeyStoreError",
    "ModelError",
    "ProviderError",
]


class KediError(Exception):
    """Base class of every error kedi_edge raises about files, keys and sealed data."""


class InvalidInputError(KediError, ValueError):
    """An argument kedi_edge cannot work with (unsupported dtype, empty shape, bad seed)."""


class ModelError(KediError):
    """A key-generator model file that is missing, corrupt or has the wrong inputs."""


class ProviderError(KediError):
    """The requested ONNX Runtime execution provider is not available or not active."""


class AuthenticationError(KediError):
    """Sealed data failed authentication: wrong key, or modified, truncated or not sealed.

    Like Fernet's ``InvalidToken`` it says no more than that; nothing is decrypted.
    """


class KeyNotFoundError(AuthenticationError):
    """The key a sealed image names is not in the key store."""


class KeyStoreError(KediError):
    """A key store or KEK that cannot be used (missing, unreadable, too open, wrong KEK)."""
