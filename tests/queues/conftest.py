"""Fixtures for the queue tests: the real herald daemon consuming a real RabbitMQ node and a
real Redis stream, brokers started once per session from deploy/lib. HERALD_BIN is the daemon;
HERALD_QUEUE_TEST_N sets how many messages the volume tests publish (default 2000; the bench
uses 10000)."""
import os
import random
import sys
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import herald_daemon  # noqa: E402
import queue_brokers  # noqa: E402
from herald_fixtures import herald_bin  # noqa: E402,F401 - the fixture

VOLUME = int(os.environ.get("HERALD_QUEUE_TEST_N", "2000"))


@pytest.fixture(scope="session")
def brokers_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("brokers")


@pytest.fixture(scope="session")
def rabbit(brokers_dir):
    r = queue_brokers.Rabbit(brokers_dir).start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def redis(brokers_dir):
    r = queue_brokers.Redis(brokers_dir).start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def mariadb(brokers_dir):
    m = queue_brokers.Mariadb(brokers_dir).start()
    yield m
    m.stop()


@pytest.fixture
def queue_name():
    return "herald.test." + uuid.uuid4().hex[:10]


@pytest.fixture
def stream_key():
    return "herald:test:" + uuid.uuid4().hex[:10]


@pytest.fixture
def daemons(herald_bin, tmp_path):
    """Returns a function starting a daemon (SQLite in tmp_path unless `store` is given); every
    daemon still running at the end is stopped with SIGTERM and must exit 0."""
    started = []

    def start(env, store=None, wait=True, name="herald"):
        work = tmp_path / name
        work.mkdir(exist_ok=True)
        d = herald_daemon.Herald(herald_bin, str(work), store or "sqlite:" + str(tmp_path / "herald.db"),
                                 env=env)
        started.append(d)
        return d.start(wait=wait)

    yield start
    for d in started:
        if d.running():
            d.stop()


_user_ids = iter(range(random.randint(10_000, 1_000_000) * 1000, 2**53))


@pytest.fixture
def new_user():
    """Returns a function giving a user id no other test uses."""
    return lambda: next(_user_ids)
