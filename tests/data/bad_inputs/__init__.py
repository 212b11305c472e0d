"""The bad-input corpus: hostile inputs built by code, the entry point each meets, the outcome.

``CASES`` (in ``cases.py``) is the registry; ``tests/data/test_bad_inputs.py`` runs each case
through its real entry point (``entry_points.py``) and checks that ``docs/bad_inputs.md`` is the
table this registry renders. Regenerate the table with::

    python -m tests.data.bad_inputs > docs/bad_inputs.md
"""

from tests.data.bad_inputs.cases import CASES
from tests.data.bad_inputs.corpus import BadInput, Built, Expected, Observation, render_table

__all__ = ["CASES", "BadInput", "Built", "Expected", "Observation", "render_table"]
