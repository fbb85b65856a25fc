"""PatchGAN discriminator and the hinge/adaptive-weight helpers.

The discriminator follows pix2pix's N-layer PatchGAN (4x4 convs, stride 2, LeakyReLU 0.2), with
GroupNorm instead of BatchNorm: it behaves the same per sample under DDP and in resumed runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tokkit.layers.conv import norm


class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels: int = 3, channels: int = 64, num_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = channels
        for i in range(1, num_layers + 1):
            c_next = channels * min(2**i, 8)
            stride = 2 if i < num_layers else 1
            layers += [nn.Conv2d(c, c_next, 4, stride, 1, bias=False), norm(c_next), nn.LeakyReLU(0.2)]
            c = c_next
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        for m in self.modules():  # DCGAN init, as pix2pix/taming
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 1, h', w') patch logits


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def adaptive_weight(nll: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor, max_weight: float = 1e4):
    """taming's balance: ||d nll / d last|| / ||d g / d last||, so the GAN gradient at the decoder's
    output layer matches the reconstruction gradient's size."""
    nll_grad = torch.autograd.grad(nll, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (nll_grad.norm() / (g_grad.norm() + 1e-4)).clamp(0.0, max_weight).detach()
