"""A section of the panel that folds to its title: the panel fits a 720 px laptop screen.

Why: the assistant stacks a header, the gallery, the tabs and two rows of buttons; on a
1280x720 or 1366x768 screen there is not room for all of them at once. A folded section keeps
only its title line (click it to open it again), so the user chooses what takes the height.
"""

from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QSizePolicy, QSplitter, QToolButton, QVBoxLayout, QWidget


class CollapsibleSection(QWidget):
    """``title`` as a flat arrow button over ``content``; :meth:`set_expanded` folds it."""

    toggled = Signal(bool)

    def __init__(self, title: str, content: QWidget, parent: QWidget | None = None, *, stretch: bool = False):
        super().__init__(parent)
        self.content = content
        self._stretch = stretch
        self._unfolded_size = 0  # its share of a splitter before it folded
        self.button = QToolButton(self)
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setChecked(True)
        self.button.setAutoRaise(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setArrowType(Qt.ArrowType.DownArrow)
        self.button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.button.setToolTip(f"Fold or unfold “{title}”")
        self.button.toggled.connect(self.set_expanded)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addWidget(self.button)
        layout.addWidget(content, 1)
        self._apply(True)

    @property
    def expanded(self) -> bool:
        return self.button.isChecked()

    def set_expanded(self, expanded: bool) -> None:
        if self.button.isChecked() != bool(expanded):
            self.button.setChecked(bool(expanded))  # comes back here through toggled
            return
        self._apply(bool(expanded))
        self._share_splitter(bool(expanded))
        self.toggled.emit(bool(expanded))

    def _apply(self, expanded: bool) -> None:
        self.content.setVisible(expanded)
        self.button.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        grow = expanded and self._stretch
        policy = QSizePolicy.Policy
        self.setSizePolicy(policy.Preferred, policy.Expanding if grow else policy.Maximum)
        if not expanded:
            self.setMaximumHeight(self.button.sizeHint().height() + 2)
        else:
            self.setMaximumHeight(16777215)

    def _share_splitter(self, expanded: bool) -> None:
        """In a splitter, a folded section gives its height to its neighbours (and takes it back)."""
        splitter = self.parentWidget()
        if not isinstance(splitter, QSplitter):
            return
        sizes, i = splitter.sizes(), splitter.indexOf(self)
        if i < 0 or len(sizes) < 2:
            return
        other = 0 if i != 0 else 1
        if expanded:
            want = max(self._unfolded_size, self.minimumSizeHint().height())
            give = max(0, min(want - sizes[i], sizes[other] - 40))
        else:
            self._unfolded_size = sizes[i]
            give = -(sizes[i] - (self.button.sizeHint().height() + 2))
        sizes[i] += give
        sizes[other] -= give
        splitter.setSizes(sizes)


__all__ = ["CollapsibleSection"]
