"""Fixtures for the Postern integration tests.

Everything is real: the daemon and admin tool from $POSTERN_BUILD, a CA and
server certificate made with the openssl CLI, users created with
`postern user add`, and maildirs written on disk.  Run as root, the daemon
is configured with `user = nobody` and the temp tree belongs to nobody, so
the privilege drop is exercised too.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import helpers
from helpers import run

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("POSTERN_BUILD",
                                       os.path.join(REPO, "build")))
POSTERN = os.path.join(BUILD, "admin", "postern")
POSTERND = os.path.join(BUILD, "daemon", "posternd")

IS_ROOT = os.geteuid() == 0
SERVICE_USER = "nobody" if IS_ROOT else pwd.getpwuid(os.geteuid()).pw_name
SERVICE_UID = pwd.getpwnam(SERVICE_USER).pw_uid
SERVICE_GID = pwd.getpwnam(SERVICE_USER).pw_gid

TEST_TIMEOUT = 240       # seconds any one test may take
START_DEADLINE = 30      # seconds for the listeners to come up
STOP_DEADLINE = 40       # seconds after SIGTERM before SIGKILL
POOL_SIZE = 48           # users with a private maildrop for mutating tests
SANITIZER_RE = re.compile(r"Sanitizer|runtime error:")

RUNNING = []             # daemons alive now, shown when a test fails


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def require_binaries():
    for path in (POSTERN, POSTERND):
        if not os.access(path, os.X_OK):
            pytest.fail("%s not built (POSTERN_BUILD=%s)" % (path, BUILD))


# -- the temp tree -----------------------------------------------------------

def make_pki(root):
    """A throwaway CA and a server certificate for localhost, 127.0.0.1, ::1."""
    ca_key, ca = os.path.join(root, "ca.key"), os.path.join(root, "ca.pem")
    key, cert = os.path.join(root, "key.pem"), os.path.join(root, "cert.pem")
    csr, ext = os.path.join(root, "server.csr"), os.path.join(root, "ext.cnf")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    with open(ext, "w") as f:
        f.write("basicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1\n")
    steps = [
        ["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca,
         "-days", "3", "-subj", "/CN=Postern Test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["openssl", "req", "-new", *ec, "-keyout", key, "-out", csr,
         "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "3", "-extfile", ext],
    ]
    for argv in steps:
        r = run(argv)
        assert r.returncode == 0, r.stderr.decode()
    return ca, cert, key


class Env:
    """The session's temp tree: PKI, users file, store, admin tool."""

    def __init__(self, root):
        self.root = root
        self.ca, self.cert, self.key = make_pki(root)
        self.users_file = os.path.join(root, "users")
        self.store = os.path.join(root, "store")
        self.home = os.path.join(root, "home")
        os.makedirs(self.store)
        os.makedirs(self.home)
        self.passwords = {}
        self.seq = 0
        self.admin_conf = os.path.join(root, "admin.conf")
        os.makedirs(os.path.join(root, "admin", "state"))
        with open(self.admin_conf, "w") as f:
            f.write(config_text(self, [("pop3", "127.0.0.1",
                                        free_port())], {}))
        self.chown()

    def chown(self, path=None):
        """Gives path (default: the whole tree) to the service user."""
        if not IS_ROOT:
            return
        path = path or self.root
        os.chown(path, SERVICE_UID, SERVICE_GID)
        for top, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(top, name), SERVICE_UID, SERVICE_GID)

    def admin(self, *args, stdin=None, config=None):
        return run([POSTERN, "-c", config or self.admin_conf, *args],
                   input=stdin.encode() if stdin is not None else None)

    def add_user(self, name, password):
        r = self.admin("user", "add", name, stdin=password + "\n")
        assert r.returncode == 0, "postern user add %s: %s%s" % (
            name, r.stdout.decode(), r.stderr.decode())
        self.passwords[name] = password
        self.seed(name, [])
        self.chown(self.users_file)
        return r

    def maildir(self, name):
        return os.path.join(self.store, name)

    def seed(self, name, messages):
        """Replaces name's maildrop by a maildir holding messages."""
        path = self.maildir(name)
        shutil.rmtree(path, ignore_errors=True)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(path, sub))
        for msg in messages:
            self.deliver(name, msg, chown=False)
        self.chown(path)

    def deliver(self, name, msg, chown=True):
        """Delivers one message the maildir way: write in tmp/, rename
        into new/.  Names and mtimes increase with delivery order."""
        self.seq += 1
        stamp = 1700000000 + self.seq
        base = "%d.M%dP%d.postern-test" % (stamp, self.seq, os.getpid())
        tmp = os.path.join(self.maildir(name), "tmp", base)
        with open(tmp, "wb") as f:
            f.write(msg)
        os.utime(tmp, (stamp, stamp))
        if chown and IS_ROOT:
            os.chown(tmp, SERVICE_UID, SERVICE_GID)
        os.rename(tmp, os.path.join(self.maildir(name), "new", base))

    def stored_messages(self, name):
        """Contents of every message file in new/ and cur/."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(name), sub)
            for f in sorted(os.listdir(d)):
                with open(os.path.join(d, f), "rb") as fh:
                    out.append(fh.read())
        return out

    def client_env(self):
        env = dict(os.environ)
        env["HOME"] = self.home
        return env


# -- configuration -------------------------------------------------------------

def listen_line(mode, host, port):
    if ":" in host:
        host = "[%s]" % host
    return "listen = %s %s:%d" % (mode, host, port)


def base_settings(env, ddir):
    return {
        "user": SERVICE_USER,
        "pid_file": os.path.join(ddir, "posternd.pid"),
        "state_dir": os.path.join(ddir, "state"),
        "min_spare_workers": "2",
        "max_spare_workers": "4",
        "max_workers": "16",
        "max_sessions_per_worker": "100",
        "hostname": "localhost",
        "idle_timeout": "600",
        "bad_command_limit": "10",
        "tls_cert": env.cert,
        "tls_key": env.key,
        "users_file": env.users_file,
        "store_root": env.store,
        "sasl_mechanisms": "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN",
        # The suite fails logins from 127.0.0.1 on purpose, many times:
        # throttling is off except where a test turns it on.
        "throttle_failures": "0",
    }


def config_text(env, listeners, settings):
    ddir = os.path.join(env.root, "admin")
    merged = base_settings(env, ddir)
    merged.update(settings)
    lines = ["# written by tests/integration/conftest.py"]
    lines += [listen_line(*l) for l in listeners]
    for key, value in merged.items():
        if value is not None:
            lines.append("%s = %s" % (key, value))
    return "\n".join(lines) + "\n"


# -- the daemon -----------------------------------------------------------------

class Daemon:
    """One posternd -f under test, with its own config, pid file and log."""

    def __init__(self, env, name, listeners=None, **settings):
        self.env = env
        self.name = name
        self.dir = os.path.join(env.root, "d-" + name)
        os.makedirs(os.path.join(self.dir, "state"))
        self.config = os.path.join(self.dir, "posternd.conf")
        self.log = os.path.join(self.dir, "posternd.log")
        if listeners is None:
            listeners = [("pop3", "127.0.0.1", free_port()),
                         ("pop3s", "127.0.0.1", free_port())]
            if helpers.ipv6_usable():
                listeners.append(("pop3", "::1", free_port("::1")))
        self.listeners = listeners
        self.settings = base_settings(env, self.dir)
        self.settings.update(settings)
        self.proc = None
        self.exiting = None     # workers seen when SIGTERM was sent
        self.write_config()

    def port(self, mode="pop3", family="ipv4"):
        for m, host, port in self.listeners:
            if m == mode and (":" in host) == (family == "ipv6"):
                return port
        raise KeyError((mode, family))

    @property
    def pid_file(self):
        return self.settings["pid_file"]

    def write_config(self, **changes):
        self.settings.update(changes)
        lines = ["# written by tests/integration/conftest.py"]
        lines += [listen_line(*l) for l in self.listeners]
        for key, value in self.settings.items():
            if value is not None:
                lines.append("%s = %s" % (key, value))
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.env.chown(self.dir)

    def start(self):
        require_binaries()
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [POSTERND, "-f", "-c", self.config], stdin=subprocess.DEVNULL,
            stdout=self.logf, stderr=self.logf, start_new_session=True)
        self.pid = self.proc.pid
        RUNNING.append(self)
        end = time.monotonic() + START_DEADLINE
        for _, host, port in self.listeners:
            while not self._accepts(host, port):
                if self.proc.poll() is not None:
                    self._forget()
                    pytest.fail("posternd %s exited with %s during startup\n%s"
                                % (self.name, self.proc.returncode,
                                   self.log_tail()))
                if time.monotonic() > end:
                    self.stop(check=False)
                    pytest.fail("posternd %s: %s:%d never accepted\n%s" % (
                        self.name, host, port, self.log_tail()))
                time.sleep(0.05)
        return self

    @staticmethod
    def _accepts(host, port):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            try:
                s.connect((host, port))
                return True
            except OSError:
                return False

    def workers(self):
        return helpers.children(self.pid)

    def wait_workers(self, at_least=1, deadline=15):
        return helpers.wait_for(lambda: len(self.workers()) >= at_least
                                and self.workers(), deadline,
                                what="%d workers of %s" % (at_least, self.name))

    def signal(self, sig):
        os.kill(self.pid, sig)

    def terminate(self):
        """Sends SIGTERM, remembering the workers so stop() can check
        that none of them outlives the master."""
        self.exiting = [(p, helpers.start_time(p)) for p in self.workers()]
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=80):
        text = self.log_text().splitlines()
        return "---- %s (last %d lines) ----\n%s" % (
            self.log, lines, "\n".join(text[-lines:]))

    def _forget(self):
        if self in RUNNING:
            RUNNING.remove(self)
        self.logf.close()

    def stop(self, check=True):
        """SIGTERM by pid, SIGKILL after a deadline; checks that the
        master exited cleanly, that no worker survived it and that the
        sanitizers stayed silent."""
        if self.proc is None or self not in RUNNING:
            return
        problems = []
        if self.exiting is None:
            self.terminate()
        before = self.exiting
        try:
            self.proc.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            problems.append("master ignored SIGTERM for %d s" % STOP_DEADLINE)
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.proc.returncode != 0:
            problems.append("master exit status %s" % self.proc.returncode)
        end = time.monotonic() + 5
        while time.monotonic() < end and any(helpers.alive(*w) for w in before):
            time.sleep(0.1)
        survivors = [p for p, st in before if helpers.alive(p, st)]
        for p in survivors:
            os.kill(p, signal.SIGKILL)
        if survivors:
            problems.append("workers outlived the master: %r" % survivors)
        self._forget()
        found = SANITIZER_RE.search(self.log_text())
        if found:
            problems.append("sanitizer report in the log")
        if problems and check:
            pytest.fail("posternd %s: %s\n%s" % (
                self.name, "; ".join(problems), self.log_tail(150)))
        return problems


# -- fixtures ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def env():
    require_binaries()
    root = tempfile.mkdtemp(prefix="postern-it-", dir="/tmp")
    os.chmod(root, 0o755)
    e = Env(root)
    yield e
    for d in list(RUNNING):
        d.stop(check=False)
    if not os.environ.get("POSTERN_KEEP_TMP"):
        shutil.rmtree(root, ignore_errors=True)


class Users:
    """alice (the standard corpus, never changed) plus a pool of users with
    private maildrops for tests that change mail."""

    def __init__(self, env):
        self.env = env
        self.pool = []
        env.add_user("alice", "alice-Secret1")
        env.seed("alice", helpers.corpus())
        for i in range(POOL_SIZE):
            name = "user%02d" % i
            env.add_user(name, "pw-%s-x7" % name)
            self.pool.append(name)
        self.made = POOL_SIZE - 1

    def fresh(self, messages=None):
        """A user nobody else touches, with a re-seeded maildrop.  Made
        before any daemon starts when possible; once the pool is used up,
        more are added with the daemons running (the file directory
        re-reads the users file when it changes)."""
        if not self.pool:
            self.made += 1
            name = "user%02d" % self.made
            self.env.add_user(name, "pw-%s-x7" % name)
            self.pool.append(name)
        name = self.pool.pop(0)
        self.env.seed(name, helpers.corpus() if messages is None
                      else messages)
        return name, self.env.passwords[name]


@pytest.fixture(scope="session")
def users(env):
    return Users(env)


@pytest.fixture(scope="session")
def alice(env, users):
    return "alice", env.passwords["alice"]


@pytest.fixture
def mailbox(users):
    """Factory: mailbox() -> (user, password) with the standard corpus."""
    return users.fresh


@pytest.fixture(scope="session")
def ctx(env):
    return helpers.tls_client_context(env.ca)


@pytest.fixture(scope="session")
def server(env, users):
    """The shared daemon: no trusted networks, pop3 + pop3s (+ ::1)."""
    d = Daemon(env, "shared").start()
    yield d
    d.stop()


@pytest.fixture(scope="session")
def trusted_server(env, users):
    """A daemon that trusts 127.0.0.0/8 (cleartext logins allowed)."""
    d = Daemon(env, "trusted", trusted_networks="127.0.0.0/8").start()
    yield d
    d.stop()


def stop_all(daemons):
    """Stops each daemon and fails the test with every problem found."""
    errors = []
    for d in daemons:
        try:
            d.stop()
        except pytest.fail.Exception as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def daemon(env, users, request):
    """Factory for a private daemon, stopped (and checked) at teardown."""
    made = []

    def make(start=True, **kw):
        name = "%s-%d" % (request.node.name, len(made))
        d = Daemon(env, re.sub(r"[^A-Za-z0-9_.-]", "_", name), **kw)
        made.append(d)
        return d.start() if start else d

    yield make
    stop_all(made)


# -- hooks ------------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    def expired(signum, frame):
        raise TimeoutError("test ran longer than %d s" % TEST_TIMEOUT)
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when == "call":
        for d in RUNNING:
            rep.sections.append(("posternd %s log" % d.name, d.log_tail()))
