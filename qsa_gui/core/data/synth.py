"""Procedural H&E-like colon-gland images with instance masks.

The demo, the tests and first-time users all see these images, so they are built to look like
tissue rather than blobs, at roughly GlaS's 20x resolution halved (~1.2 um per pixel):

* a gland is a ring of tall epithelial cells around a lumen: dark, elongated, radially oriented
  hematoxylin nuclei packed along its outer (basal) edge, pale goblet-cell mucin and pink-purple
  cytoplasm towards a near-white lumen. Benign glands are round or oval, regular and separate;
  malignant ones are irregular, crowded, stratified, touching/fused, sometimes cribriform (several
  lumens in one gland), with pleomorphic vesicular nuclei and necrotic debris in the lumen;
* the stroma is pink fibrous eosin whose fibres wrap around the glands, with lymphocytes,
  fibroblasts, small capillaries with red cells and the retraction clefts real sections show;
* colour follows Beer-Lambert: per-pixel hematoxylin and eosin optical densities times stain
  vectors, ``RGB = 255 * exp(-OD)``, with per-style and per-image stain variation, then optical
  blur and sensor noise.

Each gland (epithelium and lumen together, as GlaS annotates them) is one instance id. Everything
is vectorised numpy/scipy (a 256x256 sample takes a few tens of milliseconds) and seeded: the
same seed, size, grade and style give the identical image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .synth_glands import _clean_labels, _place_glands, _rasterise
from .synth_stain import _BLOOD_VEC, _image_stain
from .synth_texture import _Blobs, _epithelium, _fibres, _smooth, _stamp

GRADES = ("benign", "malignant")
DEFAULT_N_STAIN_STYLES = 3


@dataclass
class GlandSample:
    """One synthetic image, its instance labels and how it was made (enough to regenerate it)."""

    image: np.ndarray  # uint8 H x W x 3
    labels: np.ndarray  # int32 H x W, 0 = stroma, 1..N = glands
    grade: str  # "benign" | "malignant"
    stain: int
    seed: int


# --------------------------------------------------------------------------------------------
# the sample


def _subrng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, stream]))


def generate_sample(
    seed: int,
    size: tuple[int, int] = (256, 256),
    grade: str | None = None,
    stain_style: int | None = None,
) -> GlandSample:
    """One synthetic H&E colon image with instance labels; identical for identical arguments.

    ``grade`` None draws benign/malignant 50:50 and ``stain_style`` None draws one of the
    first :data:`DEFAULT_N_STAIN_STYLES` families, both from ``seed``.
    """
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size}")
    pick = _subrng(seed, 0)
    g_draw, s_draw = pick.random(), int(pick.integers(DEFAULT_N_STAIN_STYLES))
    if grade is None:
        grade = "malignant" if g_draw < 0.5 else "benign"
    if grade not in GRADES:
        raise ValueError(f"grade must be one of {GRADES}, got {grade!r}")
    style = s_draw if stain_style is None else int(stain_style)
    malignant = grade == "malignant"

    r_layout, r_cells, r_tex, r_stain = (_subrng(seed, k) for k in (1, 2, 3, 4))
    glands = _place_glands(r_layout, h, w, malignant)
    raw, depth, thick = _rasterise(glands, h, w)
    labels, mapping = _clean_labels(raw)
    gland_mask = labels > 0
    depth = np.where(gland_mask, depth, 0.0)

    # ---------------- objects
    nuclei, mucin, blood = _Blobs(), _Blobs(), _Blobs()
    for old, new in mapping.items():
        _epithelium(r_cells, glands[old - 1], new, labels, malignant, nuclei, mucin)

    dist_out, (iy, ix) = ndi.distance_transform_edt(~gland_mask, return_indices=True)
    if not gland_mask.any():
        dist_out = np.full((h, w), 1e3)
    yy, xx = np.mgrid[0:h, 0:w]
    normal = np.arctan2(iy - yy, ix - xx)
    wander = _smooth(r_tex, (h, w), 24) * 1.2
    near = np.exp(-dist_out / 25.0)
    tangent = normal + np.pi / 2
    angle = np.where(near > 0.15, tangent + (1 - near) * wander * 0.6, wander)
    fib = _fibres(r_tex, (h, w), angle)

    # stromal cells: lymphocytes / plasma cells (round, dark) and fibroblasts (thin, along fibres)
    stroma_area = float((~gland_mask).sum())
    n_lym = int(stroma_area * (1 / 95 if not malignant else 1 / 170))
    n_fib = int(stroma_area * (1 / 260 if not malignant else 1 / 150))
    for n, kind in ((n_lym, "lym"), (n_fib, "fib")):
        sy, sx = r_cells.uniform(0, h, n), r_cells.uniform(0, w, n)
        iy_, ix_ = sy.astype(int), sx.astype(int)
        k = dist_out[iy_, ix_] > (2.5 if kind == "lym" else 1.5)
        sy, sx = sy[k], sx[k]
        m = sy.size
        if kind == "lym":
            rad = r_cells.uniform(1.7, 2.6, m)
            nuclei.add(
                sy,
                sx,
                rad * r_cells.uniform(1.0, 1.25, m),
                rad,
                r_cells.uniform(0, np.pi, m),
                r_cells.uniform(1.15, 1.45, m),
                0.0,
            )
        else:
            nuclei.add(
                sy,
                sx,
                r_cells.uniform(3.5, 6.0, m),
                r_cells.uniform(0.8, 1.3, m),
                angle[iy_[k], ix_[k]] + r_cells.normal(0, 0.15, m),
                r_cells.uniform(0.9, 1.2, m),
                0.0,
            )

    # a few capillaries: clusters of red blood cells in the stroma
    for _ in range(int(r_cells.integers(1, 4) * h * w / 65536 + 0.5)):
        cy, cx = r_cells.uniform(0, h), r_cells.uniform(0, w)
        if dist_out[min(int(cy), h - 1), min(int(cx), w - 1)] < 6:
            continue
        k = int(r_cells.integers(3, 9))
        a0 = r_cells.uniform(0, np.pi)
        tt = r_cells.normal(0, 3.0, k)
        blood.add(
            cy + tt * np.sin(a0) + r_cells.normal(0, 1.0, k),
            cx + tt * np.cos(a0) + r_cells.normal(0, 1.0, k),
            r_cells.uniform(1.8, 2.4, k),
            r_cells.uniform(1.5, 2.0, k),
            r_cells.uniform(0, np.pi, k),
            1.0,
        )

    nuc = _stamp(nuclei, (h, w))
    muc = _stamp(mucin, (h, w))
    rbc = _stamp(blood, (h, w))

    # ---------------- densities
    fine = _smooth(r_tex, (h, w), 0.8)
    mid = _smooth(r_tex, (h, w), 3.0)
    broad = _smooth(r_tex, (h, w), 30.0)

    # stroma: fibrous eosin, loose (oedematous) patches, faint hematoxylin
    loose = np.clip(_smooth(r_tex, (h, w), 12.0) * 0.5 - 0.3, 0, 0.6)
    e_st = (0.68 if malignant else 0.56) * (0.5 + 0.75 * fib + 0.12 * mid) * (1.0 - loose) * (1 + 0.08 * fine)
    h_st = 0.05 + 0.03 * (mid + 1)
    # retraction clefts: a thin white gap along part of some gland outlines
    cleft = (dist_out > 0) & (dist_out < 1.0 + 2.2 * np.clip(broad + 0.3, 0, 1)) & (mid + 0.6 * broad > 1.0)
    e_st = np.where(cleft, 0.03, e_st)
    h_st = np.where(cleft, 0.01, h_st)

    # glands: cytoplasm, apical border, lumen
    lumen = gland_mask & (depth > thick)
    for old, new in mapping.items():
        g = glands[old - 1]
        if g.cribriform:
            for ly, lx, lr in g.lumens:
                y0, y1 = max(int(ly - lr) - 1, 0), min(int(ly + lr) + 2, h)
                x0, x1 = max(int(lx - lr) - 1, 0), min(int(lx + lr) + 2, w)
                sub = (yy[y0:y1, x0:x1] - ly) ** 2 + (xx[y0:y1, x0:x1] - lx) ** 2 < lr**2
                lumen[y0:y1, x0:x1] |= sub & (labels[y0:y1, x0:x1] == new)
    epi = gland_mask & ~lumen
    apical = epi & ~ndi.binary_erosion(~lumen, iterations=1) if lumen.any() else np.zeros_like(epi)
    e_cy = (0.50 if not malignant else 0.42) * (1 + 0.15 * mid + 0.1 * fine)
    h_cy = (0.17 if not malignant else 0.32) * (1 + 0.2 * mid + 0.15 * fine)
    e_cy = np.where(apical, e_cy * 1.6, e_cy)
    if malignant:  # necrotic debris: eosinophilic clumps with nuclear dust
        debris = np.clip(_smooth(r_tex, (h, w), 2.5) - 0.3, 0, None)
        e_lu = 0.04 + 0.45 * debris
        h_lu = 0.02 + 0.35 * debris * (fine > 1.6)
    else:
        e_lu = 0.03 + 0.06 * np.clip(mid + 0.5, 0, None)
        h_lu = 0.015 + 0.0 * mid

    e_od = np.where(gland_mask, np.where(lumen, e_lu, e_cy), e_st)
    h_od = np.where(gland_mask, np.where(lumen, h_lu, h_cy), h_st)

    # goblet mucin: pale, faintly grey-blue
    e_od = e_od * (1 - 0.85 * muc)
    h_od = h_od * (1 - 0.6 * muc) + 0.05 * muc
    # nuclei: hematoxylin with granular chromatin, little eosin
    chrom = np.clip(0.8 + 0.25 * fine, 0.4, 1.3)
    cover = np.clip(nuc * 1.2, 0, 1)
    h_od = h_od * (1 - cover) + 1.15 * nuc * chrom
    e_od = e_od * (1 - 0.5 * cover) + 0.08 * cover

    stain = _image_stain(style, r_stain)
    thickness = 1.0 + 0.08 * broad
    h_od = ndi.gaussian_filter(h_od * thickness * stain.h_gain, 0.55)
    e_od = ndi.gaussian_filter(e_od * thickness * stain.e_gain, 0.55)
    b_od = ndi.gaussian_filter(rbc, 0.55) * 1.1
    od = (
        h_od[:, :, None] * stain.h_vec
        + e_od[:, :, None] * stain.e_vec
        + b_od[:, :, None] * _BLOOD_VEC
        + stain.glass
    )
    rgb = 255.0 * np.exp(-od) + r_stain.normal(0, 2.2, (h, w, 3))
    image = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    return GlandSample(image=image, labels=labels.astype(np.int32), grade=grade, stain=style, seed=int(seed))


def generate_dataset(
    n: int,
    seed: int = 0,
    size: tuple[int, int] = (256, 256),
    malignant_fraction: float = 0.3,
    n_stain_styles: int = DEFAULT_N_STAIN_STYLES,
) -> list[GlandSample]:
    """``n`` samples: round(n * malignant_fraction) malignant at seeded positions, style i % n_styles.

    Each sample's own seed is derived from ``seed`` and its index, so
    ``generate_sample(s.seed, size, s.grade, s.stain)`` regenerates sample ``s`` exactly.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0.0 <= malignant_fraction <= 1.0:
        raise ValueError("malignant_fraction must lie in [0, 1]")
    if n_stain_styles < 1:
        raise ValueError("n_stain_styles must be >= 1")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, 99]))
    n_mal = int(round(n * malignant_fraction))
    malignant = np.zeros(n, bool)
    malignant[rng.permutation(n)[:n_mal]] = True
    seeds = rng.integers(0, 2**31 - 1, n)
    return [
        generate_sample(int(seeds[i]), size, "malignant" if malignant[i] else "benign", i % n_stain_styles)
        for i in range(n)
    ]
