"""Helpers shared by the benchmark scripts: machine description and result writing."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """What ran the benchmark."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    import numpy
    import pyscf

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pyscf": pyscf.__version__,
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def write_results(name: str, data: dict, table: str) -> None:
    """Write ``results/NAME.json`` and ``results/NAME.md``."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    m = data["machine"]
    md = (
        f"# {data['title']}\n\n{table}\n\nMachine: {m['cpu']}, {m['cores']} cores, "
        f"OMP_NUM_THREADS={m['omp_num_threads']}; commit {m['commit']}, {m['date']}.\n\n"
        f"Command: `{m['command']}`\n"
    )
    (RESULTS / f"{name}.md").write_text(md)
    print(md)


def side_by_side(rows: list[tuple[str, list[tuple[object, str]]]], path, dpi: int = 100) -> None:
    """Save a grid of images: one row per item, ``(row_label, [(image, column_title), ...])``.

    Column titles are taken from the first row; images are anything ``imshow`` accepts.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ncols = len(rows[0][1])
    fig, axes = plt.subplots(len(rows), ncols, figsize=(2.15 * ncols, 2.25 * len(rows)))
    axes = np.atleast_2d(axes)
    for r, (label, cells) in enumerate(rows):
        for c, (img, title) in enumerate(cells):
            ax = axes[r, c]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=9)
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def pymol_reset(cmd) -> None:
    """Fresh PyMOL session as every PyMOL comparison uses it: 1 thread, white, orthographic."""
    cmd.reinitialize()
    cmd.feedback("disable", "all", "everything")
    cmd.set("max_threads", 1)
    cmd.bg_color("white")
    cmd.set("ray_opaque_background", 1)
    cmd.set("orthoscopic", 1)
