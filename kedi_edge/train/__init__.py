"""ZZ-GAN training and export support. Needs torch (the ``train`` extra).

The runtime (:mod:`kedi_edge`) never imports this package.
"""

from .model import KEY_PLANES, NOISE_PLANES, STRIDE, Discriminator, Generator, generator_macs
from .trainer import TrainConfig, load_generator, train

__all__ = [
    "KEY_PLANES",
    "NOISE_PLANES",
    "STRIDE",
    "Discriminator",
    "Generator",
    "TrainConfig",
    "generator_macs",
    "load_generator",
    "train",
]
