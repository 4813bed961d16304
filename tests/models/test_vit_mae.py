"""ImageED's multi-view RGB-D MAE: tokenisation (shared patch embedding, positions repeated per
view), joint masking over all views with an exact count, the L_MP / L_RP split against a hand
computation, ED feature = token mean, image preparation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rhoml.models.image.vit_mae import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ViTMAE,
    ViTMAEConfig,
    n_masked,
    prepare_images,
)
from rhoml.models.registry import build_model


def tiny(**kw) -> ViTMAE:
    torch.manual_seed(0)
    base = dict(image_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)  # fmt: skip
    return ViTMAE(ViTMAEConfig(**{**base, **kw}))


def images(model: ViTMAE, batch: int = 2, seed: int = 1) -> torch.Tensor:
    c = model.config
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, c.n_views, c.in_chans, c.image_size, c.image_size, generator=g)


def test_vit_b16_tokenises_six_views_into_1176_tokens():
    """The paper's preset: one Conv2d(4 → 768, 16, 16) shared by all views; 6·14² tokens."""
    model = build_model("vit-b16-224")
    cfg = model.config
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads) == (768, 12, 12)
    assert (cfg.decoder_embed_dim, cfg.decoder_depth, cfg.decoder_num_heads) == (512, 8, 16)
    assert cfg.mask_ratio == 0.25 and cfg.in_chans == 4 and cfg.n_views == 6
    assert cfg.n_tokens == 6 * (224 // 16) ** 2 == 1176
    assert tuple(model.patch_embed.weight.shape) == (768, 4, 16, 16)
    assert tuple(model.pos_embed.shape) == (1, 1 + 1176, 768)
    x = torch.zeros(1, 6, 4, 224, 224)
    with torch.no_grad():
        tokens = model.tokens(x)
        latent, mask, _ = model.forward_encoder(x[:, :, :, :, :], noise=torch.rand(1, 1176))
    assert tuple(tokens.shape) == (1, 1176, 768)
    assert tuple(latent.shape) == (1, 1 + 1176 - 294, 768) and int(mask.sum()) == 294
    assert model.patchify(x).shape == (1, 1176, 16 * 16 * 4)


def test_patch_embedding_is_shared_and_positions_repeat_per_view():
    model = tiny()
    c = model.config
    per_view = c.grid**2
    pos = model.pos_embed[0, 1:]
    for v in range(1, c.n_views):
        assert torch.equal(pos[v * per_view : (v + 1) * per_view], pos[:per_view])
    assert torch.equal(model.pos_embed[0, 0], torch.zeros(c.embed_dim))  # CLS
    assert not any("view" in name for name, _ in model.named_parameters())  # no view embedding
    x = images(model, 1)
    with torch.no_grad():
        tokens = model.tokens(x)
        for v in range(c.n_views):  # each view's tokens = the shared conv on that view alone
            own = model.patch_embed(x[:, v]).flatten(2).transpose(1, 2) + pos[:per_view]
            torch.testing.assert_close(tokens[:, v * per_view : (v + 1) * per_view], own)


@pytest.mark.parametrize(("image_size", "patch", "views"), [(32, 8, 6), (48, 16, 6), (24, 8, 1),
                                                             (40, 8, 6), (32, 8, 3)])  # fmt: skip
def test_mask_count_is_round_quarter_of_all_tokens(image_size, patch, views):
    model = tiny(image_size=image_size, patch_size=patch, n_views=views)
    n = model.config.n_tokens
    expected = int(np.floor(0.25 * n + 0.5))
    assert n_masked(n, 0.25) == expected
    with torch.no_grad():
        out = model(images(model, 3))
    assert out.mask.shape == (3, n)
    assert out.mask.sum(1).tolist() == [expected] * 3
    assert set(out.mask.unique().tolist()) <= {0.0, 1.0}


def test_masking_is_joint_over_all_views():
    """Noise decides: masking the highest-noise tokens can put every masked token in one view,
    which a per-view mask could not; random masks give different counts per view."""
    model = tiny()
    c = model.config
    n, per_view = c.n_tokens, c.grid**2
    m = n_masked(n, 0.25)
    k = -(-m // per_view)  # views needed to hold every masked token
    assert k < c.n_views
    noise = torch.zeros(1, n)
    noise[0, : k * per_view] = 1.0 + torch.rand(k * per_view)  # the first k views: largest noise
    _, mask, _ = model.random_masking(1, "cpu", noise)
    assert mask[0, : k * per_view].sum() == m and mask[0, k * per_view :].sum() == 0
    torch.manual_seed(3)
    _, mask, _ = model.random_masking(64, "cpu")
    counts = mask.reshape(64, c.n_views, per_view).sum(-1)
    assert counts.sum(1).eq(m).all() and counts.std() > 0  # joint: views differ


def _hand_losses(pred, target, mask):
    """L_MP and L_RP per molecule by explicit loops over patches."""
    b, n, _ = pred.shape
    l_mp, l_rp = [], []
    for i in range(b):
        masked, visible = [], []
        for j in range(n):
            err = float(((pred[i, j] - target[i, j]) ** 2).mean())
            (masked if mask[i, j] == 1 else visible).append(err)
        l_mp.append(sum(masked) / len(masked))
        l_rp.append(sum(visible) / len(visible))
    return np.array(l_mp), np.array(l_rp)


@pytest.mark.parametrize("norm_pix", [False, True])
def test_loss_split_matches_a_hand_computation(norm_pix):
    model = tiny(norm_pix_loss=norm_pix, mask_loss_weight=2.0, recovery_loss_weight=0.5)
    x = images(model, 2)
    with torch.no_grad():
        out = model(x)
    p, c = model.config.patch_size, model.config.in_chans
    g = model.config.grid
    # the target patches, cut by hand: (view, row, column) order, values (row, column, channel)
    for j in (0, 5, g * g + 3, model.config.n_tokens - 1):
        v, r, col = j // (g * g), (j % (g * g)) // g, j % g
        patch = x[1, v, :, r * p : (r + 1) * p, col * p : (col + 1) * p].permute(1, 2, 0)
        patch = patch.reshape(-1)
        if norm_pix:
            patch = (patch - patch.mean()) / (patch.var() + 1e-6) ** 0.5
        torch.testing.assert_close(out.target[1, j], patch)
    assert out.target.shape[-1] == p * p * c
    l_mp, l_rp = _hand_losses(out.pred.numpy(), out.target.numpy(), out.mask.numpy())
    np.testing.assert_allclose(out.loss_mask.numpy(), l_mp, rtol=1e-5)
    np.testing.assert_allclose(out.loss_recovery.numpy(), l_rp, rtol=1e-5)
    assert float(out.loss) == pytest.approx(2.0 * l_mp.mean() + 0.5 * l_rp.mean(), rel=1e-5)
    # equal counts per molecule: the batch mean of per-molecule means = the mean over patches
    per_patch = ((out.pred - out.target) ** 2).mean(-1)
    all_masked = float(per_patch[out.mask == 1].mean())
    assert float(out.loss_mask.mean()) == pytest.approx(all_masked, rel=1e-5)


def test_changing_a_masked_prediction_moves_only_l_mp():
    model = tiny()
    x = images(model, 1)
    with torch.no_grad():
        out = model(x)
    j_masked = int(out.mask[0].nonzero()[0])
    j_visible = int((1 - out.mask[0]).nonzero()[0])
    for j, moved in ((j_masked, 0), (j_visible, 1)):
        pred = out.pred.clone()
        pred[0, j] += 1.0
        l = model.losses(pred, out.target, out.mask)
        base = (out.loss_mask, out.loss_recovery)
        assert not torch.equal(l[moved], base[moved])
        assert torch.equal(l[1 - moved], base[1 - moved])


def test_ed_feature_is_the_token_mean_of_the_unmasked_encoder():
    model = tiny().eval()
    x = images(model, 3)
    with torch.no_grad():
        feats = model.features(x)
        latent, mask, _ = model.forward_encoder(x, mask=False)
        # the encoder by hand: CLS + tokens → blocks → norm
        h = torch.cat([model.cls_token.expand(3, -1, -1), model.tokens(x)], dim=1)
        for blk in model.blocks:
            h = blk(h)
        h = model.norm(h)
    assert feats.shape == (3, model.config.embed_dim) and mask.sum() == 0
    assert latent.shape[1] == 1 + model.config.n_tokens
    torch.testing.assert_close(feats, h[:, 1:].mean(1))
    torch.testing.assert_close(feats, latent[:, 1:].mean(1))
    assert torch.equal(model.features(x), feats)  # deterministic: no masking involved


def test_patchify_roundtrip_and_decoder_shapes():
    model = tiny()
    x = images(model, 2)
    assert torch.equal(model.unpatchify(model.patchify(x)), x)
    with torch.no_grad():
        out = model(x)
    assert out.pred.shape == (2, model.config.n_tokens, model.config.patch_dim)
    with pytest.raises(ValueError, match="expected images"):
        model(x[:, :5])


def test_training_steps_reduce_the_loss():
    """Smooth images (a few low-frequency patterns): both the masked and the visible patch
    errors fall."""
    model = tiny()
    c = model.config
    t = torch.linspace(0, 3.14, c.image_size)
    base = torch.sin(t)[:, None] * torch.cos(2 * t)[None, :]
    x = torch.stack([base * (v + 1) / c.n_views for v in range(c.n_views)])  # (V, H, W)
    x = x[None, :, None].expand(2, -1, c.in_chans, -1, -1).contiguous()
    noise = torch.rand(2, c.n_tokens, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95))
    with torch.no_grad():
        first = model(x, noise)
    for _ in range(60):
        opt.zero_grad()
        model(x, noise).loss.backward()
        opt.step()
    with torch.no_grad():
        last = model(x, noise)
    assert float(last.loss_mask.mean()) < 0.5 * float(first.loss_mask.mean())
    assert float(last.loss_recovery.mean()) < 0.5 * float(first.loss_recovery.mean())


def test_prepare_images_normalises_rgb_and_scales_depth():
    a = np.zeros((2, 6, 16, 16, 4), np.uint8)
    a[..., :3] = 255  # white
    a[..., 3] = 255  # background depth
    a[0, 0, 0, 0] = [0, 0, 0, 0]
    x = prepare_images(a)
    assert x.shape == (2, 6, 4, 16, 16) and x.dtype == torch.float32
    white = (1.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(x[1, 2, :3, 5, 5].numpy(), white, rtol=1e-6)
    black = -np.array(IMAGENET_MEAN) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(x[0, 0, :3, 0, 0].numpy(), black, rtol=1e-6)
    assert float(x[1, 0, 3, 3, 3]) == 1.0 and float(x[0, 0, 3, 0, 0]) == 0.0
    big = prepare_images(a, 32)  # resized: a uniform image stays uniform
    assert big.shape == (2, 6, 4, 32, 32)
    np.testing.assert_allclose(big[1, 2, :3, 20, 20].numpy(), white, rtol=1e-5)
    with pytest.raises(ValueError, match="expected images"):
        prepare_images(np.zeros((6, 16, 16, 2), np.uint8))


def test_config_is_checked():
    from rhoml.config import ConfigError

    with pytest.raises(ConfigError, match="multiple of patch_size"):
        build_model("vit-mae", {"image_size": 100})
    with pytest.raises(ConfigError, match="mask_ratio"):
        build_model("vit-t-64", {"mask_ratio": 1.0})
    with pytest.raises(ConfigError, match="unknown key"):
        build_model("vit-t-64", {"heads": 4})
