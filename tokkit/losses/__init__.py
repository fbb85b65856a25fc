"""Training losses: reconstruction (L1/L2, learned log-variance), LPIPS, PatchGAN hinge, KL."""

from tokkit.losses.adversarial import PatchDiscriminator, adaptive_weight, hinge_d_loss
from tokkit.losses.perceptual import ALEXNET_FILE, load_lpips
from tokkit.losses.recon import kl_loss, reconstruction_loss

__all__ = [
    "ALEXNET_FILE",
    "PatchDiscriminator",
    "adaptive_weight",
    "hinge_d_loss",
    "kl_loss",
    "load_lpips",
    "reconstruction_loss",
]
