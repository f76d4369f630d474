"""Small pieces every benchmark script ends with: write the JSON result, finish the figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_result(out: Path, result: dict[str, Any]) -> None:
    """Write ``result`` as JSON to ``out`` (folders created) and echo it for the log."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1, default=float))


def finish_figure(fig: Any, path: Path, title: str) -> None:
    """Title, tight layout, PNG at a size that reads well in docs/benchmarks.md, and close."""
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
