"""Geometry students: E(3) invariance of energies and representations, equivariance of forces,
permutations, forces against finite differences (float64; all through the shared checkers of
:mod:`rhoml.testing`), molecules of a batch independent of each other, continuity at the cutoff, the
radius graph, output statistics, and the frozen ED predictor of the distillation head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rhoml.models.registry import build_model
from rhoml.models.students.base import MAX_Z, output_stats
from rhoml.models.students.graph import radius_graph

pytest.importorskip("torch_geometric")

#: small versions of every student (fast in float64)
TINY = {
    "schnet": {"hidden_channels": 16, "num_filters": 16, "num_interactions": 2,
               "num_gaussians": 10, "cutoff": 4.0},
    "painn": {"hidden_channels": 16, "num_interactions": 2, "num_rbf": 8, "cutoff": 4.0},
    "egnn": {"hidden_channels": 16, "num_layers": 2, "cutoff": 4.0},
    "visnet": {"lmax": 2, "hidden_channels": 16, "num_layers": 2, "num_heads": 4,
               "num_rbf": 8, "cutoff": 4.0},
}  # fmt: skip
NAMES = sorted(TINY)


def _student(name: str, n_outputs: int = 1, readout: str = "sum", seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(name, TINY[name], n_outputs=n_outputs, readout=readout).double()
    # non-trivial shifts and scale, so that they are part of what is tested
    shift = np.zeros((MAX_Z, n_outputs))
    shift[[1, 6, 8]] = [[-0.5], [-37.8], [-75.0]] if n_outputs == 1 else 1.0
    model.set_output_stats(shift, np.full(n_outputs, 2.5))
    return model.eval()


def _batch(seed: int = 1):
    """Two molecules (9 and 5 atoms), atoms ≥ 0.9 Å apart, some pairs beyond the 4 Å cutoff."""
    rng = np.random.default_rng(seed)
    mols = []
    for n in (9, 5):
        pts = []
        while len(pts) < n:
            p = rng.uniform(-2.2, 2.2, 3)
            if all(np.linalg.norm(p - q) > 0.9 for q in pts):
                pts.append(p)
        mols.append(np.array(pts))
    z = torch.tensor([6, 6, 8, 1, 1, 1, 1, 1, 1, 8, 1, 1, 6, 1])
    pos = torch.tensor(np.concatenate(mols), dtype=torch.float64)
    batch = torch.tensor([0] * 9 + [1] * 5)
    return z, pos, batch


def _molecules(z, pos, batch):
    """The molecules of a batch as (numbers, positions) numpy pairs."""
    return [(z[batch == k].numpy(), pos[batch == k].numpy()) for k in range(int(batch.max()) + 1)]


def _one(fn):
    """A batch function ``fn(z, pos, batch) -> (E (B,), F (N, 3), h (B, F))`` as the shared
    checkers' ``fn(numbers, positions) -> (E, F, h)`` of one molecule (float64)."""

    def call(numbers, positions):
        z = torch.as_tensor(numbers)
        e, f, h = fn(z, torch.as_tensor(positions), torch.zeros(len(z), dtype=torch.long))
        return e[0], f, h[0]

    return call


def check_student(fn, z, pos, batch, *, atol: float = 1e-9, n_components: int = 8) -> None:
    """The shared checkers of :mod:`rhoml.testing` on every molecule of a batch: energy and
    representation invariant, forces equivariant under rotation, reflection, translation and
    permutation; forces = −∂E/∂r by finite differences for ``n_components`` random components;
    and each molecule evaluated alone equals its row of the batch (no leakage between
    molecules)."""
    from rhoml.testing import assert_equivariant, assert_forces_match_energy

    one = _one(fn)
    e, f, h = fn(z, pos, batch)
    rng = np.random.default_rng(0)
    for k, (numbers, positions) in enumerate(_molecules(z, pos, batch)):
        kinds = ("scalar", "atom_vector", "scalar")
        assert_equivariant(one, numbers, positions, kinds, atol=atol, rtol=atol, seed=k)
        alone = one(numbers, positions)
        torch.testing.assert_close(alone[0], e[k], atol=atol, rtol=atol)
        torch.testing.assert_close(alone[1], f[batch == k], atol=atol, rtol=atol)
        torch.testing.assert_close(alone[2], h[k], atol=atol, rtol=atol)
        flat = rng.choice(positions.size, n_components, replace=False)
        assert_forces_match_energy(
            lambda zz, pp: one(zz, pp)[0], alone[1], numbers, positions,
            components=[divmod(int(i), 3) for i in flat], atol=1e-6,
        )  # fmt: skip


def _fn(model):
    return lambda z, p, b: model.energy_and_forces(z, p, b)


@pytest.mark.parametrize("name", NAMES)
def test_symmetries_and_forces_through_the_shared_checkers(name):
    check_student(_fn(_student(name)), *_batch())


def test_the_checkers_catch_broken_models():
    """A term that depends on the orientation, a wrong sign of the forces, or a molecule that
    sees another one of its batch must fail."""
    model = _student("painn")
    z, pos, batch = _batch()

    def oriented(z_, p, b):
        e, f, h = model.energy_and_forces(z_, p, b)
        extra = torch.zeros_like(e).index_add_(0, b, 1e-3 * p[:, 0])
        return e + extra, f, h

    with pytest.raises(AssertionError, match="rotation"):
        check_student(oriented, z, pos, batch)

    def wrong_sign(z_, p, b):
        e, f, h = model.energy_and_forces(z_, p, b)
        return e, -f, h

    with pytest.raises(AssertionError):
        check_student(wrong_sign, z, pos, batch)

    def leaky(z_, p, b):
        e, f, h = model.energy_and_forces(z_, p, b)
        return e + 1e-3 * len(z_), f, h

    with pytest.raises(AssertionError):
        check_student(leaky, z, pos, batch)


@pytest.mark.parametrize("name", NAMES)
def test_energy_is_continuous_at_the_cutoff(name):
    """Two atoms crossing the cutoff change the energy by (almost) nothing."""
    model = _student(name)
    z = torch.tensor([6, 8])
    batch = torch.zeros(2, dtype=torch.long)
    rc = TINY[name]["cutoff"]

    def energy(d):
        pos = torch.tensor([[0.0, 0.0, 0.0], [d, 0.0, 0.0]], dtype=torch.float64)
        with torch.no_grad():
            return float(model(z, pos, batch)[0][0, 0])

    jump = abs(energy(rc - 1e-7) - energy(rc + 1e-7))
    assert jump < 1e-8, jump


@pytest.mark.parametrize("name", NAMES)
def test_float32_training_dtype_and_float64_evaluation_agree(name):
    model = _student(name)
    z, pos, batch = _batch()
    e64, f64, _ = model.energy_and_forces(z, pos, batch)
    model32 = model.float()
    assert model32.shift.dtype == torch.float64  # the per-element shifts keep their precision
    e32, f32, _ = model32.energy_and_forces(z, pos.float(), batch)
    assert e32.dtype == torch.float64 and f32.dtype == torch.float32
    torch.testing.assert_close(e32, e64, atol=1e-3, rtol=0)
    torch.testing.assert_close(f32.double(), f64, atol=1e-3, rtol=1e-4)


def test_outputs_and_representation_shapes():
    z, pos, batch = _batch()
    model = _student("schnet", n_outputs=3, readout="mean")
    y, h = model(z, pos, batch)
    assert y.shape == (2, 3) and h.shape == (2, model.representation_dim)
    with pytest.raises(ValueError, match="single"):
        model.energy_and_forces(z, pos, batch)


def test_radius_graph_matches_brute_force():
    z, pos, batch = _batch(3)
    cutoff = 2.5
    edges = radius_graph(pos, batch, cutoff)
    found = {tuple(e) for e in edges.T.tolist()}
    d = torch.cdist(pos, pos)
    same = batch[:, None] == batch[None, :]
    want = torch.nonzero(same & (d < cutoff) & ~torch.eye(len(z), dtype=torch.bool))
    assert found == {tuple(e) for e in want.tolist()}
    assert len(found) == edges.shape[1]  # no duplicates
    loops = radius_graph(pos, batch, cutoff, loop=True)
    assert loops.shape[1] == edges.shape[1] + len(z)


def test_output_stats_recover_per_element_energies():
    rng = np.random.default_rng(0)
    ref = {1: -0.5, 6: -37.8, 8: -75.0}
    numbers = [rng.choice([1, 6, 8], size=rng.integers(3, 12)) for _ in range(40)]
    y = np.array([[sum(ref[int(a)] for a in zs)] for zs in numbers])
    shift, scale = output_stats(numbers, y + rng.normal(0, 1e-9, y.shape), mean_readout=False)
    for el, v in ref.items():
        assert abs(shift[el, 0] - v) < 1e-6
    forces = [rng.normal(0, 3.0, (len(zs), 3)) for zs in numbers]
    _, fscale = output_stats(numbers, y, mean_readout=False, forces=forces)
    rms = np.sqrt(np.mean(np.concatenate([f.ravel() for f in forces]) ** 2))
    assert abs(fscale[0] - rms) < 1e-12
    # one composition (an MD trajectory): the shifts reproduce the mean energy
    same = [np.array([6, 6, 8, 1, 1, 1, 1, 1, 1])] * 5
    e = np.array([[-97000.0], [-97001.0], [-97002.5], [-96999.0], [-97000.5]])
    shift, _ = output_stats(same, e, mean_readout=False)
    assert abs(shift[same[0], 0].sum() - e.mean()) < 1e-6


def test_distillation_head_keeps_the_ed_predictor_frozen():
    """After an optimiser step on L_task + λ·L_ED the ED predictor is bit-identical, still in
    eval mode, and the student and mapper have received gradients."""
    from rhoml.models.students.distill import EDDistillHead, EDPredictor, ed_loss

    torch.manual_seed(0)
    student = build_model("schnet", TINY["schnet"], n_outputs=1).float()
    head = EDDistillHead(student.representation_dim, EDPredictor())
    before = {k: v.clone() for k, v in head.ed_predictor.state_dict().items()}
    params = list(student.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1)
    z, pos, batch = _batch()
    teacher = head.target(torch.randn(2, 512))
    student.train()
    head.train()
    assert not head.ed_predictor.training and head.mapper.training
    e, f, h = student.energy_and_forces(z, pos.float(), batch, shifted=False)
    loss = e.abs().mean() + f.abs().mean() + 0.5 * ed_loss(head(h), teacher)
    opt.zero_grad()
    loss.backward()
    assert all(p.grad is None for p in head.ed_predictor.parameters())
    assert head.mapper.weight.grad is not None and head.mapper.weight.grad.abs().sum() > 0
    emb = student.net.embedding.weight
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    w_mapper = head.mapper.weight.detach().clone()
    opt.step()
    for k, v in head.ed_predictor.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not torch.equal(head.mapper.weight, w_mapper)
    # the gradient of L_ED reaches the student through the frozen predictor
    student.zero_grad()
    ed_loss(head(student(z, pos.float(), batch)[1]), teacher).backward()
    assert emb.grad.abs().sum() > 0


def test_ed_predictor_from_edg_and_teacher_run_weights():
    """ED predictor weights load from EDG's checkpoint names, from a state dict of another
    width, and from a whole edg-teacher run's model.pt (``predictor.net.*``)."""
    from rhoml.models.students.distill import EDPredictor

    src = EDPredictor(128, 128, hidden=256)
    edg = {k.replace("network.0.", "network.linear1.").replace("network.2.", "network.linear2."): v
           for k, v in src.state_dict().items()}  # fmt: skip
    run = {f"predictor.net.{k.removeprefix('network.')}": v for k, v in src.state_dict().items()}
    run["backbone.conv.weight"] = torch.zeros(3)
    x = torch.randn(4, 128)
    for state in (src.state_dict(), edg, run):
        got = EDPredictor.from_state_dict(state)
        assert (got.in_features, got.out_features) == (128, 128)
        torch.testing.assert_close(got(x), src(x))
