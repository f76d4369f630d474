"""Guards that keep the saved labels true to what the pathologist meant.

Why: Mark done used to save whatever the labels layer held -- nothing at all on a segmented image
whose prediction was never accepted, or the last autosave when the layer had been deleted -- and
undoing Accept left an empty "in progress" label behind. These checks are Qt-free so the rules
are tested without a display; the panel only asks the questions they raise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: What :func:`done_check` finds before Mark done.
DONE_OK, DONE_NO_LAYER, DONE_EMPTY = "ok", "no_layer", "empty"
#: Answers to "this image has no glands": accept the prediction first, save it empty, keep editing.
ANSWER_ACCEPT, ANSWER_EMPTY, ANSWER_KEEP = "accept", "empty", "keep"


def count_glands(labels: np.ndarray | None) -> int:
    """Distinct non-zero labels (each gland is its own label number)."""
    if labels is None:
        return 0
    values = np.unique(np.asarray(labels))
    return int(np.count_nonzero(values))


def done_check(labels: np.ndarray | None) -> str:
    """DONE_NO_LAYER when nothing is being painted (layer deleted), DONE_EMPTY on 0 glands."""
    if labels is None:
        return DONE_NO_LAYER
    return DONE_EMPTY if count_glands(labels) == 0 else DONE_OK


@dataclass
class AcceptMemo:
    """The state just before Accept prediction, so that undoing the accept restores it.

    ``before`` is the labels before the copy; when the labels layer holds exactly that again
    (Ctrl+Z), the prediction comes back and nothing is written for the undone accept.
    """

    image_id: str | None = None
    prediction: np.ndarray | None = None
    before: np.ndarray | None = None

    def remember(self, image_id: str, prediction: np.ndarray, before: np.ndarray) -> None:
        self.image_id = image_id
        self.prediction = np.array(prediction, dtype=np.int32, copy=True)
        self.before = np.array(before, dtype=np.int32, copy=True)

    def clear(self) -> None:
        self.image_id = self.prediction = self.before = None

    @property
    def pending(self) -> bool:
        return self.image_id is not None

    def undone(self, image_id: str | None, labels: np.ndarray | None) -> np.ndarray | None:
        """The prediction to show again if ``labels`` are back to the pre-accept state, else None."""
        if not self.pending or image_id != self.image_id or labels is None or self.before is None:
            return None
        data = np.asarray(labels)
        if data.shape != self.before.shape or not np.array_equal(data, self.before):
            return None
        prediction = self.prediction
        self.clear()
        return prediction


__all__ = [
    "ANSWER_ACCEPT", "ANSWER_EMPTY", "ANSWER_KEEP", "AcceptMemo", "DONE_EMPTY", "DONE_NO_LAYER", "DONE_OK",
    "count_glands", "done_check",
]  # fmt: skip
