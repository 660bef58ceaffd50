"""A matplotlib canvas for docked plots that stays fast while the user steps through cells.

Profiled on a key press in curation (N, 63 cells, every widget docked: 1.1 s before): matplotlib's
constrained layout, recomputed on every draw, full redraws for a moving time cursor, plots drawn
while hidden in another dock tab, and napari's window composed once per repaint request (costly
under software OpenGL, where every repaint composes the whole window). This canvas

- lays the figure out once per change of structure or size (`relayout()`, resizes), then draws
  with the positions frozen;
- draws cursors as animated artists over a cached background (`move_animated()`), so a slider
  move repaints two lines, not the figure;
- postpones automatic redraws while nothing of it is on screen (a hidden tab, scrolled away),
  drawing when it is painted again;
- offers `draw_now()`, a synchronous draw whose repaint joins the other repaints of the same
  event (one window composition per key press instead of two or three).
"""

from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure


class FastCanvas(FigureCanvasQTAgg):
    """FigureCanvasQTAgg with a frozen layout, blitted animated artists and lazy hidden draws."""

    def __init__(self, figure: Figure) -> None:
        super().__init__(figure)
        #: called (then forgotten) before the first draw once the canvas is on screen again:
        #: an owner puts off rebuilding its plot while nobody can see it (`put_off`)
        self._put_off = None
        self._layout_stale = True
        self._background = None
        self._animated: list = []
        self._hidden_stale = False
        self.mpl_connect("draw_event", self._on_draw)

    def on_screen(self) -> bool:
        """Whether any of the canvas can be seen (not a hidden tab, not scrolled away)."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

    # ---- drawing -------------------------------------------------------------------------------
    def draw_idle(self) -> None:
        if not self.on_screen():  # drawn when painted again (an explicit draw() still draws)
            self._hidden_stale = True
            return
        super().draw_idle()

    def draw_now(self) -> None:
        """Draw at once if on screen (its repaint joins this event's other repaints), else later."""
        if not self.on_screen():
            self._hidden_stale = True
            return
        self.draw()

    def put_off(self, rebuild) -> None:
        """Call `rebuild()` when the canvas is next painted on screen (the latest call wins)."""
        self._put_off = rebuild
        self._hidden_stale = True

    def paintEvent(self, event) -> None:
        if self._put_off is not None:
            rebuild, self._put_off = self._put_off, None
            rebuild()  # may draw_idle: drawn just below
        if self._hidden_stale:
            self._hidden_stale = False
            self.draw()
        super().paintEvent(event)

    # ---- layout --------------------------------------------------------------------------------
    def relayout(self) -> None:
        """The figure's structure changed (axes, labels, title size): lay out at the next draw."""
        self._layout_stale = True

    def draw(self) -> None:
        self._hidden_stale = False
        if self._layout_stale:
            self.figure.set_layout_engine("constrained")
            self._layout_stale = False
            try:
                super().draw()  # lays out, then draws
            finally:
                self.figure.set_layout_engine("none")  # keep the positions just computed
            return
        super().draw()

    def resizeEvent(self, event) -> None:
        self._layout_stale = True
        super().resizeEvent(event)

    # ---- animated artists ----------------------------------------------------------------------
    def set_animated(self, artists) -> None:
        """Artists drawn over the cached background (not part of full draws or exports)."""
        self._animated = list(artists)
        for artist in self._animated:
            artist.set_animated(True)

    def _on_draw(self, _event) -> None:
        # the background without the animated artists, then them on top (shown by the repaint
        # that follows every draw: no extra repaint here)
        self._background = self.copy_from_bbox(self.figure.bbox)
        self._draw_animated()

    def _draw_animated(self) -> None:
        for artist in self._animated:
            if artist.figure is self.figure and artist.axes is not None:
                self.figure.draw_artist(artist)

    def move_animated(self) -> None:
        """Repaint only the animated artists (after changing their data)."""
        if getattr(self, "_draw_pending", False):  # a full draw is coming: it draws them
            return
        if self._background is None or not self.on_screen():
            self.draw_idle()
            return
        self.restore_region(self._background)
        self._draw_animated()
        self.update()
