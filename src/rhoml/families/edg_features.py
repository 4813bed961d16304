"""Teacher features, computed once per data set with their provenance, and read back checked.

EDG's distillation stage never runs the teacher CNN: it reads pre-computed teacher features (512-d
per molecule) and maps them through the frozen ED predictor. Features live in a store, one
declared array per molecule and teacher (:data:`rhoml.store.schema.EDG_TEACHER_FEATURES`,
``edg_teacher_features/<teacher weights fingerprint>``, (F,) float32, dimensionless), with the
provenance in the array metadata: which teacher run and weights, which images (the store's image
array, or views rendered from the stored geometry with the teacher's settings) and their render
settings, the ImageED the teacher learned from.

* :func:`teacher_features` — features of given molecules, computed for those the store lacks
  (rendered with the teacher's settings, never stored as images) and read back: what a student
  config's ``[distill] teacher_run`` uses, so a teacher serves any data set directly;
* :func:`compute_teacher_features` (``rhoml edg features``) — features of every molecule of a
  store that has structural images, into that store, or into one ``.npz`` file for EDG's layout;
* :func:`load_teacher_features` — rows of a store or ``.npz`` for given ids, refusing (one-line
  :class:`~rhoml.errors.RhomlError`) features that do not cover them, whose images were rendered
  with other settings than the teacher's, whose dimension is not the expected one, or that another
  teacher made.

``.npz`` layout (``numpy.savez``; no pickled objects): ``ids`` (N,) str; ``features`` (N, F)
float32 teacher features F_S (F = 512 at torchvision's width, 8·width otherwise); ``ed_features``
(N, D) float32, the frozen ED predictor applied to them; ``provenance``, a JSON string.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rhoml.errors import InputError, RhomlError
from rhoml.io.atomic import atomic_write

__all__ = [
    "DEFAULT_FILE", "FORMAT", "compute_teacher_features", "default_features_store",
    "features_array", "load_teacher_features", "teacher_features",
]  # fmt: skip

FORMAT = "rhoml-teacher-features-1"
#: file name inside a store folder when no other is given
DEFAULT_FILE = "edg_teacher_features.npz"


def _default_path(store) -> Path:
    return Path(store) / DEFAULT_FILE


def default_features_store(dataset: str) -> Path:
    """The store that caches teacher features of data set ``dataset`` (``rmd17``, ``qm9``)
    when a config names none: ``<cache>/edg/<dataset>_teacher_features.rhoml``
    (:func:`rhoml.io.cache.cache_dir`)."""
    from rhoml.io.cache import cache_dir

    return cache_dir() / "edg" / f"{dataset}_teacher_features.rhoml"


def features_array(teacher_run) -> str:
    """The store array name of a teacher's features: ``edg_teacher_features/<fingerprint>``."""
    from rhoml.families.edg_teacher import weights_fingerprint
    from rhoml.train.run_folder import resolve_run

    return f"edg_teacher_features/{weights_fingerprint(resolve_run(teacher_run))}"


def _open_teacher(teacher_run, device: str):
    """(run folder path, manifest, loaded frozen teacher) of an edg-teacher run or shipped name."""
    from rhoml.families.edg_teacher import EDTeacherFamily
    from rhoml.train.run_folder import RunFolder, resolve_run

    path = resolve_run(teacher_run)
    run = RunFolder(path, writer=False)
    manifest = run.read_manifest()
    if manifest.get("family") != EDTeacherFamily.name:
        raise InputError(f"{teacher_run}: a {manifest.get('family')} run, not an edg-teacher run")
    return path, manifest, EDTeacherFamily().load(run, device)


def _provenance(path: Path, manifest: dict, teacher, images: str, settings: dict) -> dict:
    """What one molecule's teacher features were made from (stored with each row)."""
    from rhoml import __version__
    from rhoml.families.edg_teacher import weights_fingerprint

    imageed = teacher.build.get("imageed", {})
    return {
        "format": FORMAT,
        "teacher_run": str(path.resolve()),
        "teacher_weights": weights_fingerprint(path),
        "teacher_data_fingerprint": manifest.get("data_fingerprint"),
        "teacher_created_at": manifest.get("created_at"),
        "imageed_run": imageed.get("run"),
        "imageed_weights": imageed.get("weights"),
        "images": images,
        "image_settings": settings,
        "teacher_image_settings": teacher.build["render"],
        "feature_dim": teacher.feature_dim,
        "ed_dim": teacher.ed_dim,
        "units": "dimensionless",
        "rhoml_version": __version__,
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


#: ``images`` provenance of features computed from views rendered on the fly
RENDERED = "rendered from the stored geometry with the teacher's settings (not stored)"


def _fill(st, indices: Sequence[int], teacher_run, *, images: str | None, device: str,
          batch_size: int, progress: bool) -> dict:  # fmt: skip
    """Compute and store the teacher features of ``indices`` that ``st`` lacks, from the store's
    image array ``images`` (checked against the teacher's settings) or, with ``images=None``,
    from views rendered with the teacher's settings. Returns counts and timings."""
    from rhoml.families.edg_data import render_settings

    path, manifest, teacher = _open_teacher(teacher_run, device)
    name = features_array(path)
    todo = [i for i in indices if not st.has_array(i, name)]
    t0 = time.perf_counter()
    if todo:
        if images is not None:
            settings = render_settings(st, todo, images)["config"]
            teacher.check_settings(settings, f"{st.path}: {images}")
            prov = _provenance(path, manifest, teacher, images, settings)
        else:
            prov = _provenance(path, manifest, teacher, RENDERED, teacher.build["render"])
        chunks = range(0, len(todo), batch_size)
        if progress:
            from tqdm.auto import tqdm

            chunks = tqdm(chunks, desc="teacher features", unit="batch")
        for s in chunks:
            chunk = todo[s : s + batch_size]
            if images is not None:
                views = np.stack([st.get_array(i, images) for i in chunk])
            else:
                views = teacher.render([st.molecule(i) for i in chunk])
            feats, _ = teacher.features(views, batch_size)
            for i, f in zip(chunk, feats, strict=True):
                st.put_array(i, name, np.asarray(f, np.float32), unit="dimensionless", **prov)
    seconds = time.perf_counter() - t0
    rate = len(todo) / seconds if todo and seconds > 0 else None
    return {"array": name, "teacher": teacher, "teacher_path": path, "manifest": manifest,
            "n_computed": len(todo), "seconds": seconds, "molecules_per_second": rate}  # fmt: skip


def teacher_features(teacher_run, molecules: Sequence, store=None, *, dataset: str = "",
                     device: str = "cpu", batch_size: int = 64,
                     progress: bool = False) -> tuple[np.ndarray, dict]:  # fmt: skip
    """Teacher features (len(molecules), F) float32 of ``molecules`` (in that order) from the
    ``edg-teacher`` run ``teacher_run`` (a folder or a shipped name, e.g.
    ``edg-teacher-small``), computed once and cached in the store ``store`` (created if absent;
    default :func:`default_features_store` of ``dataset``). Molecules are matched by id and
    geometry (a stored id with another geometry is refused). Missing rows are computed from
    structural views rendered with the teacher's settings. Returns (features, provenance: that
    of the rows plus ``store``, ``array``, ``n_molecules``, ``n_computed``, ``seconds``)."""
    from rhoml.store.sqlite_store import Store

    if store is None:
        store = default_features_store(dataset or "molecules")
    store = Path(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    with Store.create(store) as st:
        indices = st.add_molecules(list(molecules))
        info = _fill(st, indices, teacher_run, images=None, device=device,
                     batch_size=batch_size, progress=progress)  # fmt: skip
        name = info["array"]
        feats = np.stack([st.get_array(i, name) for i in indices]) if indices else None
        prov = st.array_meta(indices[0], name) if indices else {}
    prov.pop("unit", None)
    prov.update({"store": str(store.resolve()), "array": name, "n_molecules": len(indices),
                 "n_computed": info["n_computed"], "seconds": info["seconds"]})  # fmt: skip
    if feats is None:
        feats = np.zeros((0, info["teacher"].feature_dim), np.float32)
    return feats.astype(np.float32), prov


def compute_teacher_features(teacher_run, store, out=None, *, images: str | None = None,
                             batch_size: int = 64, device: str = "cpu", limit: int = 0,
                             progress: bool = False) -> dict:  # fmt: skip
    """Teacher features of every molecule of ``store`` that has structural images ``images``
    (default: the array the teacher was trained on), rendered with the teacher's settings
    (checked). Written into the store (array :func:`features_array`, provenance per row; rows
    already there are kept) or, with ``out``, into one ``.npz`` file. Returns the provenance:

    ``format``, ``teacher_run`` (absolute path), ``teacher_weights`` (sha256 prefix of its
    model.pt), ``teacher_data_fingerprint``, ``teacher_created_at``, ``imageed_run`` and
    ``imageed_weights`` (the ImageED the teacher learned from), ``store`` (absolute path),
    ``images`` (array name), ``image_settings`` (render settings of the images) and
    ``teacher_image_settings`` (those the teacher was trained on), ``feature_dim`` (F, 512 for
    ResNet-18), ``ed_dim``, ``n_molecules``, ``units``, ``seconds``, ``molecules_per_second``,
    ``device``, ``created_at``, ``rhoml_version``, ``out`` (the file, or the store and array)."""
    from rhoml.families.edg_data import image_indices, render_settings
    from rhoml.store.sqlite_store import Store

    path, manifest, teacher = _open_teacher(teacher_run, device)
    name = images or teacher.build["images"]
    if out is None:
        with Store.open(store) as st:
            indices = image_indices(st, name, limit)
            if not indices:
                render_settings(st, indices, name)  # the one-line "render them first" error
            info = _fill(st, indices, path, images=name, device=device, batch_size=batch_size,
                         progress=progress)  # fmt: skip
            prov = st.array_meta(indices[0], info["array"])
            store_path = Path(st.path).resolve()
        prov.pop("unit", None)
        return {**prov, "store": str(store_path), "n_molecules": len(indices),
                "n_computed": info["n_computed"], "seconds": info["seconds"],
                "molecules_per_second": info["molecules_per_second"], "device": str(device),
                "out": f"{store_path} (array {info['array']})"}  # fmt: skip
    out = Path(out)
    t0 = time.perf_counter()
    with Store.open(store, readonly=True) as st:
        indices = image_indices(st, name, limit)
        settings = render_settings(st, indices, name)
        teacher.check_settings(settings["config"], f"{st.path}: {name}")
        ids, feats, eds = [], [], []
        it = range(0, len(indices), batch_size)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, desc="teacher features", unit="batch")
        for s in it:
            chunk = indices[s : s + batch_size]
            f, e = teacher.features(np.stack([st.get_array(i, name) for i in chunk]), batch_size)
            feats.append(f)
            eds.append(e)
            ids += [st.molecule(i).id for i in chunk]
        store_path = str(Path(st.path).resolve())
    seconds = time.perf_counter() - t0
    provenance = {
        **_provenance(path, manifest, teacher, name, settings["config"]),
        "store": store_path,
        "n_molecules": len(ids),
        "seconds": seconds,
        "molecules_per_second": len(ids) / seconds if seconds > 0 else None,
        "device": str(device),
        "out": str(out.resolve()),
    }
    import io

    buf = io.BytesIO()
    np.savez(
        buf, ids=np.asarray(ids, dtype=str),
        features=np.concatenate(feats).astype(np.float32),
        ed_features=np.concatenate(eds).astype(np.float32),
        provenance=np.asarray(json.dumps(provenance)),
    )  # fmt: skip
    if not out.parent.is_dir():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    atomic_write(out, buf.getvalue())
    return provenance


def load_teacher_features(source, molecule_ids: Sequence[str], *, feature_dim: int | None = None,
                          teacher=None, image_settings: dict | None = None,
                          which: str = "features") -> tuple[np.ndarray, dict]:  # fmt: skip
    """Rows of teacher features for ``molecule_ids``, in that order.

    ``source``: a store folder (its :func:`features_array` rows; with several teachers' features
    in it, ``teacher`` names which; a store folder holding only an ``edg_teacher_features.npz``
    reads that file) or an ``.npz`` file. ``which``: ``features`` (N, F) teacher features or
    ``ed_features`` (N, D) (from a store: the teacher's frozen ED predictor applied to them, so
    ``teacher`` is needed). Checks, each a one-line :class:`RhomlError`: every requested id has
    features; the images were rendered with the teacher's settings (and with ``image_settings``
    when given); the dimension equals ``feature_dim`` when given; with ``teacher`` (a run folder
    or shipped name), the features were made by that teacher's weights. Returns (float32 array,
    provenance dict)."""
    from rhoml.families.edg_data import settings_difference

    if which not in ("features", "ed_features"):
        raise ValueError(f"which must be 'features' or 'ed_features', got {which!r}")
    from rhoml.store.sqlite_store import DB_NAME

    path = Path(source)
    if path.is_dir() and (path / DB_NAME).is_file() and _store_arrays(path):
        values, provenances = _read_store(path, molecule_ids, teacher)
        if which == "ed_features":
            if teacher is None:
                raise InputError(f"{path}: ED features from a store need the teacher run")
            import torch

            from rhoml.families.edg_teacher import load_ed_predictor

            with torch.no_grad():
                values = load_ed_predictor(teacher)(torch.as_tensor(values)).numpy()
    else:
        if path.is_dir():
            path = _default_path(path)
        values, provenances = _read_npz(path, molecule_ids, which)
    for provenance in provenances:
        if provenance.get("format") != FORMAT:
            raise InputError(f"{path}: format {provenance.get('format')!r}, expected {FORMAT}")
        key = settings_difference(provenance.get("image_settings"),
                                  provenance.get("teacher_image_settings"))  # fmt: skip
        if key:
            raise RhomlError(
                f"{path}: images rendered with other settings than the teacher's ({key} differs)"
            )
        if image_settings is not None:
            key = settings_difference(image_settings, provenance.get("image_settings"))
            if key:
                raise RhomlError(f"{path}: features of images rendered with other settings than "
                                 f"expected ({key} differs)")  # fmt: skip
    if feature_dim is not None and values.shape[1] != feature_dim:
        raise RhomlError(
            f"{path}: {which} have dimension {values.shape[1]}, expected {feature_dim}"
        )
    if teacher is not None:
        from rhoml.families.edg_teacher import weights_fingerprint
        from rhoml.train.run_folder import resolve_run

        want = weights_fingerprint(resolve_run(teacher))
        for provenance in provenances:
            if provenance.get("teacher_weights") != want:
                raise RhomlError(
                    f"{path}: made by teacher weights {provenance.get('teacher_weights')} "
                    f"({provenance.get('teacher_run')}), not by {teacher} ({want})"
                )
    return values.astype(np.float32), provenances[0] if provenances else {}


def _missing(path, molecule_ids: Sequence[str], missing: list[str]) -> RhomlError:
    return RhomlError(
        f"{path}: no teacher features for {len(missing)} of the {len(molecule_ids)} "
        f"requested molecules (first: {missing[0]!r}); compute them for this data set"
    )


def _read_npz(path: Path, molecule_ids: Sequence[str], which: str):
    if not path.is_file():
        raise InputError(f"{path}: no teacher features file (compute it with 'rhoml edg features "
                         "TEACHER_RUN STORE')")  # fmt: skip
    try:
        with np.load(path, allow_pickle=False) as z:
            ids = [str(i) for i in z["ids"]]
            values = z[which]
            provenance = json.loads(str(z["provenance"]))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a teacher features file ({exc})") from None
    row = {m: i for i, m in enumerate(ids)}
    missing = [m for m in molecule_ids if m not in row]
    if missing:
        raise _missing(path, molecule_ids, missing)
    return values[[row[m] for m in molecule_ids]], [provenance]


def _store_arrays(path: Path) -> list[str]:
    """Teacher-feature array names present in the store at ``path``."""
    from rhoml.store.sqlite_store import Store

    with Store.open(path, readonly=True) as st:
        names = st.summary()["arrays"]
    return sorted(n for n in names if n.startswith("edg_teacher_features/"))


def _read_store(path: Path, molecule_ids: Sequence[str], teacher) -> tuple[np.ndarray, list]:
    from rhoml.store.sqlite_store import Store

    names = _store_arrays(path)
    if teacher is not None:
        name = features_array(teacher)
        if name not in names:
            raise RhomlError(f"{path}: no features of teacher {teacher} ({name}); compute them "
                             "with 'rhoml edg features TEACHER_RUN STORE'")  # fmt: skip
    elif len(names) == 1:
        name = names[0]
    else:
        raise RhomlError(f"{path}: features of {len(names)} teachers ({', '.join(names)}); "
                         "name the teacher")  # fmt: skip
    with Store.open(path, readonly=True) as st:
        row = {m.id: i for i, m in st.molecules()}
        have = [m for m in molecule_ids if m in row and st.has_array(row[m], name)]
        if len(have) < len(molecule_ids):
            got = set(have)
            raise _missing(path, molecule_ids, [m for m in molecule_ids if m not in got])
        if not molecule_ids:
            return np.zeros((0, 0), np.float32), []
        values = np.stack([st.get_array(row[m], name) for m in molecule_ids])
        metas, seen = [], set()
        for m in molecule_ids:
            meta = st.array_meta(row[m], name)
            meta.pop("unit", None)
            key = json.dumps(meta, sort_keys=True)
            if key not in seen:
                seen.add(key)
                metas.append(meta)
    return values, metas
