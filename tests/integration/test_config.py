"""Settings: a bad value stops the start with exit 2 naming the key; precedence is
flag > environment > TOML file (issue 2)."""
import os
import subprocess

import pytest

import herald_http
from herald_daemon import API_KEY, HOST, JWT_SECRET, clean_env, free_port


def base_env(tmp_path):
    return {
        "HERALD_PUBLIC_ADDR": "%s:%d" % (HOST, free_port()),
        "HERALD_INTERNAL_ADDR": "%s:%d" % (HOST, free_port()),
        "HERALD_STORE": "sqlite:" + os.path.join(str(tmp_path), "cfg.db"),
        "HERALD_JWT_SECRET": JWT_SECRET,
        "HERALD_API_KEY": API_KEY,
    }


def run_refused(herald_bin, tmp_path, env=None, args=(), drop=()):
    settings = base_env(tmp_path)
    settings.update(env or {})
    for k in drop:
        settings.pop(k, None)
    try:
        r = subprocess.run([herald_bin] + list(args), cwd=str(tmp_path), env=clean_env(settings),
                           capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("herald started (or hung) instead of refusing the setting")
    return r


def assert_refused_naming(r, key):
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, "exit %d, stderr: %s" % (r.returncode, err[-800:])
    assert key.lower() in err.lower(), "stderr does not name %s: %s" % (key, err[-800:])


ENV_CASES = [
    ("HERALD_RETENTION_DAYS", "abc", "retention_days"),
    ("HERALD_RETENTION_DAYS", "-3", "retention_days"),
    ("HERALD_PUBLIC_ADDR", "not-an-address", "public_addr"),
    ("HERALD_INTERNAL_ADDR", "127.0.0.1:99999", "internal_addr"),
    ("HERALD_LOG_LEVEL", "loud", "log_level"),
    ("HERALD_STORE", "postgres://x", "store"),
    ("HERALD_BUS", "http://nope", "bus"),
    ("HERALD_MAX_FRAME_BYTES", "lots", "max_frame_bytes"),
    ("HERALD_MAX_QUEUE_BYTES", "-1", "max_queue_bytes"),
    ("HERALD_MAX_BODY_BYTES", "0", "max_body_bytes"),
    ("HERALD_THREADS", "many", "threads"),
    ("HERALD_PING_INTERVAL_S", "x", "ping_interval_s"),
]


@pytest.mark.parametrize("var,value,key", ENV_CASES, ids=[c[0] + "=" + c[1] for c in ENV_CASES])
def test_a_bad_environment_value_exits_2_naming_the_key(herald_bin, tmp_path, var, value, key):
    assert_refused_naming(run_refused(herald_bin, tmp_path, env={var: value}), key)


@pytest.mark.parametrize("flag", [["--retention-days", "abc"], ["--retention-days=abc"],
                                  ["--log-level=shout"]])
def test_a_bad_flag_value_exits_2_naming_the_key(herald_bin, tmp_path, flag):
    key = "retention_days" if "retention" in flag[0] else "log_level"
    r = run_refused(herald_bin, tmp_path, args=flag)
    err = r.stderr.decode("utf-8", "replace").lower()
    assert r.returncode == 2, err
    assert key in err or key.replace("_", "-") in err, err


def test_an_unknown_flag_exits_2(herald_bin, tmp_path):
    r = run_refused(herald_bin, tmp_path, args=["--no-such-setting", "1"])
    assert r.returncode == 2
    assert "no-such-setting" in r.stderr.decode().lower() or "no_such_setting" in r.stderr.decode().lower()


def test_an_unknown_key_in_the_toml_file_exits_2_naming_it(herald_bin, tmp_path):
    cfg = tmp_path / "herald.toml"
    cfg.write_text('log_level = "info"\nbogus_setting = 1\n')
    assert_refused_naming(run_refused(herald_bin, tmp_path, args=["--config", str(cfg)]),
                          "bogus_setting")


def test_a_bad_value_in_the_toml_file_exits_2_naming_it(herald_bin, tmp_path):
    cfg = tmp_path / "herald.toml"
    cfg.write_text('retention_days = "ninety"\n')
    assert_refused_naming(run_refused(herald_bin, tmp_path, args=["--config", str(cfg)]),
                          "retention_days")


def test_a_missing_config_file_exits_2(herald_bin, tmp_path):
    r = run_refused(herald_bin, tmp_path, args=["--config", str(tmp_path / "absent.toml")])
    assert r.returncode == 2
    assert r.stderr.strip()


@pytest.mark.parametrize("missing,key", [("HERALD_JWT_SECRET", "jwt_secret"),
                                         ("HERALD_API_KEY", "api_key")])
def test_a_missing_secret_without_dev_exits_2(herald_bin, tmp_path, missing, key):
    assert_refused_naming(run_refused(herald_bin, tmp_path, drop=[missing]), key)


def test_the_environment_beats_the_toml_file_and_a_flag_beats_both(herald_bin, tmp_path):
    toml_port, env_port, flag_port = free_port(), free_port(), free_port()
    cfg = tmp_path / "herald.toml"
    cfg.write_text('public_addr = "127.0.0.1:%d"\ninternal_addr = "127.0.0.1:%d"\n'
                   'jwt_secret = "%s"\napi_key = "%s"\nstore = "sqlite:%s"\n'
                   % (toml_port, free_port(), JWT_SECRET, API_KEY, tmp_path / "p.db"))
    # TOML alone: its public_addr is used.
    _expect_public_port(herald_bin, tmp_path, cfg, {}, [], toml_port)
    # Environment over TOML.
    _expect_public_port(herald_bin, tmp_path, cfg,
                        {"HERALD_PUBLIC_ADDR": "127.0.0.1:%d" % env_port}, [], env_port)
    # Flag over both.
    _expect_public_port(herald_bin, tmp_path, cfg,
                        {"HERALD_PUBLIC_ADDR": "127.0.0.1:%d" % env_port},
                        ["--public-addr", "127.0.0.1:%d" % flag_port], flag_port)


def _expect_public_port(herald_bin, tmp_path, cfg, env, args, port):
    import signal
    import time
    internal = free_port()
    env = dict(env, HERALD_INTERNAL_ADDR="127.0.0.1:%d" % internal)
    proc = subprocess.Popen([herald_bin, "--config", str(cfg)] + args, cwd=str(tmp_path),
                            env=clean_env(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if herald_http.request(HOST, internal, "GET", "/readyz", timeout=1).status == 200:
                    ready = True
                    break
            except OSError:
                time.sleep(0.05)
        assert ready, "not ready: rc=%r %s" % (proc.poll(), proc.stderr.read().decode()[-500:]
                                               if proc.poll() is not None else "")
        r = herald_http.request(HOST, port, "GET", "/v1/inbox", timeout=3)
        assert r.status == 401, r
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(12)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("no exit within 12 s of SIGTERM")
            assert rc == 0


def test_several_api_keys_are_all_accepted(launch):
    d = launch(env={"HERALD_API_KEY": "first-key-0123456789,second-key-0123456789"})
    for key in ("first-key-0123456789", "second-key-0123456789"):
        assert d.internal("GET", "/v1/stats", key="Bearer " + key).status == 200
    assert d.internal("GET", "/v1/stats", key="Bearer first-key-0123456789,second-key-0123456789").status == 401
