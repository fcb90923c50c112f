"""Fixtures for the cluster tests: 2-3 real herald daemons sharing one fresh MariaDB database
(HERALD_TEST_MYSQL_URL) and their own redis-server, optionally behind a real nginx.

The helpers of tests/integration (daemon control, raw WebSocket client, tokens) are imported
from there by path."""
import itertools
import os
import random
import sys

import pytest

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
sys.path.insert(1, os.path.join(_here, "..", "integration"))

import herald_daemon  # noqa: E402
from herald_cluster import Cluster  # noqa: E402
from herald_fixtures import failed, herald_bin, pytest_runtest_makereport  # noqa: E402,F401


@pytest.fixture(scope="session")
def mysql_dbs():
    url = os.environ.get("HERALD_TEST_MYSQL_URL")
    assert url, "the cluster tests need HERALD_TEST_MYSQL_URL (a MariaDB shared by the nodes)"
    dbs = herald_daemon.MysqlDatabases(url)
    yield dbs
    dbs.drop_all()


_user_ids = itertools.count(random.randint(10_000, 1_000_000) * 1000)


@pytest.fixture
def new_user():
    return lambda: next(_user_ids)


def _cluster(request, herald_bin, mysql_dbs, workdir, nodes, nginx):
    c = Cluster(herald_bin, workdir, mysql_dbs.fresh())
    try:
        c.start(nodes=nodes, nginx=nginx)
    except BaseException:
        c.stop(failed=True)
        raise
    return c


@pytest.fixture
def cluster2(request, herald_bin, mysql_dbs, tmp_path):
    """Two nodes, a fresh database and Redis, for one test."""
    c = _cluster(request, herald_bin, mysql_dbs, tmp_path, 2, False)
    yield c
    c.stop(failed=failed(request.node))


@pytest.fixture
def cluster3_lb(request, herald_bin, mysql_dbs, tmp_path):
    """Three nodes behind nginx, for one test."""
    c = _cluster(request, herald_bin, mysql_dbs, tmp_path, 3, True)
    yield c
    c.stop(failed=failed(request.node))


@pytest.fixture(scope="module")
def shared_cluster(request, herald_bin, mysql_dbs, tmp_path_factory):
    """Three nodes behind nginx for a module of tests that leave the cluster running; each
    test uses its own users and closes its sockets."""
    c = _cluster(request, herald_bin, mysql_dbs, tmp_path_factory.mktemp("cluster"), 3, True)
    yield c
    c.stop(failed=request.session.testsfailed > 0)
