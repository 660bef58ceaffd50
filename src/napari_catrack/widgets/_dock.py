"""Docked widgets that fit a screen: every napari-catrack widget scrolls inside its dock, and the
napari-catrack docks of one dock area are tabbed together.

Without this, each dock asked for its whole content height: two docks made napari's window
1,488 px tall and all of them 3,666-4,021 px, taller than any screen. Now a dock's minimum
height is a few lines (the rest scrolls), and a newly docked catrack widget joins the tabs of
the catrack docks already shown in its area (drag a tab out to see two side by side). Its tab
reads the widget's short name (`readable_tabs`).

    class MyWidget(QWidget):
        def __init__(self, viewer):
            super().__init__()
            layout = scroll_body(self)      # the layout inside the scroll area
            layout.addWidget(...)
"""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import QEvent, QObject, QSize, Qt, QTimer
from qtpy.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QListWidget,
    QMainWindow,
    QScrollArea,
    QSizePolicy,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

#: Tab a newly docked catrack widget with the catrack docks already in its area. Benchmarks
#: turn this off to measure every dock visible at once.
AUTO_TABIFY = True

_MARK = "_catrack_dock"


def scroll_body(owner: QWidget) -> QVBoxLayout:
    """Fill `owner` with a scroll area and return the layout of the scrolled body.

    `owner.body` is the scrolled widget and `owner.scroll_area` the area. The owner expands
    vertically, so napari adds no stretch under it and the scroll area gets the dock's height.
    """
    outer = QVBoxLayout(owner)
    outer.setContentsMargins(0, 0, 0, 0)
    area = _BodyScroll(owner)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    # as wide as its body when the window allows; a narrow window scrolls instead of clipping
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
    body = QWidget()
    area.setWidget(body)
    outer.addWidget(area)
    owner.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Expanding)
    owner.body = body
    owner.scroll_area = area
    mark_catrack_dock(owner)
    return QVBoxLayout(body)


class StatusLine(QLabel):
    """A wrapped status line that scrolls itself into sight in its dock when its text changes:
    at the bottom of a dock taller than the window, the outcome of a run ("...; 4 hand
    correction(s) kept as anchors") was cut at the dock's bottom edge (h18 walk). Hidden while
    it says nothing: an empty line still took a line and a spacing, the 30 px blank under the
    Track neurons dock's Rename row (h20)."""

    def __init__(self, text: str = "") -> None:
        super().__init__(text)
        self.setWordWrap(True)
        self.setVisible(bool(text))

    def setText(self, text: str) -> None:
        changed = text != self.text()
        super().setText(text)
        self.setVisible(bool(text))
        if changed and text:
            QTimer.singleShot(0, self._into_sight)  # once the layout has wrapped it

    def _into_sight(self) -> None:
        try:
            parent = self.parentWidget()
        except RuntimeError:  # closed meanwhile
            return
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        if parent is not None and self.isVisible():
            parent.ensureWidgetVisible(self, 0, 4)


class FittedList(QListWidget):
    """A list as tall as its entries, `max_rows` lines at most (the rest scrolls), and hidden
    while empty (its owner says "none" in a line above it, or `header`, the line that
    introduces it, hides with it, as do `companions`, controls that act on its entries). An
    empty review list took 190 px of the Track neurons dock, a list widget's default height,
    whatever it held (h18 walk)."""

    def __init__(
        self, max_rows: int = 8, header: QWidget | None = None, companions: tuple = ()
    ) -> None:
        super().__init__()
        self.max_rows = max_rows
        self.header = header
        self.companions = tuple(companions)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        model = self.model()
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            signal.connect(self._fit)
        self._fit()

    def _fit(self, *_) -> None:
        self.setVisible(self.count() > 0)
        for widget in (self.header, *self.companions):
            if widget is not None:
                widget.setVisible(self.count() > 0)
        self.updateGeometry()

    def _height(self) -> int:
        rows = sum(self.sizeHintForRow(r) for r in range(min(self.count(), self.max_rows)))
        wide = self.count() and self.sizeHintForColumn(0) > self.viewport().width()
        bar = self.horizontalScrollBar().sizeHint().height() if wide else 0  # (else it hides a row)
        return rows + bar + 2 * self.frameWidth()

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self._height())

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), self._height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.updateGeometry()  # narrower: entries may now need the sideways scroll bar


def mark_catrack_dock(widget: QWidget) -> None:
    """Tab this widget's dock with the other catrack docks when it is first shown docked (for a
    widget that makes its own scroll area; `scroll_body` does this itself)."""
    if widget.sizePolicy().verticalPolicy() not in (QSizePolicy.Expanding, QSizePolicy.Ignored):
        widget.setSizePolicy(widget.sizePolicy().horizontalPolicy(), QSizePolicy.Expanding)
    setattr(widget, _MARK, True)
    widget.installEventFilter(_TabifyOnShow(widget))


#: the height a dock asks for at most (it may be dragged taller; the rest of the body scrolls)
PREFERRED_HEIGHT = 700
#: the least height a dock needs: a few rows, so many docks fit on one screen
MINIMUM_HEIGHT = 80


class _BodyScroll(QScrollArea):
    """A vertical scroll area as wide as its body, short when asked (it scrolls sideways only
    when the window cannot give the dock that width, rather than cutting controls off)."""

    def setWidget(self, body: QWidget) -> None:
        super().setWidget(body)
        body.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.LayoutRequest and obj is self.widget():
            QTimer.singleShot(0, self._keep_dock_width)
        return False

    def _keep_dock_width(self) -> None:
        """The dock is never narrower than the body's controls need. napari sets a dock's
        minimum width to 50 px, so a dock sized by another tab (or by this body before a long
        line appeared) scrolled sideways, cutting the right edge (e.g. the status line)."""
        try:
            dock = dock_of(self)
            body = self.widget()
        except RuntimeError:  # closed meanwhile
            return
        if dock is None or body is None:
            return
        chrome = min(max(dock.width() - self.viewport().width(), 0), 60)
        need = body.minimumSizeHint().width() + chrome
        if need > dock.minimumWidth():
            dock.setMinimumWidth(need)

    def _extra_width(self) -> int:
        return self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()

    def sizeHint(self) -> QSize:
        body = self.widget()
        if body is None:
            return super().sizeHint()
        hint = body.sizeHint()
        return QSize(hint.width() + self._extra_width(), min(hint.height(), PREFERRED_HEIGHT))

    def minimumSizeHint(self) -> QSize:
        body = self.widget()
        if body is None:
            return super().minimumSizeHint()
        width = body.minimumSizeHint().width() + self._extra_width()
        return QSize(width, min(body.minimumSizeHint().height(), MINIMUM_HEIGHT))


def is_catrack_dock(dock: QDockWidget) -> bool:
    """A dock holding a napari-catrack widget (marked, or defined in this package)."""
    inner = dock.widget()
    if inner is None:
        return False
    candidates = [inner, *inner.findChildren(QWidget, options=Qt.FindDirectChildrenOnly)]
    return any(
        getattr(w, _MARK, False) or type(w).__module__.startswith("napari_catrack.")
        for w in candidates
    )


def dock_of(widget: QWidget) -> QDockWidget | None:
    """The QDockWidget holding `widget`, if it is docked."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


def tabify_with_catrack_docks(widget: QWidget) -> bool:
    """Put the dock of `widget` in the tabs of the catrack docks shown in its area; True if moved."""
    dock = dock_of(widget)
    return dock is not None and tabify_dock(dock)


def tab_title(name: str) -> str:
    """A dock's tab title: its widget's name without what the brackets add ("Sources" of
    "Sources (two-photon) (napari-catrack)")."""
    return name.split(" (")[0].strip() or name


def readable_tabs(dock: QDockWidget) -> None:
    """Tabs that read their names: with 14 catrack docks tabbed, Qt shrank every tab title to
    "T…" (its dock tab bars elide). The dock's title becomes `tab_title` (napari's title bar
    above the dock and its menu entry keep the whole name) and the tab bars holding catrack docks
    scroll (arrows at their end) instead of eliding. Again whenever the dock moves: Qt may then
    give its tabs a new bar."""
    main = dock.parentWidget()
    if not isinstance(main, QMainWindow):
        return
    short = tab_title(dock.windowTitle())
    if short != dock.windowTitle():
        action = dock.toggleViewAction()
        kept = action.text()
        dock.setWindowTitle(short)  # (Qt renames the dock's menu action with it)
        action.setText(kept)
    watch = dock.findChild(_TabsWatch, options=Qt.FindDirectChildrenOnly) or _TabsWatch(dock)
    watch.moved()


class _TabsWatch(QObject):
    """Keeps the dock's tabs readable when it moves (a slot of the dock's child: no closure
    that would keep napari's window alive)."""

    def __init__(self, dock: QDockWidget) -> None:
        super().__init__(dock)
        dock.dockLocationChanged.connect(self.moved)

    def moved(self, *_) -> None:
        QTimer.singleShot(0, self._apply)

    def _apply(self) -> None:
        try:
            _unelided(self.parent().parentWidget())
        except RuntimeError:  # closed meanwhile
            pass


def _unelided(main: QMainWindow | None) -> None:
    """The main window's dock tab bars that hold a catrack dock: whole titles, scrolled."""
    if not isinstance(main, QMainWindow):
        return
    try:
        titles = {d.windowTitle() for d in main.findChildren(QDockWidget) if is_catrack_dock(d)}
        for bar in main.findChildren(QTabBar, options=Qt.FindDirectChildrenOnly):
            if any(bar.tabText(i) in titles for i in range(bar.count())):
                bar.setElideMode(Qt.ElideNone)
                bar.setUsesScrollButtons(True)
    except RuntimeError:  # the window was closed before the event loop came back
        pass


def tabify_dock(dock: QDockWidget) -> bool:
    """Put `dock` in the tabs of the other catrack docks shown in its area; True if moved."""
    if dock.isFloating():
        return False
    main = dock.parentWidget()
    if not isinstance(main, QMainWindow):
        return False
    readable_tabs(dock)
    area = main.dockWidgetArea(dock)
    already = set(main.tabifiedDockWidgets(dock))
    others = [
        d
        for d in main.findChildren(QDockWidget)
        if d is not dock
        and not d.isFloating()
        and d.isVisible()
        and main.dockWidgetArea(d) == area
        and is_catrack_dock(d)
    ]
    if not others or any(d in already for d in others):
        return False
    main.tabifyDockWidget(others[0], dock)
    dock.show()
    dock.raise_()
    return True


class _MainWindowWatcher(QObject):
    """Tabs every napari-catrack dock added to napari's window later on, including widgets that
    do not mark themselves (any widget class defined in this package)."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.ChildAdded and isinstance(event.child(), QDockWidget):
            dock = event.child()
            QTimer.singleShot(0, lambda: self._added(dock))
        return False

    @staticmethod
    def _added(dock: QDockWidget) -> None:
        try:
            if AUTO_TABIFY and is_catrack_dock(dock):
                tabify_dock(dock)
        except RuntimeError:  # the dock was closed before the event loop came back
            pass


def _watch_main_window(dock: QDockWidget) -> None:
    main = dock.parentWidget()
    if isinstance(main, QMainWindow) and not main.property("catrack_watched"):
        main.setProperty("catrack_watched", True)
        main.installEventFilter(_MainWindowWatcher(main))


class _TabifyOnShow(QObject):
    """Tabs the owner's dock once, the first time it is shown docked."""

    def __init__(self, owner: QWidget) -> None:
        super().__init__(owner)
        self._owner = owner
        self._done = False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if not self._done and event.type() == QEvent.Show and dock_of(self._owner) is not None:
            self._done = True
            if AUTO_TABIFY:
                QTimer.singleShot(0, self._tabify)
            else:
                _watch_main_window(dock_of(self._owner))
        return False

    def _tabify(self) -> None:
        try:
            dock = dock_of(self._owner)
            if dock is not None:
                _watch_main_window(dock)
                tabify_dock(dock)
        except RuntimeError:  # the widget was closed before the event loop came back
            pass


class TabFront(QObject):
    """Whether a docked widget can be seen: its dock is shown *and* its tab is in front.

    Qt keeps a dock that sits behind another tab "visible" (`isVisible()` stays True and no
    hideEvent comes), so a widget that binds viewer keys while shown must also listen to its
    dock's `visibilityChanged`, which Qt emits when the tab comes to the front or goes behind.
    `changed(shown)` is called on each change; `shown()` says where things stand now."""

    def __init__(self, owner: QWidget, changed: Callable[[bool], None]) -> None:
        super().__init__(owner)
        self._owner = owner
        self._changed = changed
        self._dock: QDockWidget | None = None
        self._front = True
        owner.installEventFilter(self)

    def shown(self) -> bool:
        return self._owner.isVisible() and (self._dock is None or self._front)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Show, QEvent.ParentChange):
            dock = dock_of(self._owner)
            if dock is not self._dock:
                if self._dock is not None:
                    try:
                        self._dock.visibilityChanged.disconnect(self._on_visibility)
                    except (RuntimeError, TypeError):  # the old dock is gone already
                        pass
                self._dock, self._front = dock, True
                if dock is not None:
                    dock.visibilityChanged.connect(self._on_visibility)
        return False

    def _on_visibility(self, visible: bool) -> None:
        if bool(visible) != self._front:
            self._front = bool(visible)
            try:
                self._changed(self._front)
            except RuntimeError:  # the owner was deleted
                pass
