"""Whole-slide commands: import options, segment-slides, slide-annotations, slide-export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import QSAError
from ..core.ray_tasks import EXECUTORS
from .common import open_project
from .progress import run_with_progress


def _size(text: str) -> tuple[int, int]:
    """'775x522' (width x height) -> (522, 775)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 775x522, not {text!r}") from None
    return h, w


def add_import_options(sp: argparse.ArgumentParser) -> None:
    g = sp.add_argument_group("whole slides (.svs, .ndpi, pyramidal OME-TIFF / TIFF, tiled BigTIFF)")
    auto = "default: .svs/.ndpi, pyramidal TIFF, tiled BigTIFF"
    g.add_argument("--slides", dest="slides", action="store_const", const=True, default=None,
                   help=f"import every TIFF as a slide ({auto})")  # fmt: skip
    g.add_argument(
        "--no-slides", dest="slides", action="store_const", const=False, help="never split into regions"
    )
    g.add_argument("--region-size", type=_size, default=(522, 775), metavar="WxH",
                   help="region size in pixels at --magnification (default 775x522, as GlaS)")  # fmt: skip
    g.add_argument("--magnification", type=float, default=20.0, help="regions' magnification (default 20x)")
    g.add_argument("--min-tissue", type=float, default=0.25, help="least tissue fraction of a region (0.25)")


def region_spec(args: argparse.Namespace):
    from qsa_gui.core.slides.regions import RegionSpec

    try:
        return RegionSpec(tuple(args.region_size), float(args.magnification), float(args.min_tissue))
    except ValueError as e:
        raise QSAError(str(e)) from None


def print_slides(reports) -> None:
    for r in reports:
        for s in r.slides:
            mpp = f"{s['mpp']:.4g} µm/px" if s["mpp"] else "pixel size unknown"
            power = f", scanned at {s['objective_power']:g}x" if s["objective_power"] else ""
            where = f"{s['regions']} regions at {s['magnification']:g}x"
            print(f"slide {s['id']} {s['name']}: {where}; {mpp}{power}")
            for note in s["notes"]:
                print(f"  note: {note}")


def add_commands(add) -> None:
    sp = add(
        "segment-slides",
        cmd_segment_slides,
        "segment every slide of a folder into GeoJSON + OME-Zarr (resumable)",
    )
    sp.add_argument("folder")
    sp.add_argument("--out", required=True, help="output folder: OUT/<slide>/ per finished slide")
    src = sp.add_mutually_exclusive_group(required=True)
    src.add_argument("--project", help="use this project's current model")
    src.add_argument("--model", help="a model folder (models/seg-vNNNN of a project)")
    sp.add_argument("--magnification", type=float, default=None, help="default: the project's regions' (20x)")
    sp.add_argument("--executor", choices=EXECUTORS, default="local")
    sp.add_argument("--address", help="Ray cluster address (ray://host:10001 or auto); default: a local Ray")
    sp.add_argument("--device", help="cpu, cuda or cuda:N")
    sp.add_argument("-q", "--quiet", action="store_true")

    sp = add(
        "slide-annotations",
        cmd_slide_annotations,
        "QuPath GeoJSON annotations of a slide -> labels of its regions",
    )
    sp.add_argument("project")
    sp.add_argument("slide", help="slide id or file name")
    sp.add_argument("geojson")
    sp.add_argument("--class", dest="class_name", help="only features of this classification")
    sp.add_argument("--draft", action="store_true", help="save without marking the regions done")

    sp = add("slide-export", cmd_slide_export, "the labelled regions of a slide as QuPath GeoJSON")
    sp.add_argument("project")
    sp.add_argument("slide", help="slide id or file name")
    sp.add_argument("out", help="a .geojson file")


def cmd_segment_slides(args: argparse.Namespace) -> int:
    from qsa_gui.core.slides.batch import find_slides, segment_slides_job

    magnification = args.magnification
    if args.project:
        project = open_project(args.project, read_only=True)
        with project:
            if project.current_model is None:
                raise QSAError(f"project {project.folder} has no model yet: train one first (qsa train)")
            model = project.model_path(project.current_model)
            if magnification is None and project.slides:
                magnification = project.slides[-1].magnification
    else:
        model = Path(args.model)
    slides = find_slides(args.folder)
    if not slides:
        raise QSAError(f"no slides in {args.folder} (.svs, .ndpi, pyramidal or tiled BigTIFF files)")
    report = run_with_progress(
        lambda c: segment_slides_job(
            slides, args.out, model, magnification=magnification or 20.0, device=args.device,
            executor=args.executor, address=args.address, cancel=c,
        ),
        args.quiet,
    )  # fmt: skip
    print(report.table())
    return 2 if report.failed else 0


def cmd_slide_annotations(args: argparse.Namespace) -> int:
    from qsa_gui.core.slides.annotations import find_slide, import_annotations

    with open_project(args.project) as project:
        slide_id = find_slide(project, args.slide)
        r = import_annotations(
            project, slide_id, args.geojson, class_name=args.class_name, done=not args.draft
        )
    where = f"{len(r.regions)} regions of {r.slide_id}"
    print(f"{r.features} features of {args.geojson}: {r.objects} objects in {where}")
    if not r.regions:
        print("no region of the slide is covered by these annotations", file=sys.stderr)
    return 0


def cmd_slide_export(args: argparse.Namespace) -> int:
    from qsa_gui.core.slides.annotations import export_region_labels, find_slide

    with open_project(args.project, read_only=True) as project:
        n = export_region_labels(project, find_slide(project, args.slide), args.out)
    print(f"wrote {n} features to {args.out}")
    return 0
