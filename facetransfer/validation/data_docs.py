"""The validation report: great-expectations Data Docs of a ``ValidationResult``.

The suites run in an ephemeral context (fast, no files); the report is built afterwards, only
where it is published: GX's results go into the validation store of a file-mode context in a
temporary folder, GX builds its Data Docs site there, and the site's validation pages (one per
table) are copied out. The site's own index lists them only through scripts it loads from public
CDNs, so without network it is empty: ``index.html`` is instead every table's validation on one
page, rendered by the same GX renderer (the pages' "Home" links lead to it).

The pages load their styles from public CDNs, as GX writes them: without network they show the
same content, unstyled. GX's tutorial images and fonts (4 MB a site) are not kept.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from facetransfer.validation.result import ValidationResult
from facetransfer.validation.runner import import_great_expectations

logger = logging.getLogger(__name__)

SITE_FILES = ("validations/**/*.html", "static/images/favicon.ico")
"""What is kept of GX's site: its validation pages (one per table) and their icon."""


def build_data_docs(result: ValidationResult, site_dir: str | Path) -> Path:
    """Write the Data Docs of ``result`` into ``site_dir``; return its entry page ``index.html``.

    Each page shows every expectation with its status, observed value and example failing rows:
    ``index.html`` all tables, ``validations/<table>_suite/.../<table>.html`` one table each
    (``manifest``, ``splits`` or ``masks``).
    """
    gx = import_great_expectations()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    site_dir = Path(site_dir)
    run_id = RunIdentifier(run_name=f"{result.suite}_validation")
    with tempfile.TemporaryDirectory(prefix="facetransfer-gx-") as project:
        context = gx.get_context(mode="file", project_root_dir=project)
        for table, suite_result in result.suite_results.items():
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_result.suite_name),
                run_id=run_id,
                batch_identifier=table,
            )
            context.validation_results_store.set(key, suite_result)
        site = Path(url2pathname(urlparse(context.build_data_docs()["local_site"]).path)).parent
        for pattern in SITE_FILES:
            for source in site.rglob(pattern):
                target = site_dir / source.relative_to(site)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    index = site_dir / "index.html"
    index.write_text(validation_page(result), encoding="utf-8")
    logger.info("wrote the %s validation report to %s", result.suite, index)
    return index


def validation_page(result: ValidationResult) -> str:
    """One HTML page of every table's validation (GX's renderer): the report's entry page."""
    import_great_expectations()
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    documents: list[Any] = [ValidationResultsPageRenderer().render(r) for r in result.suite_results.values()]
    if not documents:
        raise ValueError(f"the {result.suite} validation result holds no great-expectations results")
    page = documents[0]
    for document in documents[1:]:
        page.sections.extend(document.sections)
    return str(DefaultJinjaPageView().render(page))
