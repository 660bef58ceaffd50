"""The read-only tables of the widgets show numbers a user can compare down a column (h21)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.gui


def test_large_values_are_not_written_in_scientific_notation(qtbot):
    """The Puncta widget's tracks table showed x_nm 10,290 nm as "1.029e+04" beside "7884"."""
    from qtpy.QtCore import Qt

    from napari_catrack.widgets._table_model import DataFrameModel

    model = DataFrameModel(
        pd.DataFrame({"x_nm": [7884.2, 10290.4, 123456.7, 0.000123, np.nan, 2.5e13]})
    )
    shown = [model.data(model.index(i, 0), Qt.DisplayRole) for i in range(model.rowCount())]
    assert shown == ["7884", "10290", "123457", "0.000123", "", "2.5e+13"]
