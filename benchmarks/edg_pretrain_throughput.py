"""Throughput of the EDG image stages on this machine: ImageED pre-training (forward + backward +
AdamW step of the masked autoencoder, mask ratio 0.25) in images/s and molecules/s (6 views per
molecule), ImageED feature extraction (unmasked encoder, token mean) in molecules/s, and teacher
feature extraction (ResNet-18 on 4 structural views, view mean, ED predictor) in molecules/s.

Synthetic image batches of the presets' shapes (the network cost does not depend on the pixel
values); median over timed steps after one warm-up step; CPU threads 1 and 2 (or CUDA when
present). With ``--teacher RUN --store STORE`` it also times ``compute_teacher_features`` end
to end on a real store (SQLite reads, preprocessing, the teacher), written to a temporary file.
The 1-minute load average is recorded: the machine is shared, so CPU numbers are lower bounds.

Run: python benchmarks/edg_pretrain_throughput.py [--teacher RUN --store STORE] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: ImageED cases: (label, preset, overrides, batch)
IMAGEED = [
    ("vit-b16-224 (EDG paper)", "vit-b16-224", {}, 2),
    ("vit-s-112", "vit-s-112", {}, 8),
    ("imageed-small (shipped)", "vit-s-112",
     {"embed_dim": 128, "num_heads": 4, "decoder_embed_dim": 64, "decoder_num_heads": 4}, 8),
]  # fmt: skip
#: teacher cases: (label, width, image size, batch)
TEACHER = [
    ("ResNet-18 (EDG), 224 px", 64, 224, 16),
    ("ResNet-18, 112 px", 64, 112, 32),
    ("ResNet-18 width 16 (shipped), 112 px", 16, 112, 32),
]


def _median_time(fn, steps: int, device: str) -> float:
    import torch

    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine, write_results

    from rhoml.models.image.resnet import EDTeacher, EDTeacherConfig
    from rhoml.models.registry import build_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default=None, help="edg-teacher run for the end-to-end timing")
    p.add_argument("--store", default=None, help="store with its structural images")
    p.add_argument("--quick", action="store_true", help="fewer timed steps")
    args = p.parse_args()
    steps = 1 if args.quick else 3
    devices = ["cuda"] if torch.cuda.is_available() else ["cpu"]
    threads = [1, 2] if devices == ["cpu"] else [torch.get_num_threads()]
    results: list[dict] = []
    rows = ["| stage | model | device | threads | batch | images/s | molecules/s |",
            "|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for dev in devices:
        for th in threads:
            torch.set_num_threads(th)
            for label, preset, over, bs in IMAGEED:
                torch.manual_seed(0)
                mae = build_model(preset, over).to(dev)
                c = mae.config
                x = torch.randn(bs, c.n_views, c.in_chans, c.image_size, c.image_size,
                                device=dev)  # fmt: skip
                opt = torch.optim.AdamW(mae.parameters(), 1.5e-4, betas=(0.9, 0.95),
                                        weight_decay=0.05)  # fmt: skip

                def step(mae=mae, x=x, opt=opt):
                    opt.zero_grad(set_to_none=True)
                    mae(x).loss.backward()
                    opt.step()

                n = 1 if preset == "vit-b16-224" and dev == "cpu" else steps
                rate = bs / _median_time(step, n, dev)
                mae.eval()
                feat_rate = bs / _median_time(lambda mae=mae, x=x: mae.features(x), n, dev)
                params = sum(q.numel() for q in mae.parameters())
                for stage, r in (("ImageED pre-training", rate),
                                 ("ImageED features", feat_rate)):  # fmt: skip
                    results.append({"stage": stage, "model": label, "device": dev,
                                    "threads": th, "batch": bs, "parameters": params,
                                    "tokens": c.n_tokens, "molecules_per_second": r,
                                    "images_per_second": r * c.n_views})  # fmt: skip
                    rows.append(f"| {stage} | {label} ({params / 1e6:.1f} M, {c.n_tokens} "
                                f"tokens) | {dev} | {th} | {bs} | {r * c.n_views:.1f} | "
                                f"{r:.2f} |")  # fmt: skip
            for label, width, size, bs in TEACHER:
                torch.manual_seed(0)
                teacher = EDTeacher(EDTeacherConfig(ed_dim=768, width=width)).to(dev).freeze()
                x = torch.randn(bs, 4, 3, size, size, device=dev)

                def fwd(teacher=teacher, x=x):
                    with torch.no_grad():
                        f = teacher.teacher_features(x)
                        teacher.predictor(f)

                rate = bs / _median_time(fwd, steps, dev)
                params = sum(q.numel() for q in teacher.parameters())
                results.append({"stage": "teacher features", "model": label, "device": dev,
                                "threads": th, "batch": bs, "parameters": params,
                                "molecules_per_second": rate,
                                "images_per_second": 4 * rate})  # fmt: skip
                rows.append(f"| teacher features | {label} ({params / 1e6:.1f} M) | {dev} | "
                            f"{th} | {bs} | {4 * rate:.1f} | {rate:.2f} |")  # fmt: skip
    end_to_end = None
    if args.teacher and args.store:
        from rhoml.families.edg_features import compute_teacher_features

        torch.set_num_threads(2 if devices == ["cpu"] else torch.get_num_threads())
        with tempfile.TemporaryDirectory() as tmp:
            prov = compute_teacher_features(args.teacher, args.store, Path(tmp) / "f.npz",
                                            device=devices[0], batch_size=64)  # fmt: skip
        keys = ("teacher_run", "store", "n_molecules", "seconds", "molecules_per_second",
                "feature_dim", "device")  # fmt: skip
        end_to_end = {k: prov[k] for k in keys}
        end_to_end["threads"] = torch.get_num_threads()
        rows.append(
            f"| teacher features, end to end (`rhoml edg features`: store reads + teacher) | "
            f"{Path(args.teacher).name} | {devices[0]} | {end_to_end['threads']} | 64 | "
            f"{4 * prov['molecules_per_second']:.1f} | {prov['molecules_per_second']:.2f} |"
        )
    load = os.getloadavg()[0]
    write_results(
        "edg_pretrain_throughput",
        {"title": "EDG image stages: ImageED pre-training and feature extraction, teacher "
                  "feature extraction (throughput)", "machine": machine(),
         "load_average_1min": load, "results": results, "end_to_end": end_to_end},
        "\n".join(rows) + "\n\nImages: 6 RGB-D views per molecule for ImageED, 4 RGB views for "
        f"the teacher. Synthetic batches; median of timed steps after a warm-up (ViT-B/16 on CPU: "
        f"one timed step). 1-minute load average at the end: {load:.1f} (shared machine).",
    )  # fmt: skip


if __name__ == "__main__":
    main()
