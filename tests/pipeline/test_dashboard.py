"""A person's first visit to the ZenML dashboard of a new project lands on its runs, not on a survey.

ZenML's local dashboard sends every page to its account survey until the user has answered it;
``facetransfer setup`` records the answer of a person who skips it (no email, no news). The test
sets up a fresh project, starts the dashboard as a user would (``zenml login --local``, here on a
free loopback port) and loads the runs page in headless Chromium: the dashboard is a JavaScript
app, so only a browser shows where it really lands.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline.project import BIN, TINY_DEMO, Project
from tests.pipeline.services import free_port

pytestmark = pytest.mark.slow

RUNS_PAGE = "/projects/default/runs"
"""The dashboard's route to the runs of ZenML project ``default``, the one the pipelines run in."""
SURVEY_ANSWERED = "answered the ZenML dashboard's account survey"

USER_ANSWER = """
import json
from zenml.client import Client
user = Client().get_user(Client().active_user.id)
print(json.dumps({"email": user.email, "opted_in": user.email_opted_in, "metadata": user.user_metadata}))
"""


def test_first_visit_to_the_dashboard_lands_on_the_runs_not_on_the_survey(tmp_path: Path) -> None:
    from zenml.constants import FINISHED_ONBOARDING_SURVEY_KEY

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium here: this test looks at the dashboard in Debian's chromium package")
    project = Project.create(tmp_path)
    project.facetransfer("demo-data", "--out", "data", *TINY_DEMO)
    assert SURVEY_ANSWERED in project.facetransfer("setup").stdout
    assert SURVEY_ANSWERED not in project.facetransfer("setup").stdout, "a second set-up changes nothing"

    answer = json.loads(project.run(str(BIN / "python"), "-c", USER_ANSWER).stdout.strip().splitlines()[-1])
    assert answer == {
        "email": None,  # no address given ...
        "opted_in": False,  # ... and ZenML's "skipped": no newsletter
        "metadata": {FINISHED_ONBOARDING_SURVEY_KEY: True},
    }

    with local_dashboard(project) as base:
        page = rendered_page(chromium, base + RUNS_PAGE, tmp_path / "chromium")
    assert "Add your account details" not in page, "the dashboard still shows its survey"
    assert "<title>Pipeline Runs - ZenML Dashboard</title>" in page
    assert "No runs yet" in page  # the runs view of the new project


@contextlib.contextmanager
def local_dashboard(project: Project) -> Iterator[str]:
    """The project's local ZenML server and dashboard (``zenml login --local``), gone on exit.

    ``zenml login --local`` points the project's own ZenML configuration (``ZENML_CONFIG_PATH``
    under the test's temporary folder) at the server; ``zenml logout --local`` asks the server's
    daemon to stop and returns before it has: the test waits until it has.
    """
    port = free_port()
    zenml = str(BIN / "zenml")
    project.run(zenml, "login", "--local", "--ip-address", "127.0.0.1", "--port", str(port), timeout=180)
    pid_file = Path(project.env["ZENML_CONFIG_PATH"]) / "zen_server" / "daemon" / "service.pid"
    server_pid = int(pid_file.read_text())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        project.run(zenml, "logout", "--local", timeout=120)
        deadline = time.monotonic() + 60
        while _running(server_pid) and time.monotonic() < deadline:
            time.sleep(0.5)
    assert not _running(server_pid), f"the ZenML server (pid {server_pid}) still runs after logout"
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers after logout"


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # a zombie has exited
    except psutil.NoSuchProcess:
        return False


def rendered_page(chromium: str, url: str, profile: Path) -> str:
    """The DOM of ``url`` after headless Chromium ran its scripts (and followed any redirect)."""
    browser = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1600,1000",
            "--virtual-time-budget=15000",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        page, _ = browser.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the browser and its helpers have all exited
            os.killpg(browser.pid, signal.SIGKILL)
        browser.wait(timeout=30)
    assert browser.returncode == 0, f"chromium failed on {url} (exit {browser.returncode})"
    return page
