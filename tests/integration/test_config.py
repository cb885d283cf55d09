"""posternd -t (config check), startup failures, and the admin tool as the
daemon sees it."""

import os
import re
import socket

import pytest

import helpers
from conftest import Daemon, POSTERND
from helpers import run


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.fixture
def good(env, tmp_path):
    """A valid config file (not used by a running daemon)."""
    d = Daemon(env, "cfg-%s" % os.path.basename(str(tmp_path)))
    with open(d.config) as f:
        return d.config, f.read()


def check(path):
    return run([POSTERND, "-t", "-c", path])


def test_good_config(good):
    path, _ = good
    r = check(path)
    assert r.returncode == 0, r.stderr
    assert path.encode() in r.stdout and re.search(rb"\bOK\b", r.stdout, re.I), \
        r.stdout
    assert r.stderr == b"" or b"error" not in r.stderr.lower()


def test_config_check_does_not_bind(good):
    path, text = good
    port = int(re.search(r"127\.0\.0\.1:(\d+)", text).group(1))
    assert check(path).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))     # still free


def bad_line(good, tmp_path, line, replace=None):
    """Writes good's config with line appended (or replacing the line
    matching replace) and returns (path, line number of the bad line)."""
    _, text = good
    lines = text.splitlines()
    if replace:
        idx = next(i for i, l in enumerate(lines) if re.match(replace, l))
        lines[idx] = line
    else:
        lines.insert(3, line)
        idx = 3
    path = write(os.path.join(str(tmp_path), "bad.conf"),
                 "\n".join(lines) + "\n")
    return path, idx + 1


def assert_rejected(path, lineno):
    r = check(path)
    assert r.returncode == 1, "exit %d for a bad config" % r.returncode
    err = r.stderr.decode()
    assert re.search(r"^%s:%d: \S" % (re.escape(path), lineno), err, re.M), \
        "want '%s:%d: message', got %r" % (path, lineno, err)
    return err


def test_unknown_key(good, tmp_path):
    path, n = bad_line(good, tmp_path, "frobnicate = yes")
    err = assert_rejected(path, n)
    assert "frobnicate" in err


@pytest.mark.parametrize("line", [
    "listen = pop3 127.0.0.1",                 # no port
    "listen = imap 127.0.0.1:1143",            # unknown mode
    "listen = pop3 127.0.0.1:99999",           # port out of range
    "listen = pop3 127.0.0.1:abc",
    "listen = pop3",
    "listen = pop3 [::1:1100",
    "listen = pop3s 127.0.0.1:1995 extra",
])
def test_bad_listen_line(good, tmp_path, line):
    path, n = bad_line(good, tmp_path, line)
    assert_rejected(path, n)


@pytest.mark.parametrize("line", [
    "max_workers = lots",
    "max_workers = -1",
    "idle_timeout = 10x",
    "min_spare_workers",                       # no '='
    "trusted_networks = 127.0.0.0/33",
    "trusted_networks = not-a-net",
])
def test_bad_values(good, tmp_path, line):
    path, n = bad_line(good, tmp_path, line)
    assert_rejected(path, n)


def test_comments_and_blank_lines(good, tmp_path):
    _, text = good
    path = write(os.path.join(str(tmp_path), "c.conf"),
                 "# leading comment\n\n   # indented comment\n" + text
                 + "\n# trailing\n")
    assert check(path).returncode == 0


def test_missing_config_file(tmp_path):
    r = check(os.path.join(str(tmp_path), "nope.conf"))
    assert r.returncode != 0
    assert b"nope.conf" in r.stderr


def test_daemon_refuses_to_start_with_bad_config(good, tmp_path):
    path, _ = bad_line(good, tmp_path, "frobnicate = yes")
    r = run([POSTERND, "-f", "-c", path], timeout=30)
    assert r.returncode != 0
    assert b"frobnicate" in r.stderr


def test_daemon_refuses_port_in_use(env, users):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        busy = s.getsockname()[1]
        d = Daemon(env, "busy-port", listeners=[("pop3", "127.0.0.1", busy)])
        r = run([POSTERND, "-f", "-c", d.config], timeout=30)
        assert r.returncode != 0
        # the message names the port or the config line that wants it
        assert str(busy).encode() in r.stderr or \
            ("%s:2:" % d.config).encode() in r.stderr, r.stderr


def test_user_added_while_running(server, env, ctx):
    """`postern user add` while the daemon runs: the user can log in at
    once (no reload needed)."""
    env.add_user("late-comer", "first-Pass1")
    env.seed("late-comer", helpers.corpus()[:1])
    with helpers.tls_session(server.port("pop3s"), ctx, "late-comer",
                             "first-Pass1") as c:
        assert helpers.stat(c)[0] == 1
        c.ok("QUIT")


def test_user_add_twice_fails(server, env, ctx, alice):
    r = env.admin("user", "add", "alice", stdin="other-Pass9\n")
    assert r.returncode != 0
    env.chown(env.users_file)
    # alice's password is unchanged
    with helpers.tls_session(server.port("pop3s"), ctx, *alice) as c:
        c.ok("QUIT")
