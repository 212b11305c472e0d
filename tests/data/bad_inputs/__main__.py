"""``python -m tests.data.bad_inputs > docs/bad_inputs.md``: print the corpus table."""

from tests.data.bad_inputs import CASES, render_table

print(render_table(CASES), end="")
