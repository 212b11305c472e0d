"""Cache keys of the steps: each step's key covers the library code that step runs.

ZenML keys a step's cache on the step's own source, parameters and inputs. The steps are thin and
the work happens in ``facetransfer``, so each step adds the hash of the ``facetransfer`` modules it
can reach (``facetransfer.provenance.library_code_of``): a change in training code reruns the
training steps, and a change elsewhere (the CLI, the set-up, serving) reruns nothing.

Usage in a step module::

    library_code = step_library_code(__name__)

    @step(cache_policy=library_cache_policy(__name__))
    def my_step(...): ...
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from zenml.config import CachePolicy

from facetransfer.provenance import library_code_of

CACHE_FUNCTION_NAME = "library_code"
"""Attribute of each step module holding its cache function (``step_library_code``)."""


def step_library_code(step_module: str) -> Callable[[], str]:
    """The cache function of ``step_module``: no arguments, the hash of the library code it runs."""
    return partial(library_code_of, step_module)


def library_cache_policy(step_module: str) -> CachePolicy:
    """A cache policy adding ``<step_module>.library_code`` (``step_library_code``) to the key."""
    return CachePolicy(cache_func=f"{step_module}.{CACHE_FUNCTION_NAME}")
