"""The renderer's per-frame geometry step, fused: flow, warp and mouth fill in one pass over the crop.

For B frames of one avatar, per output pixel p = (x, y):
  coords[p] = clamp((x, y) + basis[p] @ weights[b])   thin-plate backward flow from the
              per-avatar precomputed basis (render.flow: the spline solve depends on the source
              mesh only, so a frame's flow is one product with its K×2 weights), clamped to the
              source crop as Renderer.warp clamps it;
  warped[p] = bilinear(source, coords[p])             kernels.resample semantics;
  out[p]    = warped + alpha[p] (fill[p] - warped)    the mouth fill (render.regions.fill_mouth).
The refinement residual is not part of this pass: the net reads this pass's output.

`render_step_reference` is the plain-PyTorch source of truth; `render_step` dispatches
(kernels.dispatch): the Triton kernel for CUDA tensors, else the reference. Both compute in float32.
"""
from __future__ import annotations

import torch

from . import dispatch
from .resample import INTERPRETED, remap_bilinear_reference, triton

if triton is not None:
    import triton.language as tl

    from .resample import bilinear_sample, bilinear_taps

__all__ = ["render_step", "render_step_reference"]

BLOCK = 16384 if INTERPRETED else 128  # output pixels per Triton program
BLOCK_K = 32  # basis columns per step of the flow product


def render_step_reference(source: torch.Tensor, basis: torch.Tensor, weights: torch.Tensor,
                          fill: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """source: 1×C×H×W or B×C×H×W crop. basis: (Ho·Wo)×K. weights: B×K×2. fill: B×C×Ho×Wo fill
    layer. alpha: B×Ho×Wo fill alpha. Returns (B×C×Ho×Wo composite in the source's dtype,
    B×Ho×Wo×2 float32 clamped backward map in source pixels)."""
    b, (ho, wo) = weights.shape[0], alpha.shape[1:]
    h, w = source.shape[2:]
    ys, xs = torch.meshgrid(torch.arange(ho, dtype=torch.float32, device=basis.device),
                            torch.arange(wo, dtype=torch.float32, device=basis.device), indexing="ij")
    flow = (basis.float() @ weights.float()).reshape(b, ho, wo, 2)  # B×Ho×Wo×2 displacement
    coords = torch.stack([(xs + flow[..., 0]).clamp(0, w - 1), (ys + flow[..., 1]).clamp(0, h - 1)], -1)
    warped = remap_bilinear_reference(source.float().expand(b, -1, -1, -1), coords)  # B×C×Ho×Wo
    a = alpha.float()[:, None]  # B×1×Ho×Wo
    return (warped + a * (fill.float() - warped)).to(source.dtype), coords


def render_step(source: torch.Tensor, basis: torch.Tensor, weights: torch.Tensor,
                fill: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`render_step_reference` on the fastest implementation for the tensors' device (any strides,
    float32/float16/bfloat16 inputs; float32 basis and weights keep the flow sub-pixel exact)."""
    _check(source, basis, weights, fill, alpha)
    on_cuda = source.is_cuda
    if dispatch.choose("render_step", on_cuda, {"triton": dispatch.triton_unavailable(on_cuda)}) == "triton":
        return _render_step_triton(source, basis, weights, fill, alpha)
    return render_step_reference(source, basis, weights, fill, alpha)


def _check(source, basis, weights, fill, alpha) -> None:
    tensors = dict(source=source, basis=basis, weights=weights, fill=fill, alpha=alpha)
    if any(not t.is_floating_point() or t.device != source.device for t in tensors.values()):
        raise ValueError("render_step needs float tensors on one device; got "
                         + ", ".join(f"{k} {t.dtype} on {t.device}" for k, t in tensors.items()))
    fits = source.ndim == 4 and basis.ndim == 2 and alpha.ndim == 3
    if fits:
        b, ho, wo = alpha.shape
        fits = (source.shape[0] in (1, b) and basis.shape[0] == ho * wo
                and weights.shape == (b, basis.shape[1], 2) and fill.shape == (b, source.shape[1], ho, wo))
    if not fits:
        raise ValueError("render_step needs source 1×C×H×W or B×C×H×W, basis (Ho·Wo)×K, weights B×K×2, "
                         "fill B×C×Ho×Wo and alpha B×Ho×Wo; got "
                         + ", ".join(f"{k} {tuple(t.shape)}" for k, t in tensors.items()))


def _render_step_triton(source, basis, weights, fill, alpha):
    b, (ho, wo) = weights.shape[0], alpha.shape[1:]
    c, h, w = source.shape[1:]
    source = source.expand(b, -1, -1, -1)  # one avatar crop for every frame: batch stride 0
    out = torch.empty((b, c, ho, wo), dtype=source.dtype, device=source.device)
    coords = torch.empty((b, ho, wo, 2), dtype=torch.float32, device=source.device)
    n_out = ho * wo
    _render_step_kernel[(b * triton.cdiv(n_out, BLOCK),)](
        source, basis, weights, fill, alpha, out, coords, b, c, h, w, n_out, wo, basis.shape[1],
        *source.stride(), *basis.stride(), *weights.stride(), *fill.stride(), *alpha.stride(),
        BLOCK=BLOCK, BLOCK_K=BLOCK_K)
    return out, coords


if triton is not None:
    @triton.jit
    def _render_step_kernel(source, basis, weights, fill, alpha, out, coords, nb, c, h, w, n_out, wo, k,
                            ss_b, ss_c, ss_h, ss_w, sb_p, sb_k, sw_b, sw_k, sw_xy,
                            sf_b, sf_c, sf_h, sf_w, sa_b, sa_h, sa_w,
                            BLOCK: tl.constexpr, BLOCK_K: tl.constexpr):
        """One program: BLOCK output pixels of one frame, all channels."""
        # Frames vary fastest, so the programs that read one basis tile run side by side and the
        # tile comes from HBM about once for the whole batch.
        pid = tl.program_id(0)
        b = pid % nb
        p = (pid // nb) * BLOCK + tl.arange(0, BLOCK)  # flat output pixel index
        live = p < n_out
        oy, ox = p // wo, p % wo
        dx = tl.zeros([BLOCK], tl.float32)
        dy = tl.zeros([BLOCK], tl.float32)
        for k0 in range(0, k, BLOCK_K):
            kk = k0 + tl.arange(0, BLOCK_K)
            kin = kk < k
            tile = tl.load(basis + p[:, None] * sb_p + kk[None, :] * sb_k,
                           mask=live[:, None] & kin[None, :], other=0.0).to(tl.float32)  # BLOCK×BLOCK_K
            wx = tl.load(weights + b * sw_b + kk * sw_k, mask=kin, other=0.0).to(tl.float32)  # BLOCK_K
            wy = tl.load(weights + b * sw_b + kk * sw_k + sw_xy, mask=kin, other=0.0).to(tl.float32)
            dx += tl.sum(tile * wx[None, :], axis=1)
            dy += tl.sum(tile * wy[None, :], axis=1)
        x = tl.minimum(tl.maximum(ox.to(tl.float32) + dx, 0.0), w - 1.0)
        y = tl.minimum(tl.maximum(oy.to(tl.float32) + dy, 0.0), h - 1.0)
        tl.store(coords + (b * n_out + p) * 2, x, mask=live)
        tl.store(coords + (b * n_out + p) * 2 + 1, y, mask=live)
        r0, r1, c0, c1, fx, fy = bilinear_taps(x, y, h, w, ss_h, ss_w)
        a = tl.load(alpha + b * sa_b + oy * sa_h + ox * sa_w, mask=live, other=0.0).to(tl.float32)
        for ch in range(c):
            warped = bilinear_sample(source + b * ss_b + ch * ss_c, r0, r1, c0, c1, fx, fy, live)
            f = tl.load(fill + b * sf_b + ch * sf_c + oy * sf_h + ox * sf_w, mask=live, other=0.0).to(tl.float32)
            tl.store(out + (b * c + ch) * n_out + p, (warped + a * (f - warped)).to(out.dtype.element_ty), mask=live)
