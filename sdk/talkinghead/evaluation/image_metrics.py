"""Image metrics shared by the training loss and the evaluation: PSNR, SSIM, gradient L1."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _gaussian_window(channels: int, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()  # C×1×k×k


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004, 11×11 Gaussian window) per image. a, b: B×C×H×W in 0..1 -> B."""
    c = a.shape[1]
    w = _gaussian_window(c).to(a)
    mu_a, mu_b = F.conv2d(a, w, groups=c), F.conv2d(b, w, groups=c)
    var_a = F.conv2d(a * a, w, groups=c) - mu_a ** 2
    var_b = F.conv2d(b * b, w, groups=c) - mu_b ** 2
    cov = F.conv2d(a * b, w, groups=c) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean(dim=(1, 2, 3))


def gradient_l1(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between the horizontal and vertical image gradients (edges). B×C×H×W -> scalar."""
    dxa, dxb = a[..., :, 1:] - a[..., :, :-1], b[..., :, 1:] - b[..., :, :-1]
    dya, dyb = a[..., 1:, :] - a[..., :-1, :], b[..., 1:, :] - b[..., :-1, :]
    ex, ey = (dxa - dxb).abs(), (dya - dyb).abs()
    if weight is not None:
        ex, ey = ex * weight[..., :, 1:], ey * weight[..., 1:, :]
    return ex.mean() + ey.mean()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (same shape)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def ssim_np(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two H×W×3 uint8 images."""
    to = lambda x: torch.from_numpy(x.astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.inference_mode():
        return float(ssim(to(a), to(b))[0])
