"""A read-only, sortable Qt model over a pandas DataFrame (for QTableView)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt


def _text(value) -> str:
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return ""
        if 1e4 <= abs(value) < 1e12:  # a puncta track at x 10,290 nm read "1.029e+04" beside
            return f"{value:.0f}"  # "7884" in the same column
        return f"{value:.4g}"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return "" if value is None else str(value)


class DataFrameModel(QAbstractTableModel):
    """Shows a DataFrame; sorting reorders a copy, the caller's frame is never modified."""

    def __init__(self, df: pd.DataFrame | None = None, parent=None) -> None:
        super().__init__(parent)
        self._df = pd.DataFrame() if df is None else df.reset_index(drop=True)

    @property
    def dataframe(self) -> pd.DataFrame:
        """The rows in the order shown."""
        return self._df

    def set_dataframe(self, df: pd.DataFrame) -> None:
        self.beginResetModel()
        self._df = df.reset_index(drop=True)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._df)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._df.columns)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        value = self._df.iat[index.row(), index.column()]
        if role == Qt.DisplayRole:
            return _text(value)
        if role == Qt.TextAlignmentRole and isinstance(value, int | float | np.number):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):
        if role != Qt.DisplayRole:
            return None
        if orientation == Qt.Horizontal:
            return str(self._df.columns[section])
        return str(section + 1)

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        if not 0 <= column < len(self._df.columns):
            return
        self.layoutAboutToBeChanged.emit()
        self._df = self._df.sort_values(
            self._df.columns[column],
            ascending=order == Qt.AscendingOrder,
            kind="stable",
            na_position="last",
        ).reset_index(drop=True)
        self.layoutChanged.emit()
