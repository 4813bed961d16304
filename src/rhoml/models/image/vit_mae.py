"""ImageED: a masked autoencoder (MAE, He et al. 2022) over multi-view RGB-D density images, as in
EDG (Xiang et al., Electron Density-enhanced Molecular Geometry Learning).

Input: ``images`` float (B, V, C, H, W), V views (EDG: 6) of C channels (EDG: 4 = R, G, B,
depth), preprocessed by :func:`prepare_images` (RGB normalised with the ImageNet mean/std, depth
as 0-1). Layout:

* one ``Conv2d(C → D, kernel = stride = patch)`` patch embedding shared by every view, so a view
  gives (H/p)·(W/p) tokens and the molecule V·(H/p)·(W/p) tokens (ViT-B/16 at 224 px with 6
  views: 6·14² = 1176), ordered (view, row, column);
* fixed 2D sin-cos position embeddings of one view repeated for every view (no view embedding),
  plus a CLS token (position 0, zero position embedding);
* random masking over all tokens of all views together: round(mask_ratio·N) tokens of every
  molecule are masked (EDG: mask ratio 0.25);
* a pre-norm transformer encoder on the visible tokens, a lighter decoder that sees the encoded
  visible tokens plus mask tokens at the masked positions and predicts every patch's p·p·C
  pixel values.

Loss (EDG): L = λ_MP·L_MP + λ_RP·L_RP, both weights 1, where a patch's error is the mean squared
error over its p·p·C values, L_MP ("mask prediction") is the mean over masked patches and L_RP
("restoration prediction") the mean over visible ones; with ``norm_pix_loss`` each target patch
is standardised by its own mean and variance first. Every molecule has the same number of masked
patches, so the batch mean of the per-molecule losses equals the mean over all patches of the
batch.

ED feature (what the later EDG stages use): the frozen encoder on all tokens (no masking), its
patch tokens (CLS excluded) averaged, D values per molecule (768 for ViT-B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAEOutput",
    "ViTMAE",
    "ViTMAEConfig",
    "n_masked",
    "normalise_rgb",
    "prepare_images",
    "sincos_2d",
]

#: ImageNet channel statistics used for the RGB channels (EDG's loader); depth is left as 0-1.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ViTMAEConfig:
    """Hyper-parameters. ``image_size``: pixels per side the model takes (stored images of
    another size are resized by :func:`prepare_images`); ``patch_size``: pixels per patch side;
    ``in_chans``: 4 (RGB-D); ``n_views``: images per molecule; encoder ``embed_dim`` /
    ``depth`` / ``num_heads``; decoder likewise; ``mask_ratio``: fraction of all tokens masked;
    ``mask_loss_weight`` λ_MP and ``recovery_loss_weight`` λ_RP; ``norm_pix_loss``: standardise
    each target patch. Defaults: EDG's ViT-B/16 (encoder 768/12/12, decoder 512/8/16)."""

    image_size: int = 224
    patch_size: int = 16
    in_chans: int = 4
    n_views: int = 6
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    decoder_embed_dim: int = 512
    decoder_depth: int = 8
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0
    mask_ratio: float = 0.25
    mask_loss_weight: float = 1.0
    recovery_loss_weight: float = 1.0
    norm_pix_loss: bool = False

    def __post_init__(self) -> None:
        if self.image_size < 1 or self.patch_size < 1 or self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} must be a positive multiple of patch_size "
                f"{self.patch_size}"
            )
        if self.in_chans < 1 or self.n_views < 1:
            raise ValueError("in_chans and n_views must be positive")
        for dim, heads, what in ((self.embed_dim, self.num_heads, "embed_dim"),
                                 (self.decoder_embed_dim, self.decoder_num_heads,
                                  "decoder_embed_dim")):  # fmt: skip
            if heads < 1 or dim < 1 or dim % heads:
                raise ValueError(f"{what} {dim} must be a positive multiple of its heads {heads}")
            if dim % 4:
                raise ValueError(f"{what} {dim} must be a multiple of 4 (2D sin-cos positions)")
        if self.depth < 1 or self.decoder_depth < 1 or self.mlp_ratio <= 0:
            raise ValueError("depth, decoder_depth and mlp_ratio must be positive")
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {self.mask_ratio}")
        if self.mask_loss_weight < 0 or self.recovery_loss_weight < 0:
            raise ValueError("loss weights must be >= 0")

    @property
    def grid(self) -> int:
        """Patches per image side."""
        return self.image_size // self.patch_size

    @property
    def n_tokens(self) -> int:
        """Patch tokens per molecule (all views), CLS not counted."""
        return self.n_views * self.grid**2

    @property
    def patch_dim(self) -> int:
        """Pixel values per patch: p·p·C."""
        return self.patch_size**2 * self.in_chans


def n_masked(n_tokens: int, mask_ratio: float) -> int:
    """Tokens masked per molecule: round(mask_ratio · n_tokens), halves rounded up."""
    return int(math.floor(mask_ratio * n_tokens + 0.5))


def sincos_2d(dim: int, grid: int) -> torch.Tensor:
    """Fixed 2D sin-cos position embedding (MAE): (grid², dim), rows in (row, column) order;
    half of the channels encode the column, half the row, each as sin/cos of 1/10000^(2i/d)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4.0))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float64),
                            torch.arange(grid, dtype=torch.float64), indexing="ij")  # fmt: skip

    def enc(pos):
        out = pos.reshape(-1, 1) * omega[None]
        return torch.cat([out.sin(), out.cos()], dim=1)

    return torch.cat([enc(xs), enc(ys)], dim=1).float()


def normalise_rgb(x: torch.Tensor) -> torch.Tensor:
    """(..., C, H, W) images in 0-1 → the first three channels normalised with the ImageNet
    mean/std, the others (depth) unchanged. Returns a new tensor."""
    shape = (3,) + (1, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(shape)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(shape)
    x = x.clone()
    x[..., :3, :, :] = (x[..., :3, :, :] - mean) / std
    return x


def prepare_images(images, image_size: int | None = None, normalise: bool = True) -> torch.Tensor:
    """Stored RGB-D images → model input.

    ``images``: uint8 (B, V, H, W, C) or (V, H, W, C), C = 4 (R, G, B, depth) or 3, as
    :mod:`rhoml.represent.render` stores them. Returns float32 (B, V, C, S, S): RGB scaled to
    0-1 then (``normalise``) normalised with the ImageNet mean/std, depth (channel 4) scaled to
    0-1 only; resized (bilinear, antialiased, before normalisation) to ``image_size`` S when
    given and different from H, W."""
    x = torch.as_tensor(np.asarray(images)) if not torch.is_tensor(images) else images
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5 or x.shape[-1] not in (3, 4):
        raise ValueError(f"expected images (B, V, H, W, 3|4), got shape {tuple(x.shape)}")
    b, v, h, w, c = x.shape
    x = x.permute(0, 1, 4, 2, 3).float().div_(255.0)  # (B, V, C, H, W)
    if image_size is not None and (h, w) != (image_size, image_size):
        x = F.interpolate(x.reshape(b * v, c, h, w), size=(image_size, image_size),
                          mode="bilinear", align_corners=False, antialias=True)  # fmt: skip
        x = x.clamp_(0.0, 1.0).reshape(b, v, c, image_size, image_size)
    return (normalise_rgb(x) if normalise else x).contiguous()


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x)) (GELU)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


@dataclass
class MAEOutput:
    """One MAE pass. ``loss_mask`` (B,): L_MP per molecule; ``loss_recovery`` (B,): L_RP per
    molecule; ``loss`` (): λ_MP·mean(L_MP) + λ_RP·mean(L_RP); ``pred`` (B, N, p·p·C): predicted
    patches (in the normalised target space when ``norm_pix_loss``); ``mask`` (B, N): 1 for
    masked tokens; ``target`` (B, N, p·p·C): the patches the loss compares with."""

    loss: torch.Tensor
    loss_mask: torch.Tensor
    loss_recovery: torch.Tensor
    pred: torch.Tensor
    mask: torch.Tensor
    target: torch.Tensor


class ViTMAE(nn.Module):
    """Multi-view RGB-D masked autoencoder (see the module docstring)."""

    Config = ViTMAEConfig

    def __init__(self, config: ViTMAEConfig | None = None) -> None:
        super().__init__()
        cfg = config or ViTMAEConfig()
        self.config = cfg
        d, dd, p = cfg.embed_dim, cfg.decoder_embed_dim, cfg.patch_size
        self.patch_embed = nn.Conv2d(cfg.in_chans, d, kernel_size=p, stride=p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        pos = sincos_2d(d, cfg.grid).repeat(cfg.n_views, 1)  # same positions in every view
        self.register_buffer("pos_embed", torch.cat([torch.zeros(1, d), pos])[None],
                             persistent=False)  # fmt: skip
        self.blocks = nn.ModuleList(Block(d, cfg.num_heads, cfg.mlp_ratio)
                                    for _ in range(cfg.depth))  # fmt: skip
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.decoder_embed = nn.Linear(d, dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dd))
        dpos = sincos_2d(dd, cfg.grid).repeat(cfg.n_views, 1)
        self.register_buffer("decoder_pos_embed", torch.cat([torch.zeros(1, dd), dpos])[None],
                             persistent=False)  # fmt: skip
        self.decoder_blocks = nn.ModuleList(
            Block(dd, cfg.decoder_num_heads, cfg.mlp_ratio) for _ in range(cfg.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(dd, eps=1e-6)
        self.decoder_pred = nn.Linear(dd, cfg.patch_dim)
        self._init_weights()

    def no_weight_decay(self) -> set[str]:
        """Parameters kept out of weight decay (the learned tokens)."""
        return {"cls_token", "mask_token"}

    def _init_weights(self) -> None:
        """MAE's initialisation: Xavier-uniform linear layers (and the patch embedding seen as
        one), N(0, 0.02) CLS and mask tokens, LayerNorm 1/0."""
        w = self.patch_embed.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # -- tokens and patches ----------------------------------------------------------------------
    def _check(self, images: torch.Tensor) -> None:
        cfg = self.config
        want = (cfg.n_views, cfg.in_chans, cfg.image_size, cfg.image_size)
        if images.ndim != 5 or tuple(images.shape[1:]) != want:
            raise ValueError(f"expected images (B, {', '.join(map(str, want))}), got "
                             f"{tuple(images.shape)}")  # fmt: skip

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens with positions: (B, V·g², D), ordered (view, row, column)."""
        self._check(images)
        b, v = images.shape[:2]
        x = self.patch_embed(images.flatten(0, 1))  # (B·V, D, g, g)
        x = x.flatten(2).transpose(1, 2).reshape(b, v * x.shape[-1] * x.shape[-2], -1)
        return x + self.pos_embed[:, 1:]

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """(B, V, C, H, W) → (B, V·g², p·p·C), patch values ordered (row, column, channel)."""
        b, v, c, h, w = images.shape
        p, g = self.config.patch_size, h // self.config.patch_size
        x = images.reshape(b, v, c, g, p, g, p)
        return x.permute(0, 1, 3, 5, 4, 6, 2).reshape(b, v * g * g, p * p * c)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`patchify`: (B, V·g², p·p·C) → (B, V, C, H, W)."""
        cfg = self.config
        b = patches.shape[0]
        p, g, c, v = cfg.patch_size, cfg.grid, cfg.in_chans, cfg.n_views
        x = patches.reshape(b, v, g, g, p, p, c).permute(0, 1, 6, 2, 4, 3, 5)
        return x.reshape(b, v, c, g * p, g * p)

    # -- masking ---------------------------------------------------------------------------------
    def random_masking(self, n_batch: int, device, noise: torch.Tensor | None = None):
        """Per molecule, which tokens stay visible: (ids_keep (B, N − M), mask (B, N) with 1 =
        masked, ids_restore (B, N)); M = round(mask_ratio·N). ``noise`` (B, N) (default
        uniform random): the tokens with the smallest noise are kept."""
        n = self.config.n_tokens
        keep = n - n_masked(n, self.config.mask_ratio)
        if noise is None:
            noise = torch.rand(n_batch, n, device=device)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        mask = torch.ones(n_batch, n, device=device)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, ids_restore)
        return ids_shuffle[:, :keep], mask, ids_restore

    # -- the two halves --------------------------------------------------------------------------
    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_encoder(self, images: torch.Tensor, noise: torch.Tensor | None = None,
                        mask: bool = True):  # fmt: skip
        """Encode the visible tokens: (latent (B, 1 + N − M, D) with CLS first, mask (B, N),
        ids_restore (B, N)). ``mask=False``: every token (M = 0)."""
        x = self.tokens(images)
        b, n, d = x.shape
        if not mask:
            zeros = torch.zeros(b, n, device=x.device)
            ids = torch.arange(n, device=x.device).expand(b, n)
            return self._encode(x), zeros, ids
        ids_keep, m, ids_restore = self.random_masking(b, x.device, noise)
        x = torch.gather(x, 1, ids_keep[..., None].expand(-1, -1, d))
        return self._encode(x), m, ids_restore

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Predicted patches (B, N, p·p·C) from the encoded visible tokens."""
        x = self.decoder_embed(latent)
        b, n = ids_restore.shape
        fill = self.mask_token.expand(b, n + 1 - x.shape[1], -1)
        x_ = torch.cat([x[:, 1:], fill], dim=1)
        x_ = torch.gather(x_, 1, ids_restore[..., None].expand(-1, -1, x.shape[2]))
        x = torch.cat([x[:, :1], x_], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def target(self, images: torch.Tensor) -> torch.Tensor:
        """The patches the loss compares with: (B, N, p·p·C), standardised per patch when
        ``norm_pix_loss``."""
        t = self.patchify(images)
        if self.config.norm_pix_loss:
            mean = t.mean(dim=-1, keepdim=True)
            var = t.var(dim=-1, keepdim=True)
            t = (t - mean) / (var + 1e-6) ** 0.5
        return t

    def losses(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor):
        """(L_MP (B,), L_RP (B,)): per-patch MSE averaged over the masked and over the visible
        patches of each molecule (a term without patches is 0)."""
        per_patch = ((pred - target) ** 2).mean(dim=-1)  # (B, N)
        visible = 1.0 - mask
        l_mp = (per_patch * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        l_rp = (per_patch * visible).sum(1) / visible.sum(1).clamp_min(1.0)
        return l_mp, l_rp

    def forward(self, images: torch.Tensor, noise: torch.Tensor | None = None) -> MAEOutput:
        """Mask, encode, decode and score ``images`` (B, V, C, H, W) (see :func:`prepare_images`).
        ``noise`` (B, N) fixes the mask (default random)."""
        latent, mask, ids_restore = self.forward_encoder(images, noise)
        pred = self.forward_decoder(latent, ids_restore)
        target = self.target(images)
        l_mp, l_rp = self.losses(pred, target, mask)
        cfg = self.config
        loss = cfg.mask_loss_weight * l_mp.mean() + cfg.recovery_loss_weight * l_rp.mean()
        return MAEOutput(loss, l_mp, l_rp, pred, mask, target)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """ED features (B, D): the encoder on every token (no masking), patch tokens averaged
        (CLS excluded). Dimensionless."""
        latent, _, _ = self.forward_encoder(images, mask=False)
        return latent[:, 1:].mean(dim=1)
