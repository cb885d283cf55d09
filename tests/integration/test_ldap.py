"""The OpenLDAP directory (issue 4) end to end: a throwaway slapd (slapd.py)
with the schema from packaging/ldap/, the real daemon with directory =
ldap, real clients.  PROTOCOLS.md 5; postern.conf(5), section LDAP.

Every daemon here talks StartTLS to slapd, binds as the service account
whose password the master reads from a root-only file, finds users with
(&(objectClass=posternAccount)(uid=%u)) and lets in only members of the
access group (memberOf)."""

import base64
import os
import re
import signal
import stat
import subprocess
import time

import pytest

import helpers
from helpers import need
from conftest import (BUILD, IS_ROOT, POSTERN, REPO, SANITIZER_RE,
                      SERVICE_GID, SERVICE_UID, Daemon, config_text,
                      free_port, stop_all)
from helpers import Pop3, corpus, plain_ir, run, scram_login
from kdc import kdc, krb_settings  # noqa: F401 (fixture)
from slapd import (ACCESS_GROUP, PACKAGING, PASSWORDS, PEOPLE, SCHEMA_DIR,
                   SERVICE_DN, SERVICE_PW, module_slapd, need_tools,
                   scram_verifier, seed_ldif, slapd, user_dn,
                   user_entry)  # noqa: F401

MSGS = corpus()
TIMEOUT = 2             # ldap_timeout of the daemons here
MARGIN = 3              # seconds a login may take on top of it
USER_FILTER = "(&(objectClass=posternAccount)(uid=%u))"


# -- the daemons' surroundings ------------------------------------------------

def make_maildir(path, messages):
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for i, msg in enumerate(messages):
        name = "%d.M%dP1.ldap-test" % (1700000000 + i, i)
        with open(os.path.join(path, "new", name), "wb") as f:
            f.write(msg)
        os.utime(os.path.join(path, "new", name),
                 (1700000000 + i, 1700000000 + i))


def give(path):
    if not IS_ROOT:
        return
    for top, dirs, files in os.walk(path):
        os.chown(top, SERVICE_UID, SERVICE_GID)
        for name in files:
            os.chown(os.path.join(top, name), SERVICE_UID, SERVICE_GID)


@pytest.fixture(scope="module")
def store(env):
    """store_root with a maildrop per directory user (the corpus)."""
    path = os.path.join(env.root, "ldap-store")
    for name in PASSWORDS:
        make_maildir(os.path.join(path, name), MSGS)
    give(path)
    return path


@pytest.fixture(scope="module")
def secret_file(env):
    """The service account's password: mode 0600, owned by root, so only
    the master (before it drops privileges) can read it."""
    d = os.path.join(env.root, "ldap-secret")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o700)
    path = os.path.join(d, "bind.pw")
    with open(path, "w") as f:
        f.write(SERVICE_PW + "\n")
    os.chmod(path, 0o600)
    return path


def ldap_settings(env, uris, store, secret_file, **extra):
    s = {
        "directory": "ldap",
        "users_file": None,
        "store_root": store,
        "ldap_uris": uris,
        "ldap_starttls": "yes",
        "ldap_ca_file": env.ca,
        "ldap_bind_method": "simple",
        "ldap_bind_dn": SERVICE_DN,
        "ldap_bind_password_file": secret_file,
        "ldap_base": PEOPLE,
        "ldap_user_filter": USER_FILTER,
        "ldap_access_filter": "(memberOf=%s)" % ACCESS_GROUP,
        "ldap_attr_maildrop": "posternMaildrop",
        "ldap_attr_status": "posternStatus",
        "ldap_attr_login_delay": "posternLoginDelay",
        "ldap_attr_expire": "posternExpire",
        "ldap_timeout": str(TIMEOUT),
        # deliberate failures from 127.0.0.1 must not be slowed down
        "throttle_failures": "0",
    }
    s.update(extra)
    return s


def uris(*servers):
    return " ".join(s.uri for s in servers)


@pytest.fixture
def ldap_daemon(env, store, secret_file, request):
    """Factory: ldap_daemon(servers, **settings) -> a started Daemon using
    those slapds in order; stopped and checked at teardown."""
    made = []

    def make(servers, start=True, **settings):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", "ldap-%s-%d" % (
            request.node.name, len(made)))
        d = Daemon(env, name, **ldap_settings(env, uris(*servers), store,
                                              secret_file, **settings))
        made.append(d)
        return d.start() if start else d

    yield make
    stop_all(made)


@pytest.fixture(scope="module")
def directory(module_slapd, env):
    """The shared slapd (StartTLS with the test CA's certificate)."""
    return module_slapd("main", tls=(env.cert, env.key))


@pytest.fixture(scope="module")
def server(env, store, secret_file, directory):
    """The shared daemon on the shared slapd (verifier checks)."""
    d = Daemon(env, "ldap-shared", **ldap_settings(
        env, directory.uri, store, secret_file))
    d.start()
    yield d
    d.stop()


# -- clients ------------------------------------------------------------------

def attempt(port, ctx, user, password, deadline=10):
    """USER/PASS on the implicit-TLS port; returns the PASS reply (after
    QUIT when it succeeded).  Retries [IN-USE] for a moment: the last
    session of the same user may still be closing."""
    end = time.monotonic() + deadline
    while True:
        with Pop3("127.0.0.1", port, tls=ctx) as c:
            c.ok("USER " + user)
            resp = c.cmd("PASS " + password)
            if resp.startswith(b"+OK"):
                assert helpers.stat(c) == (len(MSGS), sum(
                    len(helpers.crlf(m)) for m in MSGS))
                c.ok("QUIT")
        if b"[IN-USE]" not in resp or time.monotonic() > end:
            return resp
        time.sleep(0.2)


def plain(port, ctx, user, password):
    with Pop3("127.0.0.1", port, tls=ctx) as c:
        resp = c.cmd("AUTH PLAIN " + plain_ir(user, password))
        if resp.startswith(b"+OK"):
            c.ok("QUIT")
        return resp


def scram(port, ctx, mech, user, password):
    with Pop3("127.0.0.1", port, tls=ctx) as c:
        resp, verified = scram_login(c, mech, user, password)
        if resp.startswith(b"+OK"):
            c.ok("QUIT")
        return resp, verified


def assert_ok(resp):
    assert resp.startswith(b"+OK"), resp


def assert_code(resp, code):
    assert resp.startswith(b"-ERR [%s]" % code.encode()), resp


def timed(fn, *args):
    t0 = time.monotonic()
    out = fn(*args)
    return out, time.monotonic() - t0


# -- logins -------------------------------------------------------------------

def test_user_pass(server, ctx):
    assert_ok(attempt(server.port("pop3s"), ctx, "alice", PASSWORDS["alice"]))


def test_user_pass_after_stls(server, ctx):
    with Pop3("127.0.0.1", server.port("pop3")) as c:
        c.starttls(ctx)
        c.login("alice", PASSWORDS["alice"])
        assert helpers.stat(c)[0] == len(MSGS)
        c.ok("QUIT")


def test_auth_plain_over_tls(server, ctx):
    assert_ok(plain(server.port("pop3s"), ctx, "alice", PASSWORDS["alice"]))


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
def test_scram_with_verifiers_from_ldap(server, ctx, mech):
    """authPassword values made outside Postern (RFC 5803) serve SCRAM,
    and the server proves it holds the ServerKey."""
    resp, verified = scram(server.port("pop3s"), ctx, mech, "alice",
                           PASSWORDS["alice"])
    assert_ok(resp)
    assert verified


def test_scram_plus_with_verifiers_from_ldap(server, env):
    """The same verifiers serve SCRAM-SHA-256-PLUS (tls-exporter)."""
    c = helpers.pyopenssl_pop3(server.port("pop3s"), env.ca)
    with c:
        resp, verified = scram_login(
            c, "SCRAM-SHA-256-PLUS", "alice", PASSWORDS["alice"],
            cbind=("tls-exporter", c.sock.exporter()))
        assert_ok(resp)
        assert verified
        c.ok("QUIT")


def test_mpop_scram_sha256(server, env, tmp_path):
    need("mpop")
    r = run(["mpop", "--host=localhost", "--port=%d" % server.port("pop3"),
             "--tls=on", "--tls-trust-file=" + env.ca,
             "--auth=scram-sha-256", "--user=alice",
             "--passwordeval=echo '%s'" % PASSWORDS["alice"],
             "--status-only", "--debug", "--timeout=30",
             "--delivery=mbox," + str(tmp_path / "mbox"),
             "--uidls-file=" + str(tmp_path / "uidls")],
            env=env.client_env(), cwd=str(tmp_path))
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0, out[-3000:]
    assert "AUTH SCRAM-SHA-256" in out
    assert re.search(r"\b%d messages?\b" % len(MSGS), out), out[-2000:]


def test_disabled_account(server, ctx):
    """carol's password is right, her status is not: [SYS/PERM], whatever
    the mechanism."""
    port = server.port("pop3s")
    assert_code(attempt(port, ctx, "carol", PASSWORDS["carol"]), "SYS/PERM")
    assert_code(plain(port, ctx, "carol", PASSWORDS["carol"]), "SYS/PERM")
    resp, _ = scram(port, ctx, "SCRAM-SHA-256", "carol", PASSWORDS["carol"])
    assert_code(resp, "SYS/PERM")
    # ... and a wrong password tells nothing about the status.
    assert_code(attempt(port, ctx, "carol", "wrong-pw"), "AUTH")


def test_no_pop_access(server, ctx):
    """dave exists and knows his password but is not in the access group."""
    port = server.port("pop3s")
    assert_code(attempt(port, ctx, "dave", PASSWORDS["dave"]), "SYS/PERM")
    resp, _ = scram(port, ctx, "SCRAM-SHA-256", "dave", PASSWORDS["dave"])
    assert_code(resp, "SYS/PERM")


def test_wrong_password_and_unknown_user_look_alike(server, ctx):
    port = server.port("pop3s")
    wrong = attempt(port, ctx, "alice", "not-" + PASSWORDS["alice"])
    unknown = attempt(port, ctx, "zelda", PASSWORDS["alice"])
    assert_code(wrong, "AUTH")
    assert wrong == unknown
    assert plain(port, ctx, "alice", "nope") == plain(port, ctx, "zelda",
                                                       "nope")
    r1, _ = scram(port, ctx, "SCRAM-SHA-256", "alice", "nope")
    r2, _ = scram(port, ctx, "SCRAM-SHA-256", "zelda", "nope")
    assert_code(r1, "AUTH")
    assert r1 == r2


@pytest.mark.parametrize("name", ["*)(uid=*", "*", "al*", "alice)(uid=*",
                                  "*)(|(uid=*", "alice\\2a", "(uid=alice)"])
def test_filter_injection_finds_nobody(server, directory, ctx, name):
    """Names that would match alice (or everyone) if pasted raw into the
    filter find nobody, even with alice's password."""
    before = directory.log_size()
    port = server.port("pop3s")
    assert_code(attempt(port, ctx, name, PASSWORDS["alice"]), "AUTH")
    assert_code(plain(port, ctx, name, PASSWORDS["alice"]), "AUTH")
    log = directory.log_since(before)
    filters = re.findall(r'SRCH base="%s" .*filter="([^"]*)"' % PEOPLE, log)
    assert filters, "no search reached slapd:\n" + log[-2000:]
    for f in filters:
        assert f.count("(") == 3 and f.count(")") == 3, f
        assert "*" not in f, f


def test_login_name_is_the_directorys(server, ctx, store):
    """uid matches without regard to case; the user is the entry's uid,
    so "ALICE" reaches alice's maildrop, not one of its own."""
    assert_ok(attempt(server.port("pop3s"), ctx, "ALICE", PASSWORDS["alice"]))
    resp, _ = scram(server.port("pop3s"), ctx, "SCRAM-SHA-256", "Alice",
                    PASSWORDS["alice"])
    assert_ok(resp)
    assert not os.path.exists(os.path.join(store, "ALICE"))


def add_member(directory, name, password, *extra):
    directory.add(user_entry(name, password, extra=extra))
    directory.modify("dn: %s\nchangetype: modify\nadd: member\n"
                     "member: %s\n" % (ACCESS_GROUP, user_dn(name)))


def test_maildrop_attribute_cannot_escape(server, directory, ctx):
    """Whoever may write posternMaildrop cannot point it out of store_root
    with "..": the account is refused with [SYS/PERM]."""
    add_member(directory, "eve", "eve-Ldap-pw5",
               "posternMaildrop: ../ldap-store/alice")
    assert_code(attempt(server.port("pop3s"), ctx, "eve", "eve-Ldap-pw5"),
                "SYS/PERM")
    assert "maildrop \"../ldap-store/alice\" refused" in server.log_text()


def test_entry_without_usable_name_is_nobody(server, directory, ctx):
    """A uid that could not be a maildrop name under store_root makes the
    entry no user at all."""
    add_member(directory, "x/..", "slash-Ldap-pw6")
    assert_code(attempt(server.port("pop3s"), ctx, "x/..", "slash-Ldap-pw6"),
                "AUTH")
    assert "is not a valid user name; entry ignored" in server.log_text()


def test_malformed_verifier_ignored(server, directory, ctx, store):
    """A broken authPassword value is skipped (and logged), the good one
    after it still serves."""
    pw = "frank-Ldap-pw7"
    make_maildir(os.path.join(store, "frank"), MSGS)
    give(os.path.join(store, "frank"))
    add_member(directory, "frank", pw)
    directory.modify(
        "dn: %s\nchangetype: modify\nreplace: authPassword\n"
        "authPassword: SCRAM-SHA-256$4096:bm90IGJhc2U2NA$$:\n"
        "authPassword: %s\n" % (user_dn("frank"),
                                 scram_verifier("SCRAM-SHA-256", pw)))
    resp, verified = scram(server.port("pop3s"), ctx, "SCRAM-SHA-256",
                           "frank", pw)
    assert_ok(resp)
    assert verified
    assert "malformed SCRAM-SHA-256 verifier ignored" in server.log_text()


def test_no_secret_in_logs(server, directory):
    """Neither the daemon's log nor its config holds a password or
    verifier (the bind password stays in its own file)."""
    ldif = directory.search(PEOPLE, "(uid=alice)", "authPassword")
    text = server.log_text()
    for pw in list(PASSWORDS.values()) + [SERVICE_PW]:
        assert pw not in text
    with open(server.config) as f:
        assert SERVICE_PW not in f.read()
    # The salts, StoredKeys and ServerKeys of alice's verifiers (LDIF
    # shows a value in base64 when it is not plain text).
    values = [v if "$" in v else base64.b64decode(v).decode()
              for v in re.findall(r"authPassword::? (\S+)", ldif)]
    assert len(values) == 2
    for v in values:
        for part in re.split(r"[$:]", v)[2:]:
            assert len(part) >= 20 and part not in text


def test_secret_file_is_roots_alone(secret_file, server, ctx):
    """The workers run as the service user and could not read the file:
    the master did, and the service bind works."""
    st = os.stat(secret_file)
    assert stat.S_IMODE(st.st_mode) == 0o600
    if IS_ROOT:
        assert st.st_uid == 0
        assert helpers.uids(server.workers()[0])[0] == SERVICE_UID
    assert_ok(attempt(server.port("pop3s"), ctx, "alice", PASSWORDS["alice"]))


# -- GSSAPI: the principal maps to a name that is looked up in LDAP -----------

def test_gssapi_user_from_ldap(env, kdc, store, secret_file, directory,
                               tmp_path):
    """alice@POSTERN.TEST (a TGT from the test KDC) logs in as the LDAP
    user alice: the realm is stripped and the name looked up in the
    directory, which supplies maildrop, status and access."""
    need("mpop")
    settings = ldap_settings(env, directory.uri, store, secret_file)
    settings.update(krb_settings(kdc))
    d = Daemon(env, "ldap-gssapi", **settings)
    with kdc.daemon_environ():
        d.start()
    try:
        ccache = kdc.kinit("alice")
        argv = ["mpop", "--host=localhost", "--port=%d" % d.port("pop3"),
                "--tls=on", "--tls-trust-file=" + env.ca, "--auth=gssapi",
                "--user=alice", "--status-only", "--timeout=30",
                "--delivery=mbox," + str(tmp_path / "mbox"),
                "--uidls-file=" + str(tmp_path / "uidls")]
        r = run(argv, env=kdc.client_env(ccache, base=env.client_env()),
                cwd=str(tmp_path))
        out = (r.stdout + r.stderr).decode(errors="replace")
        assert r.returncode == 0, out[-3000:]
        assert re.search(r"\b%d messages?\b" % len(MSGS), out), out
    finally:
        d.stop()


# -- ldap_password_check = bind -----------------------------------------------

@pytest.fixture(scope="module")
def bind_server(env, store, secret_file, directory):
    d = Daemon(env, "ldap-bind", **ldap_settings(
        env, directory.uri, store, secret_file, ldap_password_check="bind"))
    d.start()
    yield d
    d.stop()


def user_binds(directory, offset, name):
    """BINDs as name's DN that slapd logged after offset."""
    return re.findall(r'BIND dn="%s" method=128' % re.escape(user_dn(name)),
                      directory.log_since(offset))


def test_bind_check_ssha_only_user(bind_server, directory, ctx):
    """bob has no verifier at all, only an {SSHA} userPassword that only
    slapd can check: USER/PASS and PLAIN work by binding as him."""
    port = bind_server.port("pop3s")
    before = directory.log_size()
    assert_ok(attempt(port, ctx, "bob", PASSWORDS["bob"]))
    assert_ok(plain(port, ctx, "bob", PASSWORDS["bob"]))
    assert user_binds(directory, before, "bob")


def test_bind_check_wrong_password(bind_server, ctx):
    port = bind_server.port("pop3s")
    wrong = attempt(port, ctx, "bob", "not-" + PASSWORDS["bob"])
    assert_code(wrong, "AUTH")
    assert wrong == attempt(port, ctx, "zelda", "whatever")
    assert_code(plain(port, ctx, "bob", "nope"), "AUTH")


def test_bind_check_empty_password_never_binds(bind_server, directory, ctx):
    port = bind_server.port("pop3s")
    before = directory.log_size()
    with Pop3("127.0.0.1", port, tls=ctx) as c:
        c.ok("USER bob")
        assert c.cmd("PASS ").startswith(b"-ERR")
    with Pop3("127.0.0.1", port, tls=ctx) as c:
        c.ok("USER bob")
        assert c.cmd("PASS").startswith(b"-ERR")
    assert plain(port, ctx, "bob", "").startswith(b"-ERR")
    time.sleep(0.3)
    assert not user_binds(directory, before, "bob")


def test_bind_check_no_scram_without_verifiers(bind_server, ctx):
    """SCRAM needs verifiers, whatever ldap_password_check says."""
    resp, _ = scram(bind_server.port("pop3s"), ctx, "SCRAM-SHA-256", "bob",
                    PASSWORDS["bob"])
    assert_code(resp, "AUTH")


# The backend alone, through a small C program linked with the build's
# libdirectory: config_load + dir_ldap_open_config + lookup + password
# checks, as the SASL glue calls them.

PROBE_C = r"""
#include "config.h"
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include "common/conf.h"
#include "common/log.h"
#include "directory/dir_ldap.h"
#include "directory/directory.h"

static const char *
res(enum dir_result r)
{
	return r == DIR_OK ? "ok" : r == DIR_NOTFOUND ? "notfound" : "tempfail";
}

int
main(int argc, char **argv)
{
	char err[512], line[1024];
	struct user_record *u = NULL;
	struct directory *d;
	struct config *cfg;
	enum dir_result r;
	bool ok;

	if (argc != 3)
		return 2;
	log_open("ldap-probe", LOG_DAEMON, true);
	if ((cfg = config_load(argv[1], err, sizeof(err))) == NULL ||
	    (d = dir_ldap_open_config(cfg, err, sizeof(err))) == NULL) {
		printf("open: %s\n", err);
		return 1;
	}
	/* A name with '@' goes through ldap_principal_filter. */
	if (strchr(argv[2], '@') != NULL)
		r = directory_lookup_principal(d, argv[2], &u);
	else
		r = directory_lookup(d, argv[2], &u);
	printf("lookup %s%s%s\n", res(r), u ? " " : "", u ? u->name : "");
	while (r == DIR_OK && fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		enum dir_result c = directory_check_password(d, u, line, &ok);
		printf("check %s\n", c != DIR_OK ? res(c) : ok ? "right" : "wrong");
		fflush(stdout);
	}
	user_record_free(u);
	directory_close(d);
	config_free(cfg);
	return 0;
}
"""


def make_vars():
    return helpers.make_vars(
        BUILD, "LDAP_LIBS", "OPENSSL_LIBS", "CRYPT_LIBS",
        "PST_SAN_CFLAGS", "PST_STD_CFLAGS", "LDAP_CFLAGS")


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    need("gcc")
    v = make_vars()
    libs = [os.path.join(BUILD, d, "lib%s.a" % n)
            for d, n in (("directory", "directory"), ("common", "common"))]
    d = tmp_path_factory.mktemp("ldap-probe")
    src, exe = d / "probe.c", d / "probe"
    src.write_text(PROBE_C)
    argv = ["gcc", *v["PST_STD_CFLAGS"].split(), "-Wall", "-Wextra",
            "-Werror", *v["PST_SAN_CFLAGS"].split(), "-I" + REPO,
            "-I" + BUILD, *v["LDAP_CFLAGS"].split(), "-o", str(exe),
            str(src), *libs, *v["LDAP_LIBS"].split(),
            *v["OPENSSL_LIBS"].split(), *v["CRYPT_LIBS"].split()]
    r = run(argv)
    assert r.returncode == 0, "%s\n%s" % (" ".join(argv), r.stderr.decode())

    def call(config, name, passwords=()):
        r = run([str(exe), config, name],
                input="".join(p + "\n" for p in passwords).encode())
        err = r.stderr.decode(errors="replace")
        assert not SANITIZER_RE.search(err), err
        return r.stdout.decode().split("\n")[:-1], err
    return call


def test_backend_bind_check(probe, bind_server, directory):
    """directory_check_password with ldap_password_check = bind: right,
    wrong and empty passwords; only the non-empty ones reach slapd."""
    before = directory.log_size()
    out, err = probe(bind_server.config, "bob",
                     [PASSWORDS["bob"], "wrong", ""])
    assert out == ["lookup ok bob", "check right", "check wrong",
                   "check wrong"], err
    assert len(user_binds(directory, before, "bob")) == 2


def test_backend_verifier_check(probe, server):
    out, err = probe(server.config, "alice", [PASSWORDS["alice"], "x", ""])
    assert out == ["lookup ok alice", "check right", "check wrong",
                   "check wrong"], err
    out, _ = probe(server.config, "bob", [PASSWORDS["bob"]])
    assert out == ["lookup ok bob", "check wrong"]
    out, _ = probe(server.config, "*", [])
    assert out == ["lookup notfound"]


def test_backend_principal_lookup(probe, env, store, secret_file, directory,
                                  tmp_path):
    """ldap_principal_filter (the backend's principal lookup; the daemon
    maps principals by realm today): here by mail, which the test entries
    have, with the principal escaped like any name."""
    conf = tmp_path / "postern.conf"
    conf.write_text(config_text(
        env, [("pop3s", "127.0.0.1", free_port())],
        ldap_settings(env, directory.uri, store, secret_file,
                      ldap_principal_filter="(&(objectClass=posternAccount)"
                                            "(mail=%p))")))
    out, err = probe(str(conf), "alice@postern.test")
    assert out == ["lookup ok alice"], err
    out, err = probe(str(conf), "*@postern.test")
    assert out == ["lookup notfound"], err
    out, err = probe(server_config_without_principal(env, store, secret_file,
                                                     directory, tmp_path),
                     "alice@postern.test")
    assert out == ["lookup notfound"], err


def server_config_without_principal(env, store, secret_file, directory,
                                    tmp_path):
    conf = tmp_path / "plain.conf"
    conf.write_text(config_text(env, [("pop3s", "127.0.0.1", free_port())],
                                ldap_settings(env, directory.uri, store,
                                              secret_file)))
    return str(conf)


# -- failover and outages -----------------------------------------------------

def login_round(port, ctx, rounds, who=("alice", "carol", "dave")):
    """Logins that must each come back within ldap_timeout + MARGIN with
    the answer the directory gives; returns the slowest time."""
    want = {"alice": b"+OK", "carol": b"-ERR [SYS/PERM]",
            "dave": b"-ERR [SYS/PERM]"}
    slowest = 0
    for i in range(rounds):
        name = who[i % len(who)]
        resp, took = timed(attempt, port, ctx, name, PASSWORDS[name])
        assert resp.startswith(want[name]), (name, resp)
        assert took < TIMEOUT + MARGIN, "login of %s took %.1f s" % (name,
                                                                   took)
        slowest = max(slowest, took)
    return slowest


def searches(server, offset):
    return len(re.findall(r"SRCH base=", server.log_since(offset)))


@pytest.mark.parametrize("how", ["stop", "pause"])
def test_failover_to_second_server(slapd, ldap_daemon, env, ctx, how):
    """Two slapds with the same data; the first goes away (stopped by PID,
    or paused so that it accepts connections and never answers) while
    logins go on: they keep working through the second, each within
    ldap_timeout + a margin, on every worker."""
    data = seed_ldif()
    first = slapd("first", tls=(env.cert, env.key), seed=data)
    second = slapd("second", tls=(env.cert, env.key), seed=data)
    d = ldap_daemon([first, second], min_spare_workers="3")
    port = d.port("pop3s")
    before = second.log_size()
    login_round(port, ctx, 6)
    assert searches(second, before) == 0, "the second server was used early"
    if how == "stop":
        first.stop()
        assert not first.accepts()
    else:
        first.pause()
    try:
        before = second.log_size()
        login_round(port, ctx, 12)
        assert searches(second, before) > 0
        # SCRAM needs the verifiers: they come from the second server now.
        resp, verified = scram(port, ctx, "SCRAM-SHA-256", "alice",
                               PASSWORDS["alice"])
        assert_ok(resp)
        assert verified
    finally:
        if how == "pause":
            first.resume()


def test_directory_down_then_back(slapd, ldap_daemon, env, ctx):
    """No server at all: [SYS/TEMP] (never [AUTH]: the password may be
    right) for every mechanism.  slapd comes back on the same port: logins
    work again without restarting Postern."""
    only = slapd("only", tls=(env.cert, env.key))
    d = ldap_daemon([only])
    port = d.port("pop3s")
    assert_ok(attempt(port, ctx, "alice", PASSWORDS["alice"]))
    pid = d.pid
    only.stop()
    for _ in range(3):
        resp, took = timed(attempt, port, ctx, "alice", PASSWORDS["alice"])
        assert_code(resp, "SYS/TEMP")
        assert took < TIMEOUT + MARGIN
    assert_code(plain(port, ctx, "alice", PASSWORDS["alice"]), "SYS/TEMP")
    resp, _ = scram(port, ctx, "SCRAM-SHA-256", "alice", PASSWORDS["alice"])
    assert_code(resp, "SYS/TEMP")
    only.start()
    helpers.wait_for(lambda: attempt(port, ctx, "alice", PASSWORDS["alice"])
                     .startswith(b"+OK"), deadline=10,
                     what="logins after slapd came back")
    assert_ok(plain(port, ctx, "alice", PASSWORDS["alice"]))
    assert d.pid == pid and d.proc.poll() is None


def test_external_bind_over_ldapi(slapd, ldap_daemon, env, ctx):
    """ldap_bind_method = external over ldapi://: slapd maps the workers'
    uid to the service account, which alone may read the verifiers.
    StartTLS stays on in the config and is (rightly) not tried on ldapi."""
    s = slapd("ldapi", tls=(env.cert, env.key), external_uid=SERVICE_UID)
    d = ldap_daemon([s], ldap_uris=s.ldapi_uri, ldap_bind_method="external",
                    ldap_bind_dn=None, ldap_bind_password_file=None)
    port = d.port("pop3s")
    resp, verified = scram(port, ctx, "SCRAM-SHA-256", "alice",
                           PASSWORDS["alice"])
    assert_ok(resp)
    assert verified
    assert_code(attempt(port, ctx, "dave", PASSWORDS["dave"]), "SYS/PERM")
    assert re.search(r'BIND dn="" method=163', s.log_text())


# -- postern user show --------------------------------------------------------

def admin(config, *args, stdin=None):
    return run([POSTERN, "-c", config, *args],
               input=stdin.encode() if stdin is not None else None)


def show(config, name):
    r = admin(config, "user", "show", name)
    out = r.stdout.decode(errors="replace")
    fields = dict(line.split(": ", 1) for line in out.splitlines()
                  if ": " in line)
    return r, fields


def test_user_show_reads_ldap(server, directory, store):
    r, f = show(server.config, "alice")
    assert r.returncode == 0, r.stderr.decode()
    assert f["name"] == "alice"
    assert f["source"] == user_dn("alice")
    assert f["maildrop"] == os.path.join(store, "alice")
    assert f["status"] == "enabled"
    assert f["access"] == "yes"
    assert f["scram-sha-256"] == "yes" and f["scram-sha-1"] == "yes"
    assert f["crypt"] == "no"
    assert f["password check"] == "verifiers"
    assert f["mechanisms"] == "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN USER"
    # Which secrets exist, never their values.
    out = r.stdout.decode() + r.stderr.decode()
    assert "$" not in out and "4096" not in out
    assert PASSWORDS["alice"] not in out


def test_user_show_states(server, bind_server):
    _, f = show(server.config, "carol")
    assert f["status"] == "disabled" and f["access"] == "yes"
    _, f = show(server.config, "dave")
    assert f["status"] == "enabled" and f["access"] == "no"
    _, f = show(server.config, "bob")
    assert f["mechanisms"] == "none but GSSAPI/KPOP"
    _, f = show(bind_server.config, "bob")
    assert f["password check"] == "bind as " + user_dn("bob")
    assert f["mechanisms"] == "PLAIN USER"


def test_user_show_errors(server):
    r, _ = show(server.config, "zelda")
    assert r.returncode == 1
    assert "no such user" in r.stderr.decode()
    r, _ = show(server.config, "bad/name")
    assert r.returncode == 1


def test_uidl_import_finds_the_maildrop_in_ldap(server, store):
    """postern uidl import looks the user up in the directory, as the
    daemon would (a dry run: the shared maildrop stays as it is)."""
    md = os.path.join(store, "alice")
    names = sorted(os.listdir(os.path.join(md, "cur")) +
                   os.listdir(os.path.join(md, "new")))
    lines = "".join("%s OLD-%d\n" % (n, i) for i, n in enumerate(names))
    r = admin(server.config, "uidl", "import", "alice", "-", "--dry-run",
              stdin=lines + "gone.1 OLD-GONE\n")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == "alice: would import %d UIDLs; %d name " \
        "messages in the maildrop, 1 name none\n" % (len(names) + 1,
                                                     len(names))
    assert not os.path.exists(os.path.join(md, "postern.uidls"))
    r = admin(server.config, "uidl", "import", "zelda", "-", stdin="a.1 U\n")
    assert r.returncode == 1 and b"no such user: zelda" in r.stderr


def test_user_show_directory_down(slapd, env, store, secret_file, tmp_path):
    only = slapd("show", tls=(env.cert, env.key))
    conf = tmp_path / "postern.conf"
    conf.write_text(config_text(env, [("pop3s", "127.0.0.1", free_port())],
                                ldap_settings(env, only.uri, store,
                                              secret_file)))
    r, f = show(str(conf), "alice")
    assert r.returncode == 0 and f["name"] == "alice"
    only.stop()
    r, _ = show(str(conf), "alice")
    assert r.returncode == 1
    assert "unavailable" in r.stderr.decode()


def test_empty_bind_password_file_refused(env, store, directory, tmp_path):
    """An empty password would make the service bind unauthenticated."""
    pw = tmp_path / "empty.pw"
    pw.write_text("\n")
    os.chmod(pw, 0o600)
    conf = tmp_path / "postern.conf"
    conf.write_text(config_text(env, [("pop3s", "127.0.0.1", free_port())],
                                ldap_settings(env, directory.uri, store,
                                              str(pw))))
    r, _ = show(str(conf), "alice")
    assert r.returncode == 1
    assert "%s: empty" % pw in r.stderr.decode()


@pytest.mark.parametrize("args", [("user", "add", "erin"),
                                  ("user", "passwd", "alice"),
                                  ("user", "del", "alice"),
                                  ("user", "disable", "alice"),
                                  ("user", "enable", "alice"),
                                  ("user", "list")])
def test_user_edits_refused_for_ldap(server, args):
    r = admin(server.config, *args, stdin="some-password\n")
    assert r.returncode == 1
    assert "directory is ldap" in r.stderr.decode()


# -- packaging/ldap -----------------------------------------------------------

def test_example_ldif_and_conf(slapd, env, tmp_path, secret_file):
    """example.ldif loads into a slapd with the shipped schema, and
    postern-ldap.conf (pointed at that slapd) finds its users."""
    s = slapd("example", seed=False, suffix="dc=example,dc=org",
              service_dn="cn=postern,ou=services,dc=example,dc=org")
    with open(os.path.join(PACKAGING, "example.ldif")) as f:
        s.add(f.read())
    store = str(tmp_path / "store")
    os.makedirs(store)
    lines = []
    with open(os.path.join(PACKAGING, "postern-ldap.conf")) as f:
        for line in f:
            key = line.split("=", 1)[0].strip()
            if key in ("ldap_uris", "ldap_starttls", "ldap_ca_file",
                       "ldap_bind_method", "ldap_bind_password_file",
                       "store_root"):
                continue
            lines.append(line)
    # The README's passwords (example.ldif): anonymous can't read
    # authPassword, so bind as the service account.
    pwfile = tmp_path / "bind.pw"
    pwfile.write_text("postern-Service-example\n")
    os.chmod(pwfile, 0o600)
    lines += ["ldap_uris = %s\n" % s.uri, "ldap_bind_method = simple\n",
              "ldap_bind_password_file = %s\n" % pwfile,
              "store_root = %s\n" % store, "user = nobody\n",
              "listen = pop3 127.0.0.1:1110\n",
              "tls_cert = %s\n" % env.cert, "tls_key = %s\n" % env.key]
    conf = tmp_path / "postern.conf"
    conf.write_text("".join(lines))
    r, f = show(str(conf), "jdoe")
    assert r.returncode == 0, r.stderr.decode()
    assert f["maildrop"] == store + "/jdoe"
    assert f["mechanisms"] == "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN USER"
    r, f = show(str(conf), "asmith")
    assert f["maildrop"] == "/srv/mail/shared/asmith"
    assert f["login_delay"] == "300" and f["expire"] == "never"
    _, f = show(str(conf), "former")
    assert f["status"] == "disabled"


def test_cn_config_schema_ldif(tmp_path):
    """authpassword.ldif and postern.ldif load into a cn=config slapd the
    way a Debian site would add them (ldapadd -Y EXTERNAL over ldapi)."""
    need_tools()
    d = tmp_path
    (d / "db").mkdir()
    (d / "slapd.d").mkdir()
    sock = "/tmp/postern-ldapi-%d" % os.getpid()
    uri = "ldapi://" + sock.replace("/", "%2F")
    (d / "slapd.conf").write_text(
        "include %s/core.schema\ninclude %s/cosine.schema\n"
        "include %s/inetorgperson.schema\n"
        "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
        "pidfile %s/slapd.pid\n"
        'authz-regexp "gidNumber=0\\\\+uidNumber=0,cn=peercred,cn=external,'
        'cn=auth" "cn=config"\n'
        'database config\nrootdn "cn=config"\n'
        'database mdb\nsuffix "dc=postern,dc=test"\n'
        'rootdn "cn=admin,dc=postern,dc=test"\ndirectory %s/db\n'
        % (SCHEMA_DIR, SCHEMA_DIR, SCHEMA_DIR, d, d))
    r = run(["slaptest", "-f", str(d / "slapd.conf"), "-F",
             str(d / "slapd.d")])
    assert os.listdir(d / "slapd.d"), r.stderr.decode()
    log = open(d / "slapd.log", "wb")
    p = subprocess.Popen(["slapd", "-d", "0", "-F", str(d / "slapd.d"),
                          "-h", uri], stdout=log, stderr=log,
                         start_new_session=True)
    try:
        helpers.wait_for(lambda: run(["ldapwhoami", "-Q", "-Y", "EXTERNAL",
                                      "-H", uri]).returncode == 0,
                         deadline=20, what="cn=config slapd")
        for name in ("authpassword.ldif", "postern.ldif"):
            r = run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", uri, "-f",
                     os.path.join(PACKAGING, name)])
            assert r.returncode == 0, r.stderr.decode()
        r = run(["ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL", "-H", uri,
                 "-b", "cn=schema,cn=config", "-o", "ldif-wrap=no",
                 "(objectClass=olcSchemaConfig)", "olcObjectClasses"])
        out = r.stdout.decode()
        assert "NAME 'authPasswordObject'" in out
        assert "NAME 'posternAccount'" in out
    finally:
        os.kill(p.pid, signal.SIGTERM)
        p.wait(10)
        log.close()
        if os.path.exists(sock):
            os.unlink(sock)


def test_schema_forms_agree():
    """The slapd.conf and cn=config forms hold the same definitions."""
    def defs(path, key):
        with open(path) as f:
            text = f.read()
        if path.endswith(".ldif"):
            text = re.sub(r"\n ", "", text)     # LDIF line folding
            items = re.findall(r"^olc%s: (.*)$" % key, text, re.M)
        else:
            text = re.sub(r"^#.*\n", "", text, flags=re.M)
            word = {"AttributeTypes": "attributetype",
                    "ObjectClasses": "objectclass"}[key]
            items = re.findall(r"^%s (\(.*?\))\s*$" % word,
                               text, re.M | re.S)
        return [" ".join(i.split()) for i in items]
    for base in ("authpassword", "postern"):
        for key in ("AttributeTypes", "ObjectClasses"):
            a = defs(os.path.join(PACKAGING, base + ".schema"), key)
            b = defs(os.path.join(PACKAGING, base + ".ldif"), key)
            assert a and a == b, (base, key, a, b)
