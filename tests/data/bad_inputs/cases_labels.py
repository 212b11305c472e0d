"""Bad-input cases, second round: labels (registered into ``cases.CASES`` on import, see ``cases.py``)."""

from __future__ import annotations

from pathlib import Path  # noqa: F401 - the builders take the case folder

from tests.data.bad_inputs.cases import case  # noqa: F401 - used by the cases below
from tests.data.bad_inputs.corpus import Built, accepted, error_row, quarantined, refused  # noqa: F401
