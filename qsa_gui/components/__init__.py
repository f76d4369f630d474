"""Qt-free, observable view-models of what the GUI shows (napari's ``components/`` pattern).

Why: the texts, counts, navigation order, autosave state and the rules that enable actions are
decisions, not drawing; kept here they are tested without a display, and the Qt widgets in
:mod:`qsa_gui._qt` only subscribe to :class:`~.session.Session` events and draw.

- :mod:`.events` -- :class:`EventEmitter`, a tiny connect / disconnect / emit.
- :mod:`.records` -- project data shaped for display (gallery records, history rows).
- :mod:`.session` -- :class:`Session`: project, current image, labels autosave, job state, texts.
"""

from __future__ import annotations

__all__ = ["events", "records", "session"]
