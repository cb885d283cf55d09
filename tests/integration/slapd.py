"""Throwaway OpenLDAP servers for the LDAP tests (PROTOCOLS.md 5).

Import the fixtures into a test module:

    from slapd import slapd, module_slapd   # noqa: F401 (pytest fixtures)

`slapd` (per test) and `module_slapd` (per module) are factories:
slapd(name, tls=(cert, key), seed=True) -> a started, seeded Slapd on a
free loopback port, from a temp slapd.conf (back-mdb) that includes the
schema files shipped in packaging/ldap/.  Several instances may run at once
(failover tests seed two with the same data).  Each is stopped by its PID
at teardown, and can be stopped, paused (SIGSTOP: a hung server) and
started again on the same port and database in between.

slapd runs in the foreground with `-d 256` (stats), so its log shows every
connection, BIND and search filter; tests read it through log_text().

The directory (SUFFIX) holds:

    ou=people     alice   SCRAM-SHA-256 + SCRAM-SHA-1 authPassword (RFC 5803,
                          made here like Postern's verifier.c) and an {SSHA}
                          userPassword, in the POP access group
                  bob     only an {SSHA} userPassword (ldap_password_check
                          = bind), in the access group
                  carol   like alice but posternStatus: disabled
                  dave    like alice but not in the access group
    ou=services   cn=pop  the service account (simple bind)
    ou=groups     cn=pop-users  the access group (memberOf by the memberof
                          overlay, so seeding goes through ldapadd)
"""

import base64
import hashlib
import hmac
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import REPO, free_port
from helpers import run

SUFFIX = "dc=postern,dc=test"
ADMIN_DN = "cn=admin," + SUFFIX
ADMIN_PW = "admin-Ldap-pw1"
PEOPLE = "ou=people," + SUFFIX
SERVICE_DN = "cn=pop,ou=services," + SUFFIX
SERVICE_PW = "pop-Service-pw9"
ACCESS_GROUP = "cn=pop-users,ou=groups," + SUFFIX
SCHEMA_DIR = "/etc/ldap/schema"
PACKAGING = os.path.join(REPO, "packaging", "ldap")
START_DEADLINE = 20     # seconds for slapd to answer a search
STOP_DEADLINE = 10      # seconds after SIGTERM before SIGKILL

PASSWORDS = {"alice": "alice-Ldap-pw1", "bob": "bob-Ldap-pw2",
             "carol": "carol-Ldap-pw3", "dave": "dave-Ldap-pw4"}

SLAPD_CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
include {packaging}/authpassword.schema
include {packaging}/postern.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
{tls}
{authz}
database mdb
maxsize 104857600
suffix "{suffix}"
rootdn "{admin_dn}"
rootpw {admin_pw}
directory {dir}/db
index objectClass eq
index uid eq
overlay memberof
access to attrs=userPassword,authPassword
    by self =xw
    by dn.exact="{service_dn}" read
    by anonymous auth
    by * none
access to * by * read
"""


def need_tools():
    for tool in ("slapd", "slaptest", "slappasswd", "ldapadd", "ldapsearch"):
        if not shutil.which(tool):
            pytest.fail("%s is not installed (slapd, ldap-utils)" % tool)


# -- secrets ------------------------------------------------------------------

def scram_verifier(mech, password, salt=None, iterations=4096):
    """RFC 5803 form, computed as directory/verifier.c does:
    MECH$iter:b64(salt)$b64(StoredKey):b64(ServerKey)."""
    hname = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-1": "sha1"}[mech]
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac(hname, password.encode(), salt, iterations)
    ckey = hmac.new(salted, b"Client Key", hname).digest()
    stored = hashlib.new(hname, ckey).digest()
    skey = hmac.new(salted, b"Server Key", hname).digest()
    b = lambda x: base64.b64encode(x).decode()   # noqa: E731
    return "%s$%d:%s$%s:%s" % (mech, iterations, b(salt), b(stored), b(skey))


def ssha(password):
    r = run(["slappasswd", "-h", "{SSHA}", "-s", password])
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode().strip()


def user_dn(name):
    return "uid=%s,%s" % (name, PEOPLE)


def user_entry(name, password, scram=True, status="active", extra=()):
    lines = ["dn: " + user_dn(name), "objectClass: inetOrgPerson",
             "objectClass: posternAccount", "objectClass: authPasswordObject",
             "uid: " + name, "cn: " + name.capitalize(), "sn: Test",
             "mail: %s@postern.test" % name,
             "posternStatus: " + status, "userPassword: " + ssha(password)]
    if scram:
        lines += ["authPassword: " + scram_verifier("SCRAM-SHA-256", password),
                  "authPassword: " + scram_verifier("SCRAM-SHA-1", password)]
    lines += list(extra)
    return "\n".join(lines) + "\n"


def seed_ldif():
    """The test directory described at the top, as one LDIF text.  Made
    once per call: give every instance of a failover pair the same text."""
    head = """\
dn: {suffix}
objectClass: dcObject
objectClass: organization
dc: postern
o: Postern test

dn: {people}
objectClass: organizationalUnit
ou: people

dn: ou=services,{suffix}
objectClass: organizationalUnit
ou: services

dn: ou=groups,{suffix}
objectClass: organizationalUnit
ou: groups

dn: {service_dn}
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: pop
userPassword: {service_pw}
""".format(suffix=SUFFIX, people=PEOPLE, service_dn=SERVICE_DN,
           service_pw=ssha(SERVICE_PW))
    users = [user_entry("alice", PASSWORDS["alice"]),
             user_entry("bob", PASSWORDS["bob"], scram=False),
             user_entry("carol", PASSWORDS["carol"], status="disabled"),
             user_entry("dave", PASSWORDS["dave"])]
    group = ("dn: %s\nobjectClass: groupOfNames\ncn: pop-users\n"
             "member: %s\nmember: %s\nmember: %s\n"
             % (ACCESS_GROUP, user_dn("alice"), user_dn("bob"),
                user_dn("carol")))
    return "\n".join([head] + users + [group])


# -- the server ---------------------------------------------------------------

class Slapd:
    def __init__(self, root, name, tls=None, suffix=SUFFIX,
                 service_dn=SERVICE_DN, external_uid=None):
        """external_uid: also listen on ldapi://, where SASL EXTERNAL
        from a process of that uid is the service account."""
        self.name = name
        self.suffix = suffix
        self.admin_dn = "cn=admin," + suffix
        self.dir = os.path.join(root, name)
        os.makedirs(os.path.join(self.dir, "db"))
        self.port = free_port()
        self.uri = "ldap://127.0.0.1:%d" % self.port
        self.ldapi_uri = None
        authz = ""
        if external_uid is not None:
            self.ldapi_uri = "ldapi://" + os.path.join(
                self.dir, "ldapi").replace("/", "%2F")
            authz = ('authz-regexp "gidNumber=[0-9]+\\\\+uidNumber=%d,'
                     'cn=peercred,cn=external,cn=auth" "%s"'
                     % (external_uid, service_dn))
        self.conf = os.path.join(self.dir, "slapd.conf")
        self.log = os.path.join(self.dir, "slapd.log")
        self.proc = None
        tls_lines = ""
        if tls:
            tls_lines = ("TLSCertificateFile %s\nTLSCertificateKeyFile %s"
                         % tls)
        with open(self.conf, "w") as f:
            f.write(SLAPD_CONF.format(
                schema=SCHEMA_DIR, packaging=PACKAGING, dir=self.dir,
                tls=tls_lines, authz=authz, suffix=suffix,
                admin_dn=self.admin_dn,
                admin_pw=ADMIN_PW, service_dn=service_dn))
        r = run(["slaptest", "-u", "-f", self.conf])
        assert r.returncode == 0, "slaptest: %s" % r.stderr.decode()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            ["slapd", "-d", "256", "-f", self.conf, "-h",
             " ".join(u for u in (self.uri + "/", self.ldapi_uri) if u)],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
            start_new_session=True)
        logf.close()
        end = time.monotonic() + START_DEADLINE
        while True:
            r = run(["ldapsearch", "-x", "-LLL", "-o", "nettimeout=2",
                     "-H", self.uri, "-b", "", "-s", "base", "1.1"],
                    timeout=10)
            if r.returncode == 0:
                return self
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                pytest.fail("slapd %s did not come up: %s\n%s" % (
                    self.name, r.stderr.decode(errors="replace"),
                    self.log_tail()))
            time.sleep(0.1)

    def stop(self):
        """SIGTERM by PID (SIGKILL after a deadline); a paused server is
        woken first so that it can obey."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_DEADLINE)
        self.proc = None

    def pause(self):
        """SIGSTOP: the kernel still completes TCP handshakes, nothing
        answers.  What a hung or partitioned server looks like."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def accepts(self):
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    # -- data ------------------------------------------------------------
    def ldap(self, tool, *args, stdin=None):
        argv = [tool, "-x", "-H", self.uri, "-D", self.admin_dn, "-w",
                ADMIN_PW, *args]
        r = run(argv, input=stdin.encode() if stdin is not None else None)
        assert r.returncode == 0, "%s: %s%s" % (
            " ".join(argv[:3]), r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace"))
        return r.stdout.decode(errors="replace")

    def add(self, ldif):
        return self.ldap("ldapadd", stdin=ldif)

    def modify(self, ldif):
        return self.ldap("ldapmodify", stdin=ldif)

    def seed(self, ldif=None):
        """Adds the test directory (through the server, so that the
        memberof overlay sees the group)."""
        self.add(ldif or seed_ldif())
        return self

    def search(self, base, filt="(objectClass=*)", *attrs):
        return self.ldap("ldapsearch", "-LLL", "-b", base, filt, *attrs)

    # -- logs ------------------------------------------------------------
    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except FileNotFoundError:
            return 0

    def log_since(self, offset):
        return self.log_text().encode()[offset:].decode(errors="replace")

    def log_tail(self, lines=40):
        text = self.log_text().splitlines()
        return "---- %s ----\n%s" % (self.log, "\n".join(text[-lines:]))


class Pool:
    """Instances made by one fixture, all in one temp dir."""

    def __init__(self):
        need_tools()
        self.root = tempfile.mkdtemp(prefix="postern-ldap-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.made = []

    def __call__(self, name="slapd", tls=None, seed=True, start=True, **kw):
        s = Slapd(self.root, "%s-%d" % (name, len(self.made)), tls=tls, **kw)
        self.made.append(s)
        if start:
            s.start()
            if seed:
                s.seed(None if seed is True else seed)
        return s

    def close(self):
        for s in self.made:
            s.stop()
        if not os.environ.get("POSTERN_KEEP_TMP"):
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def slapd():
    """Factory: slapd(name, tls=None, seed=True or an LDIF text,
    start=True) -> Slapd, stopped by PID at the end of the test."""
    pool = Pool()
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def module_slapd():
    """The same factory for servers shared by a whole test module."""
    pool = Pool()
    yield pool
    pool.close()
