"""A verdicts table's refusals name what was found (h22 walk): `catrack transients ... --cells c.csv
--verdicts v.csv` with a `neuron,status` header said only "v.csv needs columns neuron_id and
status", and a status `reject` said "got reject" without whose it was, so the user had to
search the file for it."""

from __future__ import annotations

import pandas as pd
import pytest

from napari_catrack.core.transients.features import check_verdicts
from napari_catrack.errors import InputError


def test_missing_columns_name_the_columns_found():
    with pytest.raises(InputError) as exc:
        check_verdicts(pd.DataFrame({"neuron": [0], "status": ["rejected"]}), "v.csv")
    assert str(exc.value) == "v.csv needs columns neuron_id and status; found neuron, status"


def test_an_unknown_status_names_its_first_row():
    table = pd.DataFrame({"neuron_id": [3, 4, 5], "status": ["accepted", "reject", "nope"]})
    with pytest.raises(InputError) as exc:
        check_verdicts(table, "v.csv")
    assert str(exc.value) == (
        "v.csv: verdict status must be one of unverified, accepted, rejected; got nope, reject "
        "(the first for neuron 4)"
    )
