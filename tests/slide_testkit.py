"""Small slides for the slide tests: painted glands a threshold can find, and the model stand-in.

Why painted: a pipeline test must know the right answer. Glands are drawn as solid discs and
ellipses in one purple on pink stroma on white glass, so :class:`ThresholdModel` (gland = that
purple) finds exactly them and every later step (strips, seams, polygons, GeoJSON, OME-Zarr) can
be checked against the painted labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.draw import ellipse

from qsa_gui.core.slides.synth import ArraySlide, write_slide

GLAND = np.array([110, 40, 150], np.uint8)
STROMA = np.array([235, 170, 200], np.uint8)
GLASS = np.array([242, 240, 243], np.uint8)


def painted(
    shape: tuple[int, int], seed: int, n: int = 40, tissue=(0.1, 0.9)
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB, int32 labels): a tissue band of stroma with ``n`` non-touching glands."""
    rng = np.random.default_rng(seed)
    h, w = shape
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = GLASS
    x0, x1 = int(tissue[0] * w), int(tissue[1] * w)
    rgb[:, x0:x1] = STROMA
    labels = np.zeros(shape, np.int32)
    k = 0
    for _ in range(n * 20):
        if k == n:
            break
        ry, rx = rng.uniform(14, 40, 2)
        cy, cx = rng.uniform(ry + 2, h - ry - 2), rng.uniform(x0 + rx + 2, x1 - rx - 2)
        rot = rng.uniform(0, np.pi)
        rr, cc = ellipse(cy, cx, ry + 4, rx + 4, shape=shape, rotation=rot)
        if labels[rr, cc].any():
            continue
        rr, cc = ellipse(cy, cx, ry, rx, shape=shape, rotation=rot)
        k += 1
        labels[rr, cc] = k
    rgb[labels > 0] = GLAND
    return rgb, labels


def write_painted(path: Path, shape=(1024, 1536), seed=0, kind="ome", **kw) -> tuple[Path, np.ndarray]:
    rgb, labels = painted(shape, seed)
    write_slide(path, ArraySlide(rgb), kind=kind, compression="zlib", **kw)
    return path, labels


class ThresholdModel:
    """Stands in for the FCN: gland probability 1 where a pixel has the painted gland colour."""

    overlap = 16

    def probabilities(self, image, device=None, cancel=None):
        g = (np.abs(image - GLAND / 255.0).max(axis=2) < 0.08).astype(np.float32)
        return g, np.zeros_like(g)


def match_iou(truth: np.ndarray, got: np.ndarray) -> list[float]:
    """For each true object, the IoU of the predicted object overlapping it most (0 when none)."""
    out = []
    for k in range(1, int(truth.max()) + 1):
        m = truth == k
        ids, cnt = np.unique(got[m], return_counts=True)
        cand = [(c, i) for c, i in zip(cnt, ids, strict=True) if i > 0]
        if not cand:
            out.append(0.0)
            continue
        j = max(cand)[1]
        g = got == j
        out.append(float((m & g).sum() / (m | g).sum()))
    return out


def tiny_model_folder(tmp_path: Path) -> Path:
    """A saved (untrained, seeded) tiny segmentation model: enough to run the slide pipeline."""
    import torch

    from qsa_gui.core.model.fcn import PRESETS, SAFCN
    from qsa_gui.core.model.segmenter import Segmenter

    torch.manual_seed(0)
    folder = tmp_path / "model"
    Segmenter([SAFCN(PRESETS["tiny"])], tile=128, overlap=16).save(folder, bits=None, meta={})
    return folder


SCHEMA = Path(__file__).parent / "data" / "qupath_geojson.schema.json"


def check_qupath_geojson(path: Path, slide_shape: tuple[int, int]) -> dict:
    """The file validates against QuPath's GeoJSON shape (tests/data/qupath_geojson.schema.json),
    every ring is closed, and every coordinate lies on the slide (full-resolution pixels)."""
    import json

    import jsonschema

    data = json.loads(Path(path).read_text("utf-8"))
    jsonschema.validate(data, json.loads(SCHEMA.read_text("utf-8")))
    h, w = slide_shape
    for f in data["features"]:
        g = f["geometry"]
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        for ring in (r for poly in polys for r in poly):
            assert ring[0] == ring[-1], f"ring of {f['id']} is not closed"
            xy = np.asarray(ring)
            inside = xy.min() >= 0 and xy[:, 0].max() <= w and xy[:, 1].max() <= h
            assert inside, f"{f['id']} leaves the slide"
    return data


VL_WSI = "1.2.840.10008.5.1.4.1.1.77.1.6"  # VL Whole Slide Microscopy Image Storage


def write_dicom_slide(folder: Path, rgb: np.ndarray, tile: int = 256, levels: int = 3,
                      mpp: float = 0.5) -> list[Path]:  # fmt: skip
    """A DICOM WSI as a scanner writes one: a folder with one ``.dcm`` per pyramid level, all of
    one series, uncompressed RGB frames in TILED_FULL order (so pixels can be compared exactly);
    level ``k`` is ``rgb[::2**k, ::2**k]``. Returns the files, level 0 first."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame_of_ref = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for level in range(levels):
        d = 2**level
        img = np.ascontiguousarray(rgb[::d, ::d])
        h, w = img.shape[:2]
        ty, tx = -(-h // tile), -(-w // tile)
        padded = np.zeros((ty * tile, tx * tile, 3), np.uint8)
        padded[:h, :w] = img
        frames = padded.reshape(ty, tile, tx, tile, 3).transpose(0, 2, 1, 3, 4)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = VL_WSI
        meta.MediaStorageSOPInstanceUID = sop = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = VL_WSI, sop, "SM"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame_of_ref
        ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"] if level == 0 else [
            "DERIVED", "PRIMARY", "VOLUME", "RESAMPLED"]  # fmt: skip
        ds.InstanceNumber = level + 1
        ds.PatientName, ds.PatientID, ds.ContainerIdentifier = "Test^Slide", "qsa-test", "qsa-test"
        ds.DimensionOrganizationType = "TILED_FULL"
        ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns = h, w
        ds.TotalPixelMatrixFocalPlanes = ds.NumberOfOpticalPaths = 1
        ds.Rows = ds.Columns = tile
        ds.NumberOfFrames = ty * tx
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        spacing = mpp * d / 1000  # mm
        ds.ImagedVolumeWidth, ds.ImagedVolumeHeight, ds.ImagedVolumeDepth = w * spacing, h * spacing, 0.001
        measures = Dataset()
        measures.PixelSpacing, measures.SliceThickness = [spacing, spacing], 0.001
        shared = Dataset()
        shared.PixelMeasuresSequence = Sequence([measures])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
        path_ = Dataset()
        path_.OpticalPathIdentifier = "1"
        ds.OpticalPathSequence = Sequence([path_])
        ds.PixelData = frames.tobytes()
        out = folder / f"level{level}.dcm"
        ds.save_as(out, enforce_file_format=True)
        paths.append(out)
    return paths
