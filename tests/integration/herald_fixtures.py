"""What the conftest files of the black-box suites (integration, cluster, queues) share: the
daemon binary (HERALD_BIN) and the outcome of each phase of a test on its node."""
import os

import pytest


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def failed(node):
    """Whether the setup or the call of the test failed (pytest_runtest_makereport kept them)."""
    return any(getattr(node, "rep_" + w, None) is not None and getattr(node, "rep_" + w).failed
               for w in ("setup", "call"))


@pytest.fixture(scope="session")
def herald_bin():
    path = os.environ.get("HERALD_BIN")
    assert path and os.access(path, os.X_OK), "set HERALD_BIN to the herald executable"
    return os.path.abspath(path)

