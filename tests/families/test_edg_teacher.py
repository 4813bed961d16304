"""The ED-aware teacher family: a 2-epoch `rhoml train` from an ImageED run on a tiny store, the
ImageED encoder untouched by teacher training, teacher and ED predictor trained then frozen,
teacher features computed once (`rhoml edg features`) and read back with their checks, config
errors."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from edg_store import SIZE, edg_store, imageed_run, molecules, put_images  # noqa: E402

from rhoml.cli import main  # noqa: E402
from rhoml.errors import RhomlError  # noqa: E402

CONFIG = """
family = "edg-teacher"

[data]
store = "{store}"
imageed_run = "{imageed}"
val_fraction = 0.34
{extra_data}
[model]
{extra_model}
[train]
epochs = 2
batch_size = 2
threads = 1
device = "cpu"
bn_recalibration = 2
"""


def write_config(path: Path, store, imageed, extra_data="", extra_model="") -> Path:
    path.write_text(CONFIG.format(store=store, imageed=imageed, extra_data=extra_data,
                                  extra_model=extra_model))  # fmt: skip
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(store, ImageED run, teacher run, ImageED predictors loaded during teacher training)."""
    from rhoml.families.imageed import ImageEDFamily

    store = edg_store(tmp_path_factory)
    imageed = imageed_run(tmp_path_factory)
    tmp = tmp_path_factory.mktemp("teacher")
    loaded = []
    original = ImageEDFamily.load

    def spy(self, run, device="cpu"):  # keep the frozen ImageED the teacher training uses
        predictor = original(self, run, device)
        snapshot = {k: v.clone() for k, v in predictor.model.state_dict().items()}
        loaded.append((predictor, snapshot))
        return predictor

    ImageEDFamily.load = spy
    try:
        cfg = write_config(tmp / "teacher.toml", store, imageed)
        out = tmp / "run"
        assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    finally:
        ImageEDFamily.load = original
    return store, imageed, out, loaded


def test_run_folder_manifest_and_reload(setup):
    from rhoml import runs
    from rhoml.families.edg_teacher import weights_fingerprint

    store, imageed, out, _ = setup
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["family"] == "edg-teacher" and manifest["finished"]
    build = manifest["build"]
    assert build["initialisation"]["weights"] == "from scratch (no ImageNet weights)"
    assert build["ed_dim"] == 64 and build["feature_dim"] == 512 and build["n_views"] == 4
    assert build["image_shape"] == [4, SIZE, SIZE, 3] and build["render"]["kind"] == "structure"
    assert build["imageed"]["run"] == str(imageed.resolve())
    assert build["imageed"]["weights"] == weights_fingerprint(imageed)
    m = manifest["metrics"]
    assert m["epochs_run"] == 2 and m["n_train"] == 4 and m["n_val"] == 2
    assert m["val_l1"] > 0 and m["val_l1_predicting_the_mean"] > 0
    import tomllib

    train = tomllib.loads((out / "config.toml").read_text())["train"]
    assert train["optimizer"] == "sgd" and train["lr"] == 0.005 and train["loss"] == "l1"
    run = runs.load(out)
    assert run.family == "edg-teacher"
    assert run.outputs == {"teacher_features": "dimensionless", "ed_features": "dimensionless"}


def test_imageed_encoder_is_untouched_by_teacher_training(setup):
    """The ImageED that made the targets: every parameter bit-identical after training, none
    trainable, eval mode; its weights file unchanged."""
    _, imageed, _, loaded = setup
    assert len(loaded) == 1
    predictor, snapshot = loaded[0]
    state = predictor.model.state_dict()
    assert state.keys() == snapshot.keys()
    assert all(torch.equal(state[k], snapshot[k]) for k in state)
    assert not any(p.requires_grad for p in predictor.model.parameters())
    assert not predictor.model.training
    on_disk = torch.load(imageed / "model.pt", weights_only=True)
    assert all(torch.equal(on_disk[k], state[k]) for k in state)


def test_teacher_and_predictor_are_trained_then_frozen(setup):
    """Training moved both the ResNet and the ED predictor away from their initialisation; the
    loaded teacher is frozen: a distillation step through its ED predictor (student features →
    mapper → predictor, L1 to the teacher's ED features) updates the mapper only, and every
    teacher parameter stays bit-identical."""
    from rhoml import runs
    from rhoml.models.image.resnet import EDTeacher, EDTeacherConfig
    from rhoml.store.sqlite_store import Store
    from rhoml.train.loop import seed_everything

    store, _, out, _ = setup
    run = runs.load(out)
    teacher = run.model.model
    seed_everything(0)  # the family's seed: the same initial weights
    init = EDTeacher(EDTeacherConfig(ed_dim=64)).state_dict()
    trained = teacher.state_dict()
    assert not torch.equal(init["backbone.conv1.weight"], trained["backbone.conv1.weight"])
    assert not torch.equal(init["predictor.net.0.weight"], trained["predictor.net.0.weight"])
    assert not torch.equal(init["predictor.net.2.weight"], trained["predictor.net.2.weight"])
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())

    with Store.open(store, readonly=True) as st:
        views = np.stack([st.get_array(i, "edg_structure_views") for i in st.indices()])
    feats, eds = run.model.features(views)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    torch.manual_seed(0)
    student = torch.randn(len(feats), 16)
    mapper = torch.nn.Linear(16, 512)
    opt = torch.optim.SGD([*mapper.parameters(), *teacher.parameters()], lr=0.1)
    loss = (teacher.predictor(mapper(student)) - torch.as_tensor(eds)).abs().mean()
    loss.backward()
    opt.step()
    assert mapper.weight.grad is not None and mapper.weight.grad.abs().sum() > 0
    after = teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_features_command_and_reader(setup, tmp_path, capsys):
    from rhoml import runs
    from rhoml.families.edg_features import load_teacher_features
    from rhoml.store.sqlite_store import Store

    store, imageed, out, _ = setup
    f = tmp_path / "feats.npz"
    assert main(["edg", "features", str(out), str(store), "--out", str(f), "--quiet",
                 "--device", "cpu", "--batch", "4"]) == 0  # fmt: skip
    assert "6 molecules" in capsys.readouterr().out
    run = runs.load(out)
    with Store.open(store, readonly=True) as st:
        views = np.stack([st.get_array(i, "edg_structure_views") for i in st.indices()])
    mem_f, mem_e = run.model.features(views)
    ids = ["m3", "m0", "m5"]
    feats, prov = load_teacher_features(f, ids, feature_dim=512, teacher=out)
    np.testing.assert_allclose(feats, mem_f[[3, 0, 5]], rtol=1e-5, atol=1e-6)
    eds, _ = load_teacher_features(f, ids, which="ed_features", feature_dim=64)
    np.testing.assert_allclose(eds, mem_e[[3, 0, 5]], rtol=1e-5, atol=1e-6)
    assert prov["teacher_run"] == str(out.resolve()) and prov["n_molecules"] == 6
    assert prov["images"] == "edg_structure_views" and prov["image_settings"]["size"] == SIZE
    assert prov["imageed_run"] == str(imageed.resolve())
    # the same rows straight from the molecules (rendered with the teacher's settings)
    rows = run.predict(molecules()[:1])
    np.testing.assert_allclose(rows[0]["teacher_features"], mem_f[0], rtol=1e-5, atol=1e-6)

    with pytest.raises(RhomlError, match="no teacher features for 1 of the 2 requested") as e:
        load_teacher_features(f, ["m0", "not-there"])
    assert "\n" not in str(e.value)
    with pytest.raises(RhomlError, match="dimension 512, expected 768"):
        load_teacher_features(f, ids, feature_dim=768)
    with pytest.raises(RhomlError, match="made by teacher weights"):
        load_teacher_features(f, ids, teacher=imageed)
    with pytest.raises(RhomlError, match=r"other settings than expected \(size differs\)"):
        load_teacher_features(f, ids, image_settings={**prov["image_settings"], "size": 224})
    with pytest.raises(RhomlError, match="no teacher features file"):
        load_teacher_features(tmp_path, ids)

    # a file whose images were rendered with other settings than the teacher's is refused
    with np.load(f) as z:
        data = {k: z[k] for k in z.files}
    bad = json.loads(str(data["provenance"]))
    bad["image_settings"]["isovalue"] = 0.02
    data["provenance"] = np.asarray(json.dumps(bad))
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **data)
    with pytest.raises(RhomlError, match="other settings than the teacher's"):
        load_teacher_features(tampered, ids)


def test_features_refuse_images_rendered_otherwise_and_default_into_the_store(setup, capsys):
    from rhoml import runs
    from rhoml.families.edg_features import DEFAULT_FILE, features_array, load_teacher_features
    from rhoml.store.sqlite_store import Store

    store, _, out, _ = setup
    name = "edg_structure_views/size40"
    with Store.open(store) as st:
        if not st.has_array(st.indices()[0], name):
            put_images(st, name, "edg-structure", size=40)
    capsys.readouterr()
    assert main(["edg", "features", str(out), str(store), "--images", name, "--quiet",
                 "--device", "cpu"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert "rendered with other settings than the teacher" in err and "size differs" in err
    assert "\n" not in err
    assert main(["edg", "features", str(out), str(store), "--quiet", "--device", "cpu"]) == 0
    assert not (store / DEFAULT_FILE).exists()  # features go into the store, declared arrays
    name = features_array(out)
    with Store.open(store, readonly=True) as st:
        assert all(st.has_array(i, name) for i in st.indices())
        meta = st.array_meta(0, name)
    assert meta["teacher_run"] == str(out.resolve()) and meta["images"] == "edg_structure_views"
    assert meta["image_settings"]["size"] == SIZE and meta["teacher_weights"] in name
    feats, prov = load_teacher_features(store, ["m1", "m4"], teacher=out, feature_dim=512)
    assert feats.shape == (2, 512) and prov["teacher_run"] == str(out.resolve())
    eds, _ = load_teacher_features(store, ["m1"], teacher=out, which="ed_features")
    assert eds.shape == (1, 64)
    run = runs.load(out)
    with Store.open(store, readonly=True) as st:
        mem_f, mem_e = run.model.features(st.get_array(1, "edg_structure_views"))
    np.testing.assert_allclose(feats[0], mem_f[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eds[0], mem_e[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(RhomlError, match="no teacher features for 1 of the 2"):
        load_teacher_features(store, ["m1", "absent"])


def test_teacher_features_of_new_molecules_are_computed_once_into_a_store(setup, tmp_path):
    """teacher_features: molecules the store lacks are added, rendered with the teacher's
    settings and computed once; a rerun reads them back; the same id with another geometry is
    refused; the ED predictor of the run is the teacher's, frozen."""
    import torch

    from rhoml import runs
    from rhoml.errors import StoreError
    from rhoml.families.edg_features import teacher_features
    from rhoml.families.edg_teacher import load_ed_predictor

    _, _, out, _ = setup
    mols = molecules()[:3]
    feats, prov = teacher_features(out, mols, tmp_path / "f.rhoml")
    assert feats.shape == (3, 512) and prov["n_computed"] == 3
    assert prov["images"].startswith("rendered") and prov["teacher_run"] == str(out.resolve())
    direct = runs.load(out).predict(mols)
    np.testing.assert_allclose(feats, np.stack([r["teacher_features"] for r in direct]),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    again, prov2 = teacher_features(out, mols[::-1], tmp_path / "f.rhoml")
    assert prov2["n_computed"] == 0
    np.testing.assert_array_equal(again, feats[::-1])
    m0 = molecules()[0]
    moved = dataclasses.replace(m0, positions=m0.positions + 0.5)
    with pytest.raises(StoreError, match="different geometry"):
        teacher_features(out, [moved], tmp_path / "f.rhoml")
    edp = load_ed_predictor(out)
    assert not any(p.requires_grad for p in edp.parameters())
    with torch.no_grad():
        ed = edp(torch.as_tensor(feats)).numpy()
    np.testing.assert_allclose(ed, np.stack([r["ed_features"] for r in direct]), rtol=1e-4,
                               atol=1e-5)  # fmt: skip


def test_pretrained_torchvision_weights_are_used_and_recorded(setup, tmp_path):
    from rhoml.models.image.resnet import ResNet18

    store, imageed, _, _ = setup
    torch.manual_seed(5)
    source = ResNet18()
    weights = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), weights)
    cfg = write_config(tmp_path / "t.toml", store, imageed, extra_data="augment = false\n",
                       extra_model=f'pretrained = "{weights}"\n')  # fmt: skip
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--quiet", "--set", "train.epochs=1",
                 "--set", "train.lr=1e-9", "--set", "train.bn_recalibration=0"]) == 0  # fmt: skip
    build = json.loads((out / "manifest.json").read_text())["build"]
    init = build["initialisation"]
    assert init["weights"] == "torchvision-format ResNet-18 checkpoint"
    assert init["skipped"] == ["fc.weight", "fc.bias"] and init["path"] == str(weights.resolve())
    trained = torch.load(out / "model.pt", weights_only=True)
    # lr 1e-9: the convolutions are still the given ones (to float32 round-off)
    torch.testing.assert_close(trained["backbone.conv1.weight"], source.conv1.weight.detach(),
                               rtol=0, atol=1e-6)  # fmt: skip


@pytest.mark.parametrize(("extra_data", "extra_model", "message"), [
    ("imagees = 1\n", "", "unknown key"),
    ("", 'pretrained = "missing.pth"\n', "no such file"),
    ("", "image_size = 16\n", "image_size must be 0"),
    ("", 'pretrained = "{weights}"\nwidth = 16\n', "need width 64"),
    ('density_images = "edg_structure_views"\n', "", "other settings than the ImageED run"),
])  # fmt: skip
def test_config_errors_exit_2_with_one_line(setup, tmp_path, capsys, extra_data, extra_model,
                                            message):  # fmt: skip
    store, imageed, out, _ = setup
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"")
    extra_model = extra_model.format(weights=weights)
    cfg = write_config(tmp_path / "bad.toml", store, imageed, extra_data, extra_model)
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rhoml: error:") and "\n" not in err and message in err, err


def test_imageed_run_must_be_an_imageed_run(setup, tmp_path, capsys):
    store, _, teacher_run, _ = setup
    cfg = write_config(tmp_path / "bad.toml", store, teacher_run)
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a edg-teacher run, not an imageed run" in err and "\n" not in err
