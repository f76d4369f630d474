"""The `qsa` parser (choices built from the strategy and preset registries) and the entry point."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from .experiment_commands import cmd_demo, cmd_glas, cmd_replay
from .model_commands import cmd_evaluate, cmd_segment, cmd_suggest, cmd_train
from .plumbing import bits_arg as _bits_arg
from .plumbing import int_at_least as _int_at_least
from .plumbing import quit_now as _quit_now
from .plumbing import run_command as _run_command
from .project_commands import cmd_export, cmd_import, cmd_init, cmd_label, cmd_status
from .settings_commands import add_settings_parser
from .slide_commands import add_commands as _add_slide_commands
from .slide_commands import add_import_options as _add_slide_import_options


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qsa",
        description="Quantized suggestive annotation: which histology images to label next, "
        "and a quantized segmentation FCN retrained on your labels, offline.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        return sp

    from ..core.active import strategies as registry
    from ..core.model.fcn import PRESETS
    from ..core.quant.inq import MAX_BITS, MIN_BITS

    presets = sorted(PRESETS)
    preset_help = f"model width preset: {', '.join(presets)}"
    strategy_help = "; ".join(f"{s}: {registry.get_strategy(s).description}" for s in registry.STRATEGIES)
    bits_help = f"INQ bits ({MIN_BITS}..{MAX_BITS}) of the %s, or 'float' for float weights"

    def knobs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--preset", choices=presets, help=preset_help)
        sp.add_argument(
            "--ensemble-bits", dest="ensemble_bits", type=_bits_arg, help=bits_help % "suggestive FCNs"
        )
        sp.add_argument("--seg-bits", dest="seg_bits", type=_bits_arg, help=bits_help % "segmentation FCN")
        sp.add_argument(
            "--ensemble-size",
            dest="ensemble_size",
            type=_int_at_least(1),
            help="number of suggestive FCNs (K)",
        )
        sp.add_argument("--iterations", type=_int_at_least(0), help="training iterations per model")
        sp.add_argument("--seed", type=int)
        sp.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sp = add("init", cmd_init, "create an empty project folder")
    sp.add_argument("project")
    sp.add_argument("--name")
    knobs(sp)
    sp.add_argument("--strategy", choices=registry.STRATEGIES, help=strategy_help)

    sp = add("import", cmd_import, "import images (TIFF/OME-TIFF, PNG, JPEG, BMP) and slides (SVS, NDPI ...)")
    sp.add_argument("project")
    sp.add_argument("paths", nargs="*")
    sp.add_argument(
        "--labels",
        help="folder of label images (imported as done). A label file matches an image whose name it "
        "repeats exactly (case ignored, suffix such as .png/.tif free), optionally followed by _anno, "
        "_label, _labels, _mask, _masks, -label, -labels, -mask or -masks: g1.png <- g1_anno.tif, "
        "never g12.tif. Two candidates for one image, or one label file for two images, is an error; "
        "images without labels and label files left unused are listed",
    )
    sp.add_argument("--test", action="store_true", help="import as held-out test images (need --labels)")
    sp.add_argument("--no-copy", action="store_true", help="reference the files instead of copying them")
    sp.add_argument("--glas", help="a GlaS challenge folder: train as the pool, testA/testB as test sets")
    sp.add_argument(
        "--with-labels", action="store_true", help="with --glas: import the train annotations too"
    )
    _add_slide_import_options(sp)

    sp = add("status", cmd_status, "show every image's status and the latest suggestions (label-status)")
    sp.add_argument("project")
    sp.add_argument("--json", action="store_true")

    add_settings_parser(add)

    sp = add("label", cmd_label, "attach a label image (instance labels) to an image and mark it done")
    sp.add_argument("project")
    sp.add_argument("image", help="image id or file name")
    sp.add_argument("labels", nargs="?", help="label image file (0 = background, 1..N = glands)")
    sp.add_argument("--user", default=None)
    sp.add_argument("--draft", action="store_true", help="save without marking the image done")
    sp.add_argument("--history", action="store_true", help="list the kept versions of the image's labels")
    sp.add_argument("--restore", type=int, metavar="N", help="make label version N current (a new version)")

    sp = add("suggest", cmd_suggest, "train the suggestive ensemble and pick the images to label next")
    sp.add_argument("project")
    sp.add_argument("--strategy", choices=registry.STRATEGIES, help=strategy_help)
    sp.add_argument(
        "-k", type=_int_at_least(1), help="how many images to suggest, at least 1 (default: 10%% of the pool)"
    )
    knobs(sp)

    sp = add("train", cmd_train, "retrain the segmentation FCN on all labels (kept out if it is worse)")
    sp.add_argument("project")
    sp.add_argument("--from", dest="start_from", help="fine-tune from this earlier model version")
    knobs(sp)

    sp = add("segment", cmd_segment, "segment images with the current model (default: all unlabelled)")
    sp.add_argument("project")
    sp.add_argument("images", nargs="*")
    sp.add_argument("-q", "--quiet", action="store_true")

    sp = add("evaluate", cmd_evaluate, "GlaS metrics of the current model on labelled test images")
    sp.add_argument("project")
    sp.add_argument("--split", default="test")
    sp.add_argument("-q", "--quiet", action="store_true")

    sp = add("export", cmd_export, "export labels (and predictions) as TIFF and the current model")
    sp.add_argument("project")
    sp.add_argument("out")
    sp.add_argument(
        "--predictions", action="store_true", help="kept for old scripts: predictions are always exported"
    )

    _add_slide_commands(add)

    sp = add("demo", cmd_demo, "the whole loop on generated glands: QSA vs random, 10%% to 50%% labelled")
    sp.add_argument("--quick", action="store_true", help="a smaller run (3 seeds in under a minute)")
    sp.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="independent repeats, paired (default 0 1 2)"
    )
    sp.add_argument("--seed", type=int, help="one seed only (no interval); with --write-project, its seed")
    sp.add_argument("--workers", type=int, help="seeds run at once, one process each (default: one per core)")
    sp.add_argument("--per-seed", action="store_true", help="also print each seed's round-by-round table")
    sp.add_argument("--plot", metavar="PNG", help="also plot the learning curves with 95%% bands here")
    sp.add_argument(
        "--strategies",
        help=f"comma-separated, from {','.join(s for s in registry.STRATEGIES if s != 'diverse')}",
    )
    sp.add_argument("--json", help="also write the table rows as JSON here")
    sp.add_argument(
        "--write-project", metavar="FOLDER", help="instead: write a demo project folder to open in the GUI"
    )
    sp.add_argument("-q", "--quiet", action="store_true")

    sp = add(
        "replay",
        cmd_replay,
        "would the suggestions have saved labels here? QSA vs random on this project's labelled images",
    )
    sp.add_argument("project")
    sp.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one paired run per seed")
    sp.add_argument("--strategies", default="qsa,random", help="comma-separated; random is the baseline")
    sp.add_argument("--fractions", default="0.1,0.2,0.3,0.4,0.5", help="labelled shares of the pool")
    sp.add_argument(
        "--test-fraction",
        dest="test_fraction",
        type=float,
        default=0.25,
        help="share of labelled pool images held out when the project has no labelled test images",
    )
    sp.add_argument("--plot", help="PNG of the learning curves (default: replay.png here)")
    sp.add_argument("--workers", type=int, help="runs at once, one process each (default: one per core)")
    sp.add_argument("--json", help="also write the rows as JSON here")
    knobs(sp)

    sp = add("glas", cmd_glas, "reproduce the paper's GlaS table from a GlaS challenge folder (GPU advised)")
    sp.add_argument("folder", help="folder with train_N.bmp, train_N_anno.bmp, testA_*, testB_*, Grade.csv")
    sp.add_argument("--preset", default="paper", choices=presets, help=preset_help)
    sp.add_argument("--strategies", default="qsa,full", help="e.g. qsa,random,full (full = 100%% reference)")
    sp.add_argument("--fractions", default="0.1,0.2,0.3,0.4,0.5")
    sp.add_argument("--iterations", type=int, default=4000)
    sp.add_argument("--patch-size", dest="patch_size", type=int, default=448)
    sp.add_argument("--batch-size", dest="batch_size", type=int, default=8)
    sp.add_argument("--seg-models", dest="seg_models", type=int, default=5)
    sp.add_argument("--seed", type=int)
    sp.add_argument("--device")
    sp.add_argument("--json")
    sp.add_argument("-q", "--quiet", action="store_true")
    return p


def _tolerant_streams() -> None:
    """Never fail on printing: file names need not be valid in the terminal's encoding."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a stream that refuses
                pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Exit 0 ok, 2 bad input / file / project problem (one line on stderr),
    130 cancelled, 1 an internal error (one line too; QSA_DEBUG=1 shows the traceback)."""
    try:  # everything, imports and parsing included, inside the Ctrl-C handler
        _tolerant_streams()
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:  # KEY=VALUE after an option (`qsa settings P --preset quick k=v`): argparse leaves them
            if getattr(args, "assignments", None) is None:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            args.assignments += extra
        return _run_command(args.func, args)
    except KeyboardInterrupt:
        # Outside a job (start-up, imports, parsing, plain file work): nothing was committed by us.
        signal.signal(signal.SIGINT, _quit_now)
        print("qsa: cancelled with Ctrl-C", file=sys.stderr)
        return 130
