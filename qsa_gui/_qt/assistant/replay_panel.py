"""The History tab's replay: "would the suggestions have saved you labels here?"

Why in the GUI and not only `qsa replay`: the only evidence that counts for a lab is its own
images, and the pathologist who labelled them is in the window, not at a terminal. The replay
is a job like Suggest (the ``replay`` verb, in the worker process; it reads the project and
writes nothing), so the window stays responsive and Cancel works; its answer is one sentence in
plain words in the tab and, on request, the learning curves (the figure of `qsa replay`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from qsa_gui.components.outcomes import replay_outcome
from qsa_gui.core.jobspec import JobSpec

from .results import RunningJob
from .view import show_levelled

if TYPE_CHECKING:
    from qsa_gui.core.workflow.results import ReplayResult

    from .widget import AssistantWidget

REPLAY_TIP = (
    "Simulates the last rounds on the images you have already labelled: the model is trained on a "
    "growing share of them, chosen once by the suggestions and once at random, and measured on "
    "labelled images it never sees. Each repeat starts from a different first set; the answer says "
    "whether the suggestions saved labels here or the difference is within chance."
)


class ReplayRow(QWidget):
    """The question, Replay with its number of repeats, and the answer; the curves open in
    :class:`ReplayDialog`."""

    def __init__(self, w: AssistantWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.w = w
        self.result: ReplayResult | None = None
        self.dialog: ReplayDialog | None = None
        self.question = QLabel("Would suggestions have saved labels here?", self)
        self.question.setWordWrap(True)  # a narrow dock wraps it: the panel never gets wider
        self.question.setToolTip(REPLAY_TIP)
        self.button = QPushButton("Replay", self)
        self.button.setToolTip(REPLAY_TIP)
        self.button.clicked.connect(self.start)
        self.repeats = QSpinBox(self)
        self.repeats.setRange(1, 10)
        self.repeats.setValue(3)
        self.repeats.setSuffix(" repeats")
        self.repeats.setToolTip("More repeats: a narrower interval, and proportionally longer.")
        self.curves = QPushButton("Curves…", self)
        self.curves.setToolTip("The learning curves of both choices with their 95% bands")
        self.curves.clicked.connect(self.show_curves)
        self.answer = QLabel("", self)
        self.answer.setWordWrap(True)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button, 1)
        row.addWidget(self.repeats)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.question)
        lay.addLayout(row)
        lay.addWidget(self.answer)
        lay.addWidget(self.curves)  # its own row, shown with an answer: a narrow dock stays narrow
        self.reset()

    def reset(self) -> None:
        """A new project: no answer of another one stays on show."""
        self.result = None
        show_levelled(self.answer, "", "info")
        self.curves.setEnabled(False)
        self.curves.setVisible(False)
        if self.dialog is not None:
            self.dialog.close()

    def start(self) -> None:
        w = self.w
        if w.project is None:
            return
        from qsa_gui.core.workflow.replay import MIN_POOL, replay_split

        pool, test, _ = replay_split(w.project)
        if len(pool) < MIN_POOL or not test:
            self._show(
                f"The replay needs at least {MIN_POOL + 1} labelled images (it holds some out to test "
                f"on); this project has {len(pool) + len(test)}. Label a few more first.",
                "warning",
            )
            return
        w._flush_labels()
        project, settings = w.project, w.job_settings()
        job = RunningJob("Replay", "replay", project, self.done)
        spec = JobSpec.make("replay", project, settings, seeds=list(range(self.repeats.value())))
        if w._start(job, w.runner.spec_factory(spec, project)):
            self._show("Replaying the rounds on your labelled images…", "info")

    def done(self, result: ReplayResult) -> None:
        self.result = result
        self._show(*replay_outcome(result))
        self.answer.setToolTip(result.table())
        self.curves.setEnabled(True)
        self.curves.setVisible(True)
        self.w.session.report(self.answer.text(), "info")

    def _show(self, text: str, level: str) -> None:
        show_levelled(self.answer, text, level)

    def show_curves(self) -> None:
        if self.result is None:
            return
        if self.dialog is None:
            self.dialog = ReplayDialog(self.window())
        self.dialog.show_result(self.result, self.answer.text())
        self.dialog.show()
        self.dialog.raise_()


class ReplayDialog(QDialog):
    """The replay's learning curves and paired difference (non-modal: work goes on beside it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.setWindowTitle("Would suggestions have saved labels here?")
        self.figure = Figure(figsize=(9, 3.6))
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.text = QLabel("", self)
        self.text.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.text)
        self.resize(900, 440)

    def show_result(self, result: ReplayResult, answer: str) -> None:
        from qsa_gui.paired_figure import draw_paired_curves

        self.figure.clear()
        draw_paired_curves(self.figure, result)
        self.figure.suptitle(
            f"{result.n_pool} labelled images as the pool, {result.n_test} held out to test, "
            f"{len(result.seeds)} repeats",
            fontsize=10,
        )
        self.figure.tight_layout()
        self.canvas.draw_idle()
        self.text.setText(answer)
