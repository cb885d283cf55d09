"""A throwaway MIT Kerberos realm for the GSSAPI and KPOP tests.

Import the fixtures into a test module:

    from kdc import kdc, krb_daemon     # noqa: F401 (pytest fixtures)

`kdc` is one krb5kdc per test session (PROTOCOLS.md 6): realm POSTERN.TEST
on a free loopback port in its own temp dir, with

    alice, bob          users with passwords (kinit as them with kdc.kinit)
    alice/admin         an instance principal, which must never map to alice
    pop/localhost       the service: pop.keytab holds only its key
    host/localhost      another service: shared.keytab holds both keys, so a
                        host/ ticket *can* be decrypted and must be refused
                        on its name alone

krb5.conf pins the host name (no DNS or reverse DNS canonicalization, no
search-domain qualification), so clients asking for a service on
"localhost" always get pop/localhost@POSTERN.TEST.  Clients get
KRB5_CONFIG and KRB5CCNAME through kdc.client_env(ccache); a daemon gets
KRB5_CONFIG and KRB5RCACHEDIR through kdc.daemon_environ() (posternd
inherits the pytest process environment).  krb5kdc is stopped by its PID.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import (IS_ROOT, SERVICE_GID, SERVICE_UID, Daemon, free_port,
                      stop_all)
from helpers import run

REALM = "POSTERN.TEST"
PASSWORDS = {"alice": "alice-Krb-pw1", "bob": "bob-Krb-pw2",
             "alice/admin": "admin-Krb-pw3"}
KDC_DEADLINE = 20       # seconds for krb5kdc to answer a first kinit

KRB5_CONF = """\
[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    qualify_shortname = ""
    default_ccache_name = FILE:{dir}/ccache-default
    udp_preference_limit = 1
    clockskew = {skew}
[realms]
    {realm} = {{
        kdc = 127.0.0.1:{port}
        admin_server = 127.0.0.1:{admin_port}
    }}
[domain_realm]
    localhost = {realm}
"""

KDC_CONF = """\
[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}
[realms]
    {realm} = {{
        database_name = {dir}/principal
        key_stash_file = {dir}/stash
        acl_file = {dir}/kadm5.acl
        kadmind_listen = 127.0.0.1:{admin_port}
        max_life = 10h
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}
[logging]
    kdc = FILE:{dir}/kdc.log
"""


class Kdc:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="postern-krb-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.admin_port = free_port()
        self.conf = os.path.join(self.dir, "krb5.conf")
        # The same realm with a 1 s clock skew: lets a daemon see a ticket
        # that expired a few seconds ago as expired (the default skew of
        # 300 s would still accept it).
        self.strict_conf = os.path.join(self.dir, "krb5-strict.conf")
        # What a production daemon may well have: a krb5.conf whose
        # default realm is another one.  krb5_realms alone must do.
        self.foreign_conf = os.path.join(self.dir, "krb5-foreign.conf")
        self.kdc_conf = os.path.join(self.dir, "kdc.conf")
        self.rcache_dir = os.path.join(self.dir, "rcache")
        os.makedirs(self.rcache_dir)
        os.chmod(self.rcache_dir, 0o1777)
        self.proc = None
        self.seq = 0
        self._write_configs()
        self._create_realm()
        self._start()

    # -- setup -------------------------------------------------------------
    def _write_configs(self):
        fields = dict(realm=REALM, dir=self.dir, port=self.port,
                      admin_port=self.admin_port)
        for path, skew in ((self.conf, 300), (self.strict_conf, 1)):
            with open(path, "w") as f:
                f.write(KRB5_CONF.format(skew=skew, **fields))
        with open(self.kdc_conf, "w") as f:
            f.write(KDC_CONF.format(**fields))
        with open(self.foreign_conf, "w") as f:
            f.write("[libdefaults]\n    default_realm = ELSEWHERE.TEST\n"
                    "    dns_lookup_kdc = false\n")
        open(os.path.join(self.dir, "kadm5.acl"), "w").close()

    def admin_env(self):
        e = dict(os.environ)
        e["KRB5_CONFIG"] = self.conf
        e["KRB5_KDC_PROFILE"] = self.kdc_conf
        return e

    def _check(self, argv, **kw):
        r = run(argv, env=kw.pop("env", self.admin_env()), **kw)
        assert r.returncode == 0, "%s: %s%s" % (
            " ".join(argv), r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace"))
        return r

    def kadmin(self, query):
        return self._check(["kadmin.local", "-r", REALM, "-q", query])

    def _create_realm(self):
        self._check(["kdb5_util", "create", "-s", "-r", REALM,
                     "-P", "master-Krb-pw"])
        for name, pw in PASSWORDS.items():
            self.kadmin("addprinc -pw %s %s" % (pw, name))
        self.pop_keytab = self._keytab("pop.keytab", "pop/localhost")
        self.host_keytab = self._keytab("host.keytab", "host/localhost")
        self.shared_keytab = os.path.join(self.dir, "shared.keytab")
        for p in ("pop/localhost", "host/localhost"):
            self.kadmin("ktadd -k %s -norandkey %s" % (self.shared_keytab, p))
        self.give(self.shared_keytab)

    def _keytab(self, name, principal):
        path = os.path.join(self.dir, name)
        self.kadmin("addprinc -randkey %s" % principal)
        self.kadmin("ktadd -k %s %s" % (path, principal))
        self.give(path)
        return path

    @staticmethod
    def give(path):
        """A keytab readable by the daemon's worker user only."""
        if IS_ROOT:
            os.chown(path, SERVICE_UID, SERVICE_GID)
        os.chmod(path, 0o600)

    def _start(self):
        log = open(os.path.join(self.dir, "krb5kdc.out"), "wb")
        self.proc = subprocess.Popen(
            ["krb5kdc", "-n", "-r", REALM], env=self.admin_env(),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True)
        log.close()
        end = time.monotonic() + KDC_DEADLINE
        probe = self.path("probe.ccache")
        while True:
            r = self._kinit("bob", probe)
            if r.returncode == 0:
                break
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                pytest.fail("krb5kdc did not come up: %s\n%s" % (
                    r.stderr.decode(errors="replace"), self.log_tail()))
            time.sleep(0.1)

    def ensure_running(self):
        """Restarts krb5kdc (same port, same database) if something outside
        the tests killed it; the KDC is scenery here, not under test."""
        if self.proc is not None and self.proc.poll() is not None:
            print("kdc.py: krb5kdc exited with %s; restarting"
                  % self.proc.returncode)
            self._start()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def cleanup(self):
        self.stop()
        if not os.environ.get("POSTERN_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- for tests ---------------------------------------------------------
    def path(self, name):
        return os.path.join(self.dir, name)

    def log_tail(self, lines=30):
        try:
            with open(self.path("kdc.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except FileNotFoundError:
            return ""

    def new_ccache(self):
        """A path for a ccache nobody else uses."""
        self.seq += 1
        return self.path("cc-%d-%d" % (os.getpid(), self.seq))

    def client_env(self, ccache, base=None, strict=False):
        e = dict(base if base is not None else os.environ)
        e["KRB5_CONFIG"] = self.strict_conf if strict else self.conf
        e["KRB5CCNAME"] = "FILE:" + ccache
        e.pop("KRB5_KTNAME", None)
        return e

    def add_user(self, name, password):
        """A principal for a user of the test directory (the pool users)."""
        if name not in PASSWORDS:
            self.kadmin("addprinc -pw %s %s" % (password, name))
            PASSWORDS[name] = password

    def kinit(self, name, ccache=None, lifetime=None, check=True):
        """kinit name into ccache (default: a fresh one); returns the
        ccache path, or the run result with check=False."""
        ccache = ccache or self.new_ccache()
        self.ensure_running()
        r = self._kinit(name, ccache, lifetime)
        if not check:
            return r
        assert r.returncode == 0, "kinit %s: %s\n%s" % (
            name, r.stderr.decode(errors="replace"), self.log_tail())
        return ccache

    def _kinit(self, name, ccache, lifetime=None):
        argv = ["kinit"] + (["-l", lifetime] if lifetime else []) + [name]
        return run(argv, env=self.client_env(ccache),
                   input=(PASSWORDS[name] + "\n").encode())

    def kvno(self, service, ccache):
        """Fetches a service ticket into ccache, like a client would."""
        r = run(["kvno", service], env=self.client_env(ccache))
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        return r

    @contextlib.contextmanager
    def daemon_environ(self, conf=None):
        """os.environ as a daemon started inside the block sees it:
        a krb5.conf (this realm's; "strict": with a 1 s clock skew;
        "foreign": another default realm) and a replay cache under the
        temp dir."""
        saved = {k: os.environ.get(k) for k in
                 ("KRB5_CONFIG", "KRB5RCACHEDIR", "KRB5_KTNAME")}
        os.environ["KRB5_CONFIG"] = {None: self.conf,
                                     "strict": self.strict_conf,
                                     "foreign": self.foreign_conf}[conf]
        os.environ["KRB5RCACHEDIR"] = self.rcache_dir
        os.environ.pop("KRB5_KTNAME", None)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


# One KDC per pytest session even though each test module that imports the
# fixture gets its own copy of it (pytest registers fixtures per module).
_KDC = []


def _need_tools():
    for tool in ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "kvno"):
        if not shutil.which(tool):
            pytest.fail("%s is not installed (krb5-kdc, krb5-admin-server, "
                        "krb5-user)" % tool)


@pytest.fixture(scope="session")
def kdc():
    _need_tools()
    if not _KDC:
        _KDC.append(Kdc())
    k = _KDC[0]
    yield k
    if _KDC:
        _KDC.pop().cleanup()


def krb_settings(kdc, keytab=None, **extra):
    """Daemon settings for the realm: GSSAPI offered first."""
    s = {
        "krb5_keytab": keytab or kdc.pop_keytab,
        "krb5_service": "pop",
        "krb5_realms": REALM,
        "hostname": "localhost",
        "sasl_mechanisms": "GSSAPI SCRAM-SHA-256 PLAIN",
    }
    s.update(extra)
    return s


@pytest.fixture
def krb_daemon(env, users, kdc, request):
    """Factory: krb_daemon(listeners=None, keytab=None, conf=None,
    **settings) -> a started Daemon configured for the realm (conf: see
    Kdc.daemon_environ), stopped (and checked for sanitizer reports) at
    teardown."""
    made = []

    def make(listeners=None, keytab=None, conf=None, **settings):
        name = "krb-%s-%d" % (request.node.name, len(made))
        name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)
        d = Daemon(env, name, listeners=listeners,
                   **krb_settings(kdc, keytab, **settings))
        made.append(d)
        with kdc.daemon_environ(conf):
            d.start()
        return d

    yield make
    stop_all(made)
