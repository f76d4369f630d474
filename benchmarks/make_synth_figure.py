"""Make docs/synthetic_glands.png: benign and malignant synthetic samples with their instance outlines.

Run: ``.venv/bin/python benchmarks/make_synth_figure.py [--out docs/synthetic_glands.png]``.
Top row of each pair: the image as the model sees it; below: the same image with every gland's
outline (one colour per instance), so a reader can judge both the look and the masks.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.ndimage import binary_dilation  # noqa: E402
from skimage.segmentation import find_boundaries  # noqa: E402

from qsa_gui.core.data.synth import generate_sample  # noqa: E402

SAMPLES = [  # (seed, grade, stain style)
    (11, "benign", 0),
    (12, "benign", 1),
    (25, "malignant", 0),  # a cribriform gland near the centre
    (14, "malignant", 2),
]


def outline(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The image with each instance's boundary drawn in a colour of its own."""
    out = image.copy()
    cmap = plt.get_cmap("tab10")
    for i in range(1, int(labels.max()) + 1):
        edge = binary_dilation(find_boundaries(labels == i, mode="inner")) & (labels == i)
        out[edge] = (np.array(cmap((i - 1) % 10)[:3]) * 255).astype(np.uint8)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "synthetic_glands.png"
    )
    ap.add_argument("--size", type=int, default=384)
    args = ap.parse_args()
    fig, axes = plt.subplots(2, len(SAMPLES), figsize=(4 * len(SAMPLES), 8.3), dpi=100)
    for col, (seed, grade, style) in enumerate(SAMPLES):
        t = time.process_time()
        s = generate_sample(seed, (args.size, args.size), grade=grade, stain_style=style)
        dt = time.process_time() - t
        axes[0, col].imshow(s.image)
        axes[0, col].set_title(f"{grade}, stain {style}, seed {seed}\n{dt * 1000:.0f} ms CPU", fontsize=10)
        axes[1, col].imshow(outline(s.image, s.labels))
        axes[1, col].set_title(f"{int(s.labels.max())} gland instances", fontsize=10)
        for ax in axes[:, col]:
            ax.set_axis_off()
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
