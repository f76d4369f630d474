"""Building the assistant panel's widgets (layout only: no state, no decisions).

Why apart from the widget: two hundred lines of layout hid the panel's behaviour; here they sit
on their own, and every button's text, tooltip and handler come from :mod:`qsa_gui._qt.actions`.

Sizes: the panel must fit a 1280x720 laptop screen beside the canvas. Its sections fold
(:class:`~qsa_gui._qt.collapsible.CollapsibleSection`), the whole of it scrolls when even that is
too tall, and it asks for :data:`PANEL_WIDTH` px, not the width of its widest table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtGui import QAction, QFont, QKeySequence
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QShortcut,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qsa_gui.components.records import R_TIP, U_TIP
from qsa_gui.core.project.store import STATUS_LABELLED

from ..actions import ACTIONS, SHORTCUTS
from ..collapsible import CollapsibleSection
from ..gallery import STATUS_COLOURS, GalleryWidget
from ..heat_legend import HeatLegend
from ..history_plot import HistoryPlot
from ..progress_panel import ProgressPanel
from ..sparkline import LossSparkline
from .replay_panel import ReplayRow

if TYPE_CHECKING:
    from .widget import AssistantWidget

BOLD = ("next_suggested", "mark_done", "suggest")
#: The width the panel asks for (its sizeHint); it can be dragged down to PANEL_MIN_WIDTH.
PANEL_WIDTH = 340
PANEL_MIN_WIDTH = 280
#: Below these the gallery and the tabs scroll rather than push the window taller.
GALLERY_MIN_HEIGHT = 96
TABS_MIN_HEIGHT = 110


def build_panel(w: AssistantWidget, thumbnail_size: int) -> None:
    """Create the panel's widgets as attributes of ``w`` and lay them out."""

    def handler(key: str) -> Callable[[], object]:
        return getattr(w, ACTIONS[key].handler)

    def menu_action(menu: QMenu, key: str) -> QAction:
        spec = ACTIONS[key]
        return menu.addAction(spec.text, lambda: handler(key)())

    def button(key: str, slot: Callable[[], object] | None = None) -> QPushButton:
        spec = ACTIONS[key]
        b = QPushButton(spec.text, w)
        call = slot or handler(key)
        b.clicked.connect(lambda _checked=False: call())
        b.setToolTip(f"{spec.tip}  [{spec.shortcut}]" if spec.shortcut else spec.tip)
        b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        b.setMinimumWidth(60)
        if key in BOLD:
            f = QFont(b.font())
            f.setBold(True)
            b.setFont(f)
        return b

    # -- header
    w.project_button = QToolButton(w)
    w.project_button.setObjectName("qsaProjectButton")
    # the arrow is part of the text: styles (napari's included) draw a menu indicator on top
    # of the text of a narrow tool button, which clipped "Project" in a narrow dock
    w.project_button.setText("Project ▾")
    w.project_button.setToolTip("Open, create, import into or export the annotation project")
    w.project_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    w.project_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    w.project_button.setStyleSheet(
        "QToolButton#qsaProjectButton { padding: 2px 8px; }"
        "QToolButton#qsaProjectButton::menu-indicator { image: none; width: 0px; }"
    )
    w.project_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    w.project_button.setMinimumWidth(
        w.project_button.fontMetrics().horizontalAdvance(w.project_button.text()) + 24
    )
    menu = QMenu(w.project_button)
    w.open_action = menu_action(menu, "open_project")
    w.new_action = menu_action(menu, "new_project")
    w.demo_action = menu_action(menu, "demo_project")
    menu.addSeparator()
    w.import_action = menu_action(menu, "import_images")
    w.export_action = menu_action(menu, "export")
    w.settings_action = menu_action(menu, "settings")
    menu.addSeparator()
    w.label_history_action = menu_action(menu, "label_history")
    menu.addSeparator()
    w.close_action = menu_action(menu, "close_project")
    w.shortcuts_action = menu_action(menu, "shortcuts_help")
    w.project_button.setMenu(menu)

    w.name_label = QLabel("No project open", w)
    name_font = QFont(w.name_label.font())
    name_font.setBold(True)
    if name_font.pointSizeF() > 0:
        name_font.setPointSizeF(name_font.pointSizeF() * 1.2)
    w.name_label.setFont(name_font)
    w.name_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    w.counts_label = QLabel("", w)
    counts_font = QFont(w.counts_label.font())
    counts_font.setBold(True)
    w.counts_label.setFont(counts_font)
    w.counts_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    w.labelled_bar = QProgressBar(w)
    w.labelled_bar.setTextVisible(False)
    w.labelled_bar.setFixedHeight(6)
    w.labelled_bar.setStyleSheet(
        "QProgressBar { border: none; background: rgba(128,128,128,60); border-radius: 3px; }"
        f"QProgressBar::chunk {{ background: {STATUS_COLOURS[STATUS_LABELLED]}; border-radius: 3px; }}"
    )
    w.detail_label = QLabel("", w)
    w.detail_label.setWordWrap(True)
    w.detail_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    top = QHBoxLayout()
    top.setContentsMargins(0, 0, 0, 0)
    top.addWidget(w.name_label, 1)
    top.addWidget(w.counts_label)
    top.addWidget(w.project_button)
    header = QVBoxLayout()
    header.setSpacing(3)
    header.addLayout(top)
    header.addWidget(w.labelled_bar)
    header.addWidget(w.detail_label)

    # -- gallery, or a hint while no project is open
    w.gallery = GalleryWidget(w, thumbnail_size=thumbnail_size)
    w.gallery.current_changed.connect(w.on_gallery_current)
    w.gallery.image_activated.connect(w.on_gallery_current)
    w.empty_page = QWidget(w)
    hint = QLabel(
        "<b>No project open.</b><br>Start a new project and import your images, open an "
        "existing project folder, or try a demo project of generated glands.",
        w.empty_page,
    )
    hint.setWordWrap(True)
    hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
    empty_buttons = QGridLayout()
    for i, (attr, text, slot) in enumerate((
        ("empty_new_button", "New project…", lambda: w.ask_new_project()),
        ("empty_open_button", "Open project…", lambda: w.ask_open_project()),
        ("empty_import_button", "Import images…", lambda: w.ask_import_images()),
        ("empty_demo_button", "New demo project…", lambda: w.ask_demo_project()),
    )):  # fmt: skip
        b = QPushButton(text, w.empty_page)
        b.clicked.connect(lambda _checked=False, f=slot: f())
        setattr(w, attr, b)
        empty_buttons.addWidget(b, i // 2, i % 2)
    w.empty_import_button.setToolTip("Choose images, then a folder for the new project that holds them")
    empty = QVBoxLayout(w.empty_page)
    empty.addStretch(1)
    empty.addWidget(hint)
    empty.addLayout(empty_buttons)
    empty.addStretch(1)
    w.gallery_stack = QStackedWidget(w)
    w.gallery_stack.addWidget(w.empty_page)
    w.gallery_stack.addWidget(w.gallery)

    # -- actions: texts, tooltips and handlers from the one table (actions.py)
    w.previous_button = button("previous_image")
    w.next_button = button("next_image")
    w.next_suggested_button = button("next_suggested")
    w.mark_done_button = button("mark_done")
    w.accept_button = button("accept_prediction")
    w.heatmap_button = button("heatmap", lambda: w.toggle_heatmap(w.heatmap_button.isChecked()))
    w.heatmap_button.setCheckable(True)
    w.heatmap_button.setToolTip("")
    w.suggest_button = button("suggest")
    w.retrain_button = button("retrain")
    w.new_gland_button = button("new_gland")
    w.trace_button = button("trace_gland")
    w.trace_button.setCheckable(True)
    w.outline_button = button("outlines")
    w.outline_button.setCheckable(True)
    w.segment_button = button("segment_current")
    w.segment_all_button = button("segment_all")
    w.segment_slide_button = button("segment_slide")  # shown in projects with slides

    annotate = QWidget(w)
    grid = QGridLayout(annotate)
    grid.setContentsMargins(6, 4, 6, 6)
    grid.setSpacing(4)
    # two columns: three buttons a row clipped their texts in a 340 px dock
    grid.addWidget(w.previous_button, 0, 0)
    grid.addWidget(w.next_button, 0, 1)
    grid.addWidget(w.next_suggested_button, 1, 0)
    grid.addWidget(w.mark_done_button, 1, 1)
    grid.addWidget(w.accept_button, 2, 0)
    grid.addWidget(w.heatmap_button, 2, 1)
    tools = QHBoxLayout()  # the annotation tools: short texts, three fit one row
    tools.setSpacing(4)
    for b in (w.new_gland_button, w.trace_button, w.outline_button):
        tools.addWidget(b)
    grid.addLayout(tools, 3, 0, 1, 2)
    model = QWidget(w)
    grid2 = QGridLayout(model)
    grid2.setContentsMargins(6, 4, 6, 6)
    grid2.setSpacing(4)
    grid2.addWidget(w.suggest_button, 0, 0)
    grid2.addWidget(w.retrain_button, 0, 1)
    grid2.addWidget(w.segment_button, 1, 0)
    grid2.addWidget(w.segment_all_button, 1, 1)
    grid2.addWidget(w.segment_slide_button, 2, 0, 1, 2)

    w.image_label = QLabel("", w)
    w.image_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    w.show_slide_button = button("show_slide")  # beside the image's name: no extra row
    w.show_slide_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    image_row = QHBoxLayout()
    image_row.setContentsMargins(0, 0, 0, 0)
    image_row.addWidget(w.image_label, 1)
    image_row.addWidget(w.show_slide_button)
    w.message_label = QLabel("", w)
    w.message_label.setWordWrap(True)
    w.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    w.message_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    w.message_label.setVisible(False)
    w.progress_panel = ProgressPanel(w)

    # -- tabs
    w.tabs = QTabWidget(w)
    # four tabs must not set the dock's minimum width: scroll buttons, not a wider panel
    w.tabs.setUsesScrollButtons(True)
    w.tabs.tabBar().setExpanding(False)
    suggestions_page = QWidget(w)
    w.round_label = QLabel("No suggestions yet: press Suggest.", suggestions_page)
    w.round_label.setWordWrap(True)
    w.suggestion_table = QTableWidget(0, 5, suggestions_page)
    w.suggestion_table.setHorizontalHeaderLabels(["#", "Image", "Status", "Uncertainty", "Repr."])
    for col, tip in ((3, U_TIP), (4, R_TIP)):
        w.suggestion_table.horizontalHeaderItem(col).setToolTip(tip + " (– before any image is labelled)")
    w.suggestion_table.verticalHeader().setVisible(False)
    w.suggestion_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    w.suggestion_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    w.suggestion_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    head = w.suggestion_table.horizontalHeader()
    head.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    head.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    w.suggestion_table.cellClicked.connect(w.on_suggestion_clicked)
    lay = QVBoxLayout(suggestions_page)
    lay.setContentsMargins(4, 4, 4, 4)
    lay.addWidget(w.round_label)
    lay.addWidget(w.suggestion_table, 1)
    w.tabs.addTab(suggestions_page, "Suggestions")

    training_page = QWidget(w)
    w.loss_plot = LossSparkline(training_page)
    w.validation_label = QLabel("No model trained yet.", training_page)
    w.validation_label.setWordWrap(True)
    lay = QVBoxLayout(training_page)
    lay.setContentsMargins(4, 4, 4, 4)
    lay.addWidget(w.loss_plot, 1)
    lay.addWidget(w.validation_label)
    w.tabs.addTab(training_page, "Training")

    history_page = QWidget(w)
    w.history_plot = HistoryPlot(history_page, show_live_loss=False)
    w.history_label = QLabel("", history_page)
    w.history_label.setWordWrap(True)
    lay = QVBoxLayout(history_page)
    lay.setContentsMargins(4, 4, 4, 4)
    lay.addWidget(w.history_plot, 1)
    lay.addWidget(w.history_label)
    w.replay = ReplayRow(w, history_page)
    lay.addWidget(w.replay)
    w.tabs.addTab(history_page, "History")
    w.tabs.addTab(w.glands.list, "Glands")
    w.history_page = history_page
    w.tabs.currentChanged.connect(lambda _i: w.view.draw_history_if_shown())

    w.gallery_stack.setMinimumSize(PANEL_MIN_WIDTH - 40, GALLERY_MIN_HEIGHT)
    w.tabs.setMinimumHeight(TABS_MIN_HEIGHT)
    w.tabs_section = CollapsibleSection("Suggestions · Training · History", w.tabs, w, stretch=True)
    w.annotate_section = CollapsibleSection("Annotate", annotate, w)
    w.model_section = CollapsibleSection("Model", model, w)
    splitter = QSplitter(Qt.Orientation.Vertical, w)
    splitter.addWidget(w.gallery_stack)
    splitter.addWidget(w.tabs_section)
    splitter.setStretchFactor(0, 3)
    splitter.setStretchFactor(1, 2)
    splitter.setChildrenCollapsible(False)
    splitter.setSizes([300, 180])
    w.splitter = splitter

    line = QFrame(w)
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)

    content = QWidget(w)
    content.setObjectName("qsaAssistantContent")
    layout = _FitHeightLayout(content)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.setSpacing(4)
    layout.addLayout(header)
    layout.addWidget(line)
    layout.addWidget(splitter, 1)
    layout.addLayout(image_row)
    layout.addWidget(w.annotate_section)
    w.heat_legend = HeatLegend(w)  # shown with the heat-map: its scale, meaning and opacity
    layout.addWidget(w.heat_legend)
    layout.addWidget(w.model_section)
    layout.addWidget(w.message_label)
    layout.addWidget(w.progress_panel)
    # a last resort when even the folded sections do not fit: the panel scrolls, the window
    # never grows taller than the screen
    w.scroll_area = QScrollArea(w)
    w.scroll_area.setWidget(content)
    w.scroll_area.setWidgetResizable(True)
    w.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
    w.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    outer = QVBoxLayout(w)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(w.scroll_area)
    # the tabs first, then the model's buttons (used once a session): never the annotation tools
    w.fold_when_tight = FoldWhenTight(w.scroll_area, content, (w.tabs_section, w.model_section), w.gallery)
    w.setMinimumWidth(PANEL_MIN_WIDTH)


class _FitHeightLayout(QVBoxLayout):
    """A column that does not trade height for width.

    Why: the word-wrapped message line made the whole column height-for-width, and a scroll area
    then sizes such a widget to its *preferred* height for the width (1130 px at 1400x900), never
    shrinking the gallery/tabs splitter to the screen: the panel scrolled, and the tabs section
    was folded to make room. Without it the scroll area fits the column to the viewport down to
    its minimum, and scrolls only below that.
    """

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return False


class FoldWhenTight(QObject):
    """Folds ``sections`` one at a time, in order, while ``content`` does not fit its scroll
    area's height (a laptop screen) or ``gallery`` had to shrink its thumbnails to keep a row of
    tiles in view, so the buttons below stay in view and the gallery stays usable. A section the
    user folded or opened is theirs: it is never folded for them again."""

    def __init__(
        self,
        area: QScrollArea,
        content: QWidget,
        sections: Sequence[CollapsibleSection],
        gallery: GalleryWidget | None = None,
    ) -> None:
        super().__init__(area)
        self.area, self.content, self.gallery = area, content, gallery
        self.sections = list(sections)
        self.chosen: set[int] = set()  # indices of the sections the user folded or opened
        for i, section in enumerate(self.sections):
            section.button.clicked.connect(lambda _checked=False, i=i: self.chosen.add(i))
        area.viewport().installEventFilter(self)
        content.installEventFilter(self)

    @property
    def user_chose(self) -> bool:
        """True once the user folded or opened the first section (the tabs) themselves."""
        return 0 in self.chosen

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() in (QEvent.Type.Resize, QEvent.Type.LayoutRequest) and self._foldable():
            QTimer.singleShot(50, self.check)  # once the scroll area has laid the content out
        return False

    def _foldable(self) -> list[CollapsibleSection]:
        return [s for i, s in enumerate(self.sections) if i not in self.chosen and s.expanded]

    def check(self) -> None:
        """Fold the next section if the panel scrolls now (its buttons would be out of view) or
        the gallery shows its row of tiles only with shrunk thumbnails; the fold's own relayout
        checks again."""
        foldable = self._foldable()
        if not foldable:
            return
        squeezed = self.gallery is not None and self.gallery.isVisible() and self.gallery.shrunk
        if self.area.verticalScrollBar().maximum() > 0 or squeezed:
            foldable[0].set_expanded(False)


def install_shortcuts(w: AssistantWidget) -> dict[str, QShortcut]:
    """The panel's window-wide shortcuts; each acts only when its action's rule allows it."""
    shortcuts = {}
    for key, seq in SHORTCUTS.items():
        sc = QShortcut(QKeySequence(seq), w)
        sc.setContext(Qt.ShortcutContext.WindowShortcut)
        sc.activated.connect(lambda k=key: w.trigger(k))
        shortcuts[key] = sc
    return shortcuts


__all__ = ["PANEL_MIN_WIDTH", "PANEL_WIDTH", "build_panel", "install_shortcuts"]
