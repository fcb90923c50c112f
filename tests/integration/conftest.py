"""Fixtures: the real herald daemon on free loopback ports, on SQLite or MySQL.

The store comes from --store (or env HERALD_TEST_STORE): `sqlite` (default) or `mysql`, the
latter needing HERALD_TEST_MYSQL_URL (mysql://USER:PASS@HOST:PORT/DB). The binary is HERALD_BIN.
"""
import itertools
import os
import random

import pytest

import herald_daemon
import herald_fixtures
from herald_fixtures import herald_bin, pytest_runtest_makereport  # noqa: F401 - fixture, hook


def pytest_addoption(parser):
    parser.addoption("--store", default=os.environ.get("HERALD_TEST_STORE", "sqlite"),
                     choices=["sqlite", "mysql"], help="store backend the daemon runs on")


def pytest_report_header(config):
    return "herald: %s, store: %s" % (os.environ.get("HERALD_BIN"), config.getoption("--store"))


_mysql = {}


def _mysql_databases(config):
    """One MysqlDatabases per session when the store is mysql, else None."""
    if config.getoption("--store") != "mysql":
        return None
    if "dbs" not in _mysql:
        url = os.environ.get("HERALD_TEST_MYSQL_URL")
        assert url, "--store mysql needs HERALD_TEST_MYSQL_URL"
        _mysql["dbs"] = herald_daemon.MysqlDatabases(url)
    return _mysql["dbs"]


@pytest.fixture(scope="session")
def mysql_dbs(request):
    dbs = _mysql_databases(request.config)
    yield dbs
    if dbs is not None:
        dbs.drop_all()


@pytest.fixture(scope="session")
def new_store(mysql_dbs):
    """Returns a function giving a fresh, empty store setting for a daemon living in `workdir`."""

    def make(workdir):
        if mysql_dbs is not None:
            return mysql_dbs.fresh()
        return "sqlite:" + os.path.join(str(workdir), "herald.db")

    return make


_user_ids = itertools.count(random.randint(10_000, 1_000_000) * 1000)


@pytest.fixture
def new_user():
    """Returns a function giving a user id no other test uses."""
    return lambda: next(_user_ids)


class _Launcher:
    def __init__(self, binary, workdir, new_store):
        self.binary = binary
        self.workdir = workdir
        self.new_store = new_store
        self.daemons = []

    def __call__(self, env=None, args=None, store=None, wait=True):
        d = herald_daemon.Herald(self.binary, str(self.workdir),
                                 store or self.new_store(self.workdir), env, args)
        self.daemons.append(d)
        return d.start(wait=wait)

    def finish(self, node):
        errors = herald_daemon.stop_all(self.daemons, herald_fixtures.failed(node))
        assert not errors, "\n".join(errors)


@pytest.fixture
def launch(herald_bin, tmp_path, new_store, request):
    """Starts daemons on demand; each is stopped with SIGTERM at the end and must exit 0."""
    launcher = _Launcher(herald_bin, tmp_path, new_store)
    yield launcher
    launcher.finish(request.node)


@pytest.fixture
def herald(launch):
    """A fresh daemon with an empty store, for one test."""
    return launch()


def _shared_scope(fixture_name, config):
    # When every daemon must share one wiped MySQL database, daemons cannot overlap.
    dbs = _mysql_databases(config)
    return "function" if dbs is not None and not dbs.can_create else "module"


@pytest.fixture(scope=_shared_scope)
def shared_herald(herald_bin, tmp_path_factory, new_store, request):
    """One daemon for a module of tests that do not depend on global state."""
    launcher = _Launcher(herald_bin, tmp_path_factory.mktemp("shared"), new_store)
    d = launcher()
    yield d
    launcher.finish(request.node)
