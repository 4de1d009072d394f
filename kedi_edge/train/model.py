"""The ZZ-GAN networks: a light key generator and a PatchGAN discriminator (torch).

Generator ``G(image, noise, pad) -> (key, raw, u)``, all tensors (N, C, H, W), H and W
multiples of :data:`STRIDE`:

- ``image`` (N, 1, H, W): the (possibly speckled) medical image scaled to [0, 1].
- ``noise`` (N, NOISE_PLANES, H, W): uniform noise, byte values (b + 0.5) / 256 drawn
  from the seed's keystream.
- ``pad`` (N, KEY_PLANES, H, W): further keystream bytes as floats 0..255.
- ``raw`` (N, KEY_PLANES, H, W): the network's own key bytes, floats 0..255. Plane p is
  byte p (least significant first) of a key of itemsize up to KEY_PLANES.
- ``u`` (N, KEY_PLANES, H, W): the continuous value before the wrap; raw = floor(256 *
  frac(u)). Only for checks (export compares it between runtimes).
- ``key`` = (raw + pad) mod 256: the key bytes the runtime uses. The pad alone makes
  ``key`` uniform whatever the network does; the network's own statistics are those of
  ``raw``, reported separately (see models/README.md).

Most work happens at 1/4 resolution (pixel-unshuffle, three 3x3 convolutions, a global
context vector, pixel-shuffle back); the full-resolution head is two 1x1 convolutions.
The last activation wraps modulo 1 (``frac``) so the output is a cipher-like residue
rather than a saturating sigmoid.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

STRIDE = 4
NOISE_PLANES = 2
KEY_PLANES = 4


def quantise(u: torch.Tensor, ste: bool) -> torch.Tensor:
    """Values in [0, 1) to bytes 0..255 (floats); with ``ste`` a straight-through gradient."""
    q = torch.clamp(torch.floor(u * 256.0), 0.0, 255.0)
    return u * 256.0 + (q - u * 256.0).detach() if ste else q


class Generator(nn.Module):
    """Key generator; ``width`` channels at 1/4 resolution, ``head`` at full resolution.

    ``head_gain`` scales the last layer's initial weights so the wrapped output starts
    as a many-times-folded residue (fast to become cipher-like), not one smooth ramp.
    """

    def __init__(self, width: int = 40, head: int = 8, head_gain: float = 32.0) -> None:
        super().__init__()
        cin = (1 + NOISE_PLANES) * STRIDE * STRIDE
        self.width, self.head = width, head
        self.stem = nn.Conv2d(cin, width, 3, padding=1)
        self.body1 = nn.Conv2d(width, width, 3, padding=1)
        self.body2 = nn.Conv2d(width, width, 3, padding=1)
        self.context = nn.Linear(width, width)
        self.up = nn.Conv2d(width, KEY_PLANES * STRIDE * STRIDE, 1)
        self.head1 = nn.Conv2d(KEY_PLANES + 1 + NOISE_PLANES, head, 1)
        self.head2 = nn.Conv2d(head, KEY_PLANES, 1)
        with torch.no_grad():  # start with outputs spanning several wraps, not one smooth ramp
            self.head2.weight.mul_(head_gain)

    def _stem(self, full: torch.Tensor) -> torch.Tensor:
        """``stem(pixel_unshuffle(full, 4))`` computed as one 12x12 convolution of stride 4.

        Unshuffled channel c*16 + 4*by + bx at low-res offset dy is full-res row offset
        4*dy + by (and likewise for columns), so the 3x3 stem over unshuffled channels
        is exactly a 12x12 stride-4 convolution with padding 4 over the full-res input,
        and no full-resolution transpose is needed.
        """
        w = self.stem.weight  # (O, C*16, 3, 3)
        o, c = w.shape[0], w.shape[1] // (STRIDE * STRIDE)
        w = w.reshape(o, c, STRIDE, STRIDE, 3, 3).permute(0, 1, 4, 2, 5, 3)
        w = w.reshape(o, c, 3 * STRIDE, 3 * STRIDE)
        return F.conv2d(full, w, self.stem.bias, stride=STRIDE, padding=STRIDE)

    def forward(self, image: torch.Tensor, noise: torch.Tensor, pad: torch.Tensor):
        full = torch.cat([image, noise], dim=1)
        h = F.leaky_relu(self._stem(full), 0.2)
        h = h + F.leaky_relu(self.body1(h), 0.2)
        # A per-image vector from the whole image, so every key pixel depends on all of it.
        g = self.context(h.mean(dim=(2, 3)))
        h = h + torch.tanh(g)[:, :, None, None]
        h = h + F.leaky_relu(self.body2(h), 0.2)
        u = F.pixel_shuffle(self.up(h), STRIDE)
        u = F.leaky_relu(self.head1(torch.cat([u, full], dim=1)), 0.2)
        u = self.head2(u)
        raw = quantise(u - torch.floor(u), self.training)  # frac: wrap modulo 1
        key = torch.remainder(raw + pad, 256.0)
        return key, raw, u


class Discriminator(nn.Module):
    """PatchGAN on one key plane scaled to [0, 1]: one logit per 70x70-ish patch."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, padding=1),
        )

    def forward(self, plane: torch.Tensor) -> torch.Tensor:
        return self.net(plane)


def generator_macs(model: Generator, height: int, width: int) -> int:
    """Multiply-accumulates of one forward pass at (height, width), from the layer shapes."""
    h4, w4 = height // STRIDE, width // STRIDE
    macs = 0
    for conv in (model.stem, model.body1, model.body2, model.up):
        k = conv.kernel_size[0] * conv.kernel_size[1]
        macs += h4 * w4 * k * conv.in_channels * conv.out_channels
    macs += model.context.in_features * model.context.out_features
    for conv in (model.head1, model.head2):
        macs += height * width * conv.in_channels * conv.out_channels
    return macs
