"""Teacher features, computed once per data set with their provenance, and read back checked.

EDG's distillation stage never runs the teacher CNN: it reads pre-computed teacher features (512-d
per molecule) and maps them through the frozen ED predictor. :func:`compute_teacher_features` runs a
trained ``edg-teacher`` run over the structural images of a store and writes one ``.npz`` file;
:func:`load_teacher_features` returns the rows of requested molecules and refuses (one-line
:class:`~rhoml.errors.RhomlError`) a file that does not cover them, whose images were rendered with
other settings than the teacher's, whose feature dimension is not the expected one, or that was made
by another teacher than the one named.

File layout (``numpy.savez``; no pickled objects):

* ``ids`` (N,) str: molecule ids (the store's ``Molecule.id``);
* ``features`` (N, F) float32, dimensionless: teacher features F_S (view-mean ResNet-18;
  F = 512 at torchvision's width, 8·width otherwise);
* ``ed_features`` (N, D) float32, dimensionless: the frozen ED predictor applied to them;
* ``provenance``: a JSON string (see :func:`compute_teacher_features`).
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rhoml.errors import InputError, RhomlError

__all__ = ["DEFAULT_FILE", "FORMAT", "compute_teacher_features", "load_teacher_features"]

FORMAT = "rhoml-teacher-features-1"
#: file name inside a store folder when no other is given
DEFAULT_FILE = "edg_teacher_features.npz"


def _default_path(store) -> Path:
    return Path(store) / DEFAULT_FILE


def compute_teacher_features(teacher_run, store, out=None, *, images: str | None = None,
                             batch_size: int = 64, device: str = "cpu", limit: int = 0,
                             progress: bool = False) -> dict:  # fmt: skip
    """Teacher features of every molecule of ``store`` that has structural images ``images``
    (default: the array the teacher was trained on), written to ``out`` (default
    ``STORE/edg_teacher_features.npz``). The images must have been rendered with the teacher's
    training settings. Returns the provenance written into the file:

    ``format``, ``teacher_run`` (absolute path), ``teacher_weights`` (sha256 prefix of its
    model.pt), ``teacher_data_fingerprint``, ``teacher_created_at``, ``imageed_run`` and
    ``imageed_weights`` (the ImageED the teacher learned from), ``store`` (absolute path),
    ``images`` (array name), ``image_settings`` (render settings of the images) and
    ``teacher_image_settings`` (those the teacher was trained on), ``feature_dim`` (F, 512 for
    ResNet-18), ``ed_dim``, ``n_molecules``, ``units``, ``seconds``, ``molecules_per_second``,
    ``device``, ``created_at``, ``rhoml_version``, ``out``."""
    from rhoml import __version__
    from rhoml.families.edg_data import image_indices, render_settings
    from rhoml.families.edg_teacher import EDTeacherFamily, weights_fingerprint
    from rhoml.io.atomic import atomic_write
    from rhoml.store.sqlite_store import Store
    from rhoml.train.run_folder import RunFolder

    run = RunFolder(teacher_run, writer=False)
    if not run.manifest_path.is_file():
        raise InputError(f"{teacher_run}: not a run folder (no manifest.json)")
    manifest = run.read_manifest()
    if manifest.get("family") != EDTeacherFamily.name:
        raise InputError(f"{teacher_run}: a {manifest.get('family')} run, not an edg-teacher run")
    teacher = EDTeacherFamily().load(run, device)
    name = images or teacher.build["images"]
    out = Path(out) if out is not None else _default_path(store)
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
    imageed = teacher.build.get("imageed", {})
    provenance = {
        "format": FORMAT,
        "teacher_run": str(Path(teacher_run).resolve()),
        "teacher_weights": weights_fingerprint(teacher_run),
        "teacher_data_fingerprint": manifest.get("data_fingerprint"),
        "teacher_created_at": manifest.get("created_at"),
        "imageed_run": imageed.get("run"),
        "imageed_weights": imageed.get("weights"),
        "store": store_path,
        "images": name,
        "image_settings": settings["config"],
        "teacher_image_settings": teacher.build["render"],
        "feature_dim": teacher.feature_dim,
        "ed_dim": teacher.ed_dim,
        "n_molecules": len(ids),
        "units": "dimensionless",
        "seconds": seconds,
        "molecules_per_second": len(ids) / seconds if seconds > 0 else None,
        "device": str(device),
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "rhoml_version": __version__,
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
    """Rows of a teacher-features file for ``molecule_ids``, in that order.

    ``source``: the ``.npz`` file, or a store folder (its ``edg_teacher_features.npz``).
    ``which``: ``features`` (N, F) teacher features or ``ed_features`` (N, D). Checks, each a
    one-line :class:`RhomlError`: every requested id is in the file; the images were rendered
    with the teacher's settings (and with ``image_settings`` when given); the dimension equals
    ``feature_dim`` when given; with ``teacher`` (a run folder), the file was made by that
    teacher's weights. Returns (float32 array, provenance dict)."""
    from rhoml.families.edg_data import settings_difference

    path = Path(source)
    if path.is_dir():
        path = _default_path(path)
    if not path.is_file():
        raise InputError(f"{path}: no teacher features file (compute it with 'rhoml edg features "
                         "TEACHER_RUN STORE')")  # fmt: skip
    if which not in ("features", "ed_features"):
        raise ValueError(f"which must be 'features' or 'ed_features', got {which!r}")
    try:
        with np.load(path, allow_pickle=False) as z:
            ids = [str(i) for i in z["ids"]]
            values = z[which]
            provenance = json.loads(str(z["provenance"]))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a teacher features file ({exc})") from None
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

        want = weights_fingerprint(teacher)
        if provenance.get("teacher_weights") != want:
            raise RhomlError(
                f"{path}: made by teacher weights {provenance.get('teacher_weights')} "
                f"({provenance.get('teacher_run')}), not by {teacher} ({want})"
            )
    row = {m: i for i, m in enumerate(ids)}
    missing = [m for m in molecule_ids if m not in row]
    if missing:
        raise RhomlError(
            f"{path}: no teacher features for {len(missing)} of the {len(molecule_ids)} "
            f"requested molecules (first: {missing[0]!r}); compute them for this data set"
        )
    return values[[row[m] for m in molecule_ids]].astype(np.float32), provenance
