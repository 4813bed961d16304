"""Renderer: exact depth on an analytic sphere, ESP ramp ends, view rotations on a marked
molecule, fast vs general ray casting, opposite-view sharing, empty isosurface, determinism, CLI."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.errors import RhomlError
from rhoml.represent.render import (
    RenderConfig,
    bounding_radius,
    fields_for,
    preset,
    render,
)
from rhoml.represent.render_camera import EDG_DENSITY_VIEWS, view_rotation
from rhoml.represent.render_fields import DensityFields, NoIsosurfaceWarning, render_grid
from rhoml.represent.render_style import CPK, ramp

SIZE = 96


def _sphere_fields(radius=1.2, decay=3.0, isovalue=0.05, esp=0.0, spacing=0.1):
    """ρ = iso · exp(−decay (r − radius)) around a He atom at the origin: the isosurface is the
    sphere of ``radius`` Å; ESP constant."""
    mol = Molecule.from_symbols(["He"], [[0.0, 0.0, 0.0]], id="sphere")
    grid = render_grid(mol, spacing, 2.5)
    r = np.linalg.norm(grid.points(), axis=1).reshape(grid.shape)
    rho = (isovalue * np.exp(-decay * (r - radius))).astype(np.float32)
    return DensityFields(
        mol, grid.origin, spacing, rho, np.full(grid.shape, esp, np.float32), 1, isovalue
    )


def _config(**kw):
    base = {"size": SIZE, "ball_radius": 0.1, "stick_radius": 0.05}
    return RenderConfig.from_dict({**base, **kw})


def test_depth_is_exact_for_a_spherical_density():
    fields = _sphere_fields()
    cfg = _config(transparency=0.0)
    img = render([fields], cfg)[0]
    assert img.shape == (6, SIZE, SIZE, 4) and img.dtype == np.uint8
    _, big_r = bounding_radius(fields, cfg)
    px = 2 * big_r / SIZE
    x = -big_r + (np.arange(SIZE) + 0.5) * px
    xx, yy = np.meshgrid(x, -x)  # columns x', rows y'
    d2 = xx**2 + yy**2
    inner = d2 < (1.2 - 2 * px) ** 2
    outer = d2 > (1.2 + 2 * px) ** 2
    expected = (big_r - np.sqrt(np.clip(1.2**2 - d2, 0, None))) / (2 * big_r) * 255
    for view in img:
        depth = view[..., 3].astype(float)
        assert np.abs(depth[inner] - expected[inner]).max() <= 1.0
        assert np.all(view[..., 3][outer] == 255)  # background
        assert np.all(view[..., :3][outer] == 255)  # white background


def test_esp_ramp_ends_and_clamping():
    import torch

    stops, cols = (-0.08, 0.0, 0.08), [(1, 0, 0), (1, 1, 1), (0, 0, 1)]
    v = torch.tensor([-0.5, -0.08, -0.04, 0.0, 0.04, 0.08, 0.5])
    out = ramp(v, stops, cols).numpy()
    np.testing.assert_allclose(out[0], [1, 0, 0])
    np.testing.assert_allclose(out[1], [1, 0, 0])
    np.testing.assert_allclose(out[2], [1, 0.5, 0.5])
    np.testing.assert_allclose(out[3], [1, 1, 1])
    np.testing.assert_allclose(out[5], [0, 0, 1])
    np.testing.assert_allclose(out[6], [0, 0, 1])


@pytest.mark.parametrize(("esp", "channel"), [(0.5, 2), (-0.5, 0)])
def test_surface_takes_the_ramp_end_colour(esp, channel):
    img = render([_sphere_fields(esp=esp)], _config(transparency=0.0))[0]
    rgb = img[0, SIZE // 2 - 10 : SIZE // 2 + 10, SIZE // 2 - 10 : SIZE // 2 + 10, :3]
    rgb = rgb.reshape(-1, 3).astype(int)
    others = [c for c in range(3) if c != channel]
    # blue (ESP > +0.08) or red (ESP < −0.08): the ramp end, darkened by shading, plus white
    # specular highlights that raise all channels equally
    assert np.all(rgb[:, channel] - rgb[:, others].max(axis=1) >= 60)


def _marked_molecule():
    # O, N, S on three axes: every 90° view puts them at distinct, known places
    pos = [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]
    return Molecule.from_symbols(["O", "N", "S"], pos, id="marked", multiplicity=2)


def test_each_view_is_its_rotation():
    mol = _marked_molecule()
    views = (*EDG_DENSITY_VIEWS, ("y", 180.0), ("z", 180.0))
    cfg = RenderConfig.from_dict(
        {"kind": "structure", "views": views, "size": SIZE, "ball_radius": 0.5}
    )
    img = render([mol], cfg)[0]
    centre, big_r = bounding_radius(mol, cfg)
    px = 2 * big_r / SIZE
    from scipy.spatial.transform import Rotation

    for view, im in zip(views, img, strict=True):
        # an independent right-handed rotation (scipy) for the expected placement
        rot = Rotation.from_euler(view[0], view[1], degrees=True).as_matrix()
        for z, p in zip(mol.numbers, mol.positions, strict=True):
            xp, yp, zp = rot @ (p - centre)
            row = int((big_r - yp) / px)
            col = int((xp + big_r) / px)
            got = im[row, col, :3].astype(float)
            want = np.array(CPK[int(z)])
            # hue check: the pixel's colour direction matches the atom's CPK colour
            cos = got @ want / (np.linalg.norm(got) * np.linalg.norm(want))
            assert cos > 0.95, (view, int(z), got, want)
            depth = im[row, col, 3] / 255 * 2 * big_r
            assert abs(depth - (big_r - zp - 0.5)) < 0.1, (view, int(z))


def test_turning_the_camera_equals_turning_the_molecule():
    """Equivariance: the view (axis, θ) of a molecule is the front view of the molecule rotated
    by that view's rotation about its box centre; every 90° turn is an exact cube rotation
    (rhoml.testing) mapping the atoms' box onto itself."""
    from rhoml.testing import cube_rotations

    mol = _marked_molecule()
    cfg = RenderConfig.from_dict({"kind": "structure", "size": SIZE, "ball_radius": 0.5})
    centre, _ = bounding_radius(mol, cfg)
    views = (("x", 0.0), *[(a, float(d)) for a in "xyz" for d in (90, 180, 270)])
    rots = [np.rint(view_rotation(v)).astype(int) for v in views]
    cube = {r.tobytes() for r in cube_rotations()}
    assert all(r.tobytes() in cube for r in rots) and len({r.tobytes() for r in rots}) == 10
    turned = render([mol], RenderConfig.from_dict({**cfg.to_dict(), "views": views}))[0]
    front = RenderConfig.from_dict({**cfg.to_dict(), "views": (("x", 0.0),)})
    fronts = render([mol.transformed(r, centre - r @ centre) for r in rots], front)[:, 0]
    diff = np.abs(turned.astype(int) - fronts.astype(int))
    assert diff.max() <= 1, np.argwhere(diff > 1)[:5]
    # not vacuous: the ten images differ from each other
    assert len({im.tobytes() for im in fronts}) == 10


def test_views_follow_pymol_turn_convention():
    # PyMOL 'turn x, 90' from the default view shows +z up (checked against PyMOL itself in
    # benchmarks/render_vs_pymol.py); here: the rotation matrices themselves
    np.testing.assert_allclose(view_rotation(("x", 90)) @ [0, 0, 1], [0, -1, 0], atol=0)
    np.testing.assert_allclose(view_rotation(("x", 90)) @ [0, 1, 0], [0, 0, 1], atol=0)
    np.testing.assert_allclose(view_rotation(("y", 90)) @ [1, 0, 0], [0, 0, -1], atol=0)
    np.testing.assert_allclose(view_rotation(("z", 180)) @ [1, 0, 0], [-1, 0, 0], atol=0)


@pytest.fixture(scope="module")
def water_fields():
    from rhoml.density import compute

    mol = Molecule.from_symbols(
        ["O", "H", "H"], [[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]],
        id="water",
    )  # fmt: skip
    density = compute(mol, "xtb")
    return fields_for(density, preset("edg-density", size=SIZE))


def test_fast_and_general_ray_casting_agree(water_fields):
    fast = render([water_fields], _config(views=(("x", 90.0),)))[0, 0].astype(int)
    # a view 1e-6 degrees off is not a signed permutation: the trilinear general path
    general = render([water_fields], _config(views=(("x", 90.000001),)))[0, 0].astype(int)
    diff = np.abs(fast - general)
    assert np.mean(diff[..., 3] <= 2) > 0.995
    assert diff[..., :3].mean() < 1.0


def test_first_and_last_crossings_match_the_full_crossing_list():
    """The compiled first/last-crossing search returns exactly the rank-0 and back-0 crossings
    of the general list (rays with none, one and several crossings)."""
    pytest.importorskip("numba")
    import torch

    from rhoml.represent.render_raster import crossing_list, edge_crossings

    gen = torch.Generator().manual_seed(0)
    f = torch.randn(2, 12, 5, 4, generator=gen, dtype=torch.float64)
    f[0, :, 0, 0] = -1.0  # a ray without a crossing
    t0, dt = torch.tensor([0.5, 1.0], dtype=torch.float64), torch.tensor([0.1, 0.2])
    full = crossing_list(f, t0, dt.double())
    ends = edge_crossings(f, t0, dt.double())

    def rows(res, keep):
        b, h, w, t, _, _ = res
        return sorted(zip(b[keep].tolist(), h[keep].tolist(), w[keep].tolist(),
                          t[keep].tolist(), strict=True))  # fmt: skip

    rank, back = full[4], full[5]
    want = rows(full, (rank == 0) | (back == 0))
    got = rows(ends, torch.ones(len(ends[0]), dtype=torch.bool))
    assert len(want) > 20 and got == want
    assert ((ends[4] < 1) == (ends[4] == 0)).all()  # rank 0 marks every first crossing


def test_renders_without_numba_equal_the_compiled_path(water_fields, monkeypatch):
    pytest.importorskip("numba")
    import rhoml.represent.render as R

    cfg = _config()
    compiled = render([water_fields], cfg)
    monkeypatch.setattr(R, "_have_numba", lambda: False)
    assert np.array_equal(render([water_fields], cfg), compiled)


def test_opposite_views_share_rays_without_changing_the_image(water_fields):
    alone = render([water_fields], _config(views=(("x", 180.0),)))[0, 0].astype(int)
    paired = render([water_fields], _config(views=(("x", 0.0), ("x", 180.0))))[0, 1]
    diff = np.abs(alone - paired.astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.05


def test_rendering_is_deterministic_and_batch_independent(water_fields):
    cfg = _config()
    a = render([water_fields], cfg)
    b = render([water_fields], cfg)
    assert np.array_equal(a, b)
    sphere = _sphere_fields()
    batch = render([water_fields, sphere], cfg, batch=2)
    assert np.abs(batch[0].astype(int) - a[0].astype(int)).max() <= 1


def test_no_isosurface_warns_and_gives_an_empty_but_valid_image():
    from rhoml.density import compute

    mol = Molecule.from_symbols(["H", "H"], [[0, 0, 0], [0, 0, 0.74]], id="h2")
    density = compute(mol, "xtb")
    cfg = preset("edg-density", size=SIZE, isovalue=50.0)
    with pytest.warns(NoIsosurfaceWarning, match="h2: density never reaches"):
        fields = fields_for(density, cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = render([fields], cfg)[0]
    assert img.shape == (6, SIZE, SIZE, 4)
    # only the ball-and-stick model is drawn: the same image as the structure alone
    alone = render([mol], RenderConfig.from_dict({**cfg.to_dict(), "kind": "structure"}))[0]
    assert np.array_equal(img, alone)
    background = img[..., 3] == 255
    assert 0.3 < background.mean() < 1.0
    assert np.all(img[..., :3][background] == 255)


def test_structure_preset_hides_hydrogens():
    mol = Molecule.from_symbols(["H", "H"], [[0, 0, 0], [0, 0, 0.74]], id="h2")
    img = render([mol], preset("edg-structure", size=SIZE))[0]
    assert img.shape == (4, SIZE, SIZE, 3)
    assert np.all(img == 255)


def test_config_is_strict():
    with pytest.raises(ValueError, match="unknown render option"):
        RenderConfig.from_dict({"isolevel": 0.05})
    with pytest.raises(ValueError, match="transparency"):
        RenderConfig(transparency=1.5)
    with pytest.raises(RhomlError, match="unknown render preset"):
        preset("pymol")
    assert preset("edg-density").isovalue == 0.05
    assert preset("edg-structure").views == (("x", 0.0), ("x", 180.0), ("y", 180.0), ("z", 180.0))


def test_render_cli_is_resumable_and_writes_pngs(tmp_path, capsys):
    from rhoml.cli import main
    from rhoml.store.sqlite_store import Store

    xyz = tmp_path / "mols.xyz"
    xyz.write_text(
        "3\n\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692\n2\n\nH 0 0 0\nF 0 0 0.92\n"
    )
    store = tmp_path / "s.rhoml"
    assert main(["density", "compute", str(xyz), "--method", "xtb", "--out", str(store),
                 "--fit", "def2-universal-jkfit", "--workers", "1", "--quiet"]) == 0  # fmt: skip
    args = ["render", str(store), "--preset", "edg-density", "--workers", "1", "--quiet"]
    assert main(args) == 2  # two density records: --method is needed
    args += ["--method", "xtb"]
    assert main([*args, "--out", str(tmp_path / "png")]) == 0
    with Store.open(store, readonly=True) as st:
        first = st.get_array(0, "edg_density_views", unit="dimensionless")
    assert first.shape == (6, 224, 224, 4) and first.dtype == np.uint8
    assert (tmp_path / "png" / "mols#0" / "density" / "x_-90.png").exists()
    capsys.readouterr()
    assert main(args) == 0
    assert "0 rendered, 0 failed, 2 already done" in capsys.readouterr().out
    assert main(["render", str(store), "--preset", "edg-structure", "--workers", "1",
                 "--quiet"]) == 0  # fmt: skip
    assert main([*args, "--set", "size=64", "--set", "isovalue=0.02", "--name", "small"]) == 0
    with Store.open(store, readonly=True) as st:
        assert np.array_equal(st.get_array(0, "edg_density_views"), first)
        assert st.get_array(1, "edg_structure_views").shape == (4, 224, 224, 3)
        assert st.get_array(1, "edg_density_views/small").shape == (6, 64, 64, 4)
    assert main([*args, "--set", "isolevel=0.02"]) == 2  # strict: unknown setting
    capsys.readouterr()
    assert main([*args, "--set", "isovalue=0.02"]) == 2  # other settings under the same name
    assert "was made with other settings (config:" in capsys.readouterr().err
    assert main([*args, "--grids", "exact"]) == 2  # exact grids under the fast images' name
    assert "(grids: stored 'fast', now 'exact')" in capsys.readouterr().err
    assert main([*args, "--grids", "exact", "--name", "exact"]) == 0
    with Store.open(store, readonly=True) as st:
        exact = st.get_array(0, "edg_density_views/exact").astype(int)
        assert st.array_meta(0, "edg_density_views/exact")["grids"] == "exact"
    assert np.abs(exact - first).max() <= 6
    fit = "xtb+fit:def2-universal-jkfit"
    assert main([*args, "--esp-method", fit, "--name", "fitted_esp"]) == 0
    with Store.open(store, readonly=True) as st:
        diff = np.abs(
            st.get_array(0, "edg_density_views/fitted_esp").astype(int) - first.astype(int)
        )
    assert diff.mean() < 0.5  # the fitted ESP barely changes the colours


def test_grids_must_match_the_rendered_isovalue():
    with pytest.raises(ValueError, match="prepared for isovalue 0.05"):
        render([_sphere_fields()], _config(isovalue=0.02))


def test_esp_can_come_from_a_density_fit():
    from rhoml.density import compute
    from rhoml.density.fit import fit_density

    mol = Molecule.from_symbols(
        ["O", "H", "H"], [[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]],
        id="water",
    )  # fmt: skip
    density = compute(mol, "xtb")
    cfg = preset("edg-density", size=SIZE)
    exact = fields_for(density, cfg)
    fitted = fields_for(density, cfg, esp_density=fit_density(density, "def2-universal-jkfit"))
    band = exact.esp != 0
    assert np.array_equal(band, fitted.esp != 0)
    outer = band & (np.abs(exact.esp) < 1.0)  # the visible surface, away from the valence hole
    assert np.abs(exact.esp[outer] - fitted.esp[outer]).max() < 0.01
    other = compute(mol.transformed(translation=[0.1, 0.0, 0.0]), "xtb")
    with pytest.raises(ValueError, match="another molecule"):
        fields_for(density, cfg, esp_density=other)


def test_fast_grids_match_the_exact_path():
    """The default grids (ρ exact only near the surface, ESP from the analytic fit) against
    grids='exact' (ρ everywhere, exact ESP): same grid, same surface band, ρ identical near the
    surface, the ESP within a few mHartree/e, images within a few colour levels."""
    from rhoml.density import compute

    mol = Molecule.from_symbols(
        ["C", "O", "H", "H", "H", "H"],
        [[-0.0467, 0.6630, 0.0], [-0.0467, -0.7571, 0.0], [-1.0863, 0.9750, 0.0],
         [0.4397, 1.0815, 0.8893], [0.4397, 1.0815, -0.8893], [0.8510, -1.0862, 0.0]],
        id="methanol",
    )  # fmt: skip
    density = compute(mol, "xtb")
    cfg = preset("edg-density", size=SIZE)
    fast, exact = fields_for(density, cfg), fields_for(density, cfg, grids="exact")
    assert fast.seconds["esp_fit"] > 0 and exact.seconds["esp_fit"] == 0
    assert fast.rho.shape == exact.rho.shape
    np.testing.assert_array_equal(fast.origin, exact.origin)
    band = exact.esp != 0
    assert np.array_equal(band, fast.esp != 0)
    near = np.abs(np.log(exact.rho / 0.05)) < 1.0  # within ~e of the isovalue
    np.testing.assert_allclose(fast.rho[near], exact.rho[near], rtol=1e-5)
    assert np.array_equal(fast.rho >= 0.05, exact.rho >= 0.05)
    err = np.abs(fast.esp[band] - exact.esp[band])
    assert np.median(err) < 1e-3 and err.max() < 5e-3
    diff = np.abs(render([fast], cfg)[0].astype(int) - render([exact], cfg)[0])
    assert diff.max() <= 6 and diff.mean() < 0.05
    with pytest.raises(ValueError, match="grids must be"):
        fields_for(density, cfg, grids="poisson")


def test_fast_grids_fall_back_to_the_exact_esp_when_the_fit_is_too_large(monkeypatch):
    """A system whose ESP fit would not fit in memory (large proteins): the exact ESP on the
    band, with a warning, not a MemoryError."""
    from rhoml.density import compute, esp_fit

    mol = Molecule.from_symbols(["O", "H", "H"], [[0, 0, 0.1173], [0, 0.7572, -0.4692],
                                                  [0, -0.7572, -0.4692]], id="water")  # fmt: skip
    density = compute(mol, "xtb")
    cfg = preset("edg-density", size=SIZE)
    monkeypatch.setattr(esp_fit, "MAX_AUX_FUNCTIONS", 10)
    with pytest.warns(UserWarning, match="water: the ESP fit needs .* exact ESP on the band"):
        fast = fields_for(density, cfg)
    exact = fields_for(density, cfg, grids="exact")
    band = exact.esp != 0
    np.testing.assert_allclose(fast.esp[band], exact.esp[band], rtol=1e-5, atol=1e-7)
