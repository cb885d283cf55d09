"""AUTH GSSAPI (issue 3) end to end: a throwaway MIT KDC (kdc.py), the real
daemon with krb5_keytab / krb5_realms, and real clients (mpop, curl,
fetchmail) holding real tickets.  PROTOCOLS.md 2, 3.6 and 6."""

import os
import re
import shutil
import time

import pytest

import helpers
from helpers import Pop3, corpus, crlf, message_id, need, ok, run
from kdc import REALM, kdc, krb_daemon  # noqa: F401 (fixtures)

MSGS = corpus()


def text(r):
    return (r.stdout + r.stderr).decode(errors="replace")


@pytest.fixture
def gss(krb_daemon):
    """A daemon offering GSSAPI on pop3 (STLS) and pop3s."""
    return krb_daemon()


@pytest.fixture
def krb_user(kdc, mailbox):
    """Factory: a pool user with the standard corpus, a principal of the
    same name and a ccache holding its TGT -> (user, ccache)."""
    def make():
        user, pw = mailbox()
        kdc.add_user(user, pw)
        return user, kdc.kinit(user)
    return make


def client_env(env, kdc, ccache):
    return kdc.client_env(ccache, base=env.client_env())


# -- mpop -------------------------------------------------------------------

def mpop(env, kdc, ccache, port, user, work, *extra):
    need("mpop")
    argv = ["mpop", "--host=localhost", "--port=%d" % port, "--tls=on",
            "--tls-trust-file=" + env.ca, "--auth=gssapi", "--user=" + user,
            "--delivery=mbox," + os.path.join(work, "mbox"),
            "--uidls-file=" + os.path.join(work, "uidls"), "--timeout=30",
            *extra]
    return run(argv, env=client_env(env, kdc, ccache), cwd=work)


def mbox_ids(work):
    path = os.path.join(work, "mbox")
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    parts = [p for p in re.split(rb"(?:^|\n)From [^\n]*\n", data) if p]
    return sorted(message_id(p.replace(b"\r\n", b"\n")) for p in parts)


def test_mpop_gssapi_stls(gss, env, kdc, tmp_path):
    """alice@POSTERN.TEST logs in as alice (realm stripped), keeps mail."""
    work = str(tmp_path)
    cc = kdc.kinit("alice")
    ok(mpop(env, kdc, cc, gss.port("pop3"), "alice", work, "--keep=on"))
    assert mbox_ids(work) == sorted(message_id(m) for m in MSGS)
    assert "GSSAPI" in gss.log_text()


def test_gssapi_with_another_default_realm(krb_daemon, env, kdc, tmp_path):
    """The daemon's krb5.conf names another default realm (and no KDC):
    accepting needs only the keytab, and krb5_realms maps the principal."""
    d = krb_daemon(conf="foreign")
    work = str(tmp_path)
    ok(mpop(env, kdc, kdc.kinit("alice"), d.port("pop3s"), "alice", work,
            "--tls-starttls=off", "--keep=on"))
    assert mbox_ids(work) == sorted(message_id(m) for m in MSGS)
    assert "login user=alice mech=GSSAPI" in d.log_text()


def test_gssapi_realm_not_listed_is_refused(krb_daemon, env, kdc, tmp_path):
    """Without POSTERN.TEST in krb5_realms, alice@POSTERN.TEST is not
    alice."""
    d = krb_daemon(conf="foreign", krb5_realms="ELSEWHERE.TEST")
    work = str(tmp_path)
    r = mpop(env, kdc, kdc.kinit("alice"), d.port("pop3s"), "alice", work,
             "--tls-starttls=off", "--keep=on")
    assert r.returncode != 0, text(r)
    assert mbox_ids(work) == []
    assert not re.search(r"login user=\S+ mech=", d.log_text())


def test_mpop_gssapi_implicit_tls_and_delete(gss, env, kdc, krb_user,
                                              tmp_path):
    user, cc = krb_user()
    work = str(tmp_path)
    ok(mpop(env, kdc, cc, gss.port("pop3s"), user, work,
            "--tls-starttls=off"))
    assert mbox_ids(work) == sorted(message_id(m) for m in MSGS)
    assert env.stored_messages(user) == []


def test_gssapi_without_ticket_fails(gss, env, kdc, ctx, tmp_path):
    """An empty ccache: the clients fail before sending a token (mpop
    never starts AUTH; curl gets the "+ " and drops the connection), no
    one is logged in and the daemon goes on serving.  The server's own
    answer to an abandoned exchange is test_gssapi_cancel's -ERR."""
    work = str(tmp_path)
    cc = kdc.kinit("alice")
    r = run(["kdestroy"], env=client_env(env, kdc, cc))
    assert r.returncode == 0, text(r)
    r = mpop(env, kdc, cc, gss.port("pop3"), "alice", work, "--keep=on")
    assert r.returncode != 0, text(r)
    assert mbox_ids(work) == []
    r = curl(env, kdc, cc, "-v", "--login-options", "AUTH=GSSAPI",
             "-u", "alice@%s:" % REALM,
             "pop3s://localhost:%d/" % gss.port("pop3s"))
    assert r.returncode != 0
    assert "> AUTH GSSAPI" in text(r)
    assert not re.search(r"login user=\S+ mech=", gss.log_text())
    with Pop3("127.0.0.1", gss.port("pop3s"), tls=ctx) as c:
        assert "GSSAPI" in c.capa()["SASL"]


def test_mpop_gssapi_expired_ticket_fails(gss, env, kdc, tmp_path):
    """A TGT that has run out: the client can get no service ticket, the
    login fails.  (That the server itself refuses an expired ticket is
    tested on the KPOP side, test_kpop.py, where the AP-REQ is built from
    an expired ticket directly.)"""
    work = str(tmp_path)
    cc = kdc.kinit("alice", lifetime="2s")
    time.sleep(3)
    r = run(["klist", "-s"], env=client_env(env, kdc, cc))
    assert r.returncode != 0, "the ticket should have expired"
    r = mpop(env, kdc, cc, gss.port("pop3"), "alice", work, "--keep=on")
    assert r.returncode != 0, text(r)
    assert mbox_ids(work) == []


def test_principal_with_instance_is_refused(gss, env, kdc, tmp_path):
    """alice/admin@REALM is another identity: it must not read alice's
    mail, whatever user name the client claims."""
    work = str(tmp_path)
    cc = kdc.kinit("alice/admin")
    for user in ("alice", "alice/admin"):
        r = mpop(env, kdc, cc, gss.port("pop3"), user, work, "--keep=on")
        assert r.returncode != 0, text(r)
    assert mbox_ids(work) == []


# -- curl ---------------------------------------------------------------------

def curl(env, kdc, ccache, *args):
    need("curl")
    return run(["curl", "-sS", "--max-time", "60", "--cacert", env.ca, *args],
               env=client_env(env, kdc, ccache))


def test_curl_gssapi_pop3s(gss, env, kdc):
    """curl picks GSSAPI only with a realm in the user name (PROTOCOLS.md
    2); the authzid stays empty, the login is alice."""
    cc = kdc.kinit("alice")
    r = ok(curl(env, kdc, cc, "--login-options", "AUTH=GSSAPI",
                "-u", "alice@%s:" % REALM,
                "pop3s://localhost:%d/" % gss.port("pop3s")))
    want = b"".join(b"%d %d\r\n" % (i, len(crlf(m)))
                    for i, m in enumerate(MSGS, 1))
    assert r.stdout == want
    r = ok(curl(env, kdc, cc, "--login-options", "AUTH=GSSAPI",
                "-u", "alice@%s:" % REALM,
                "pop3s://localhost:%d/1" % gss.port("pop3s")))
    assert r.stdout == crlf(MSGS[0])


def test_curl_gssapi_stls(gss, env, kdc):
    cc = kdc.kinit("alice")
    r = ok(curl(env, kdc, cc, "--ssl-reqd", "--login-options", "AUTH=GSSAPI",
                "-u", "alice@%s:" % REALM,
                "pop3://localhost:%d/2" % gss.port("pop3")))
    assert r.stdout == crlf(MSGS[1])


# -- fetchmail ------------------------------------------------------------------

def fetchmail(env, kdc, ccache, work, rc_text):
    need("fetchmail")
    rc = os.path.join(work, "fetchmailrc")
    with open(rc, "w") as f:
        f.write(rc_text)
    os.chmod(rc, 0o600)
    e = client_env(env, kdc, ccache)
    e["FETCHMAILHOME"] = work
    return run(["fetchmail", "-v", "-N", "--nosyslog", "-f", rc, "-i",
                os.path.join(work, "fetchids"), "--pidfile",
                os.path.join(work, "fetchmail.pid")], env=e, cwd=work)


def deliver_script(work):
    mda = os.path.join(work, "deliver.sh")
    with open(mda, "w") as f:
        f.write('cat >> "%s/out"\nprintf "\\nEND-OF-MESSAGE\\n" >> "%s/out"\n'
                % (work, work))
    return mda


def read_out(work):
    try:
        with open(os.path.join(work, "out"), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


@pytest.mark.parametrize("tls", ["stls", "implicit"])
def test_fetchmail_gssapi(gss, env, kdc, krb_user, tmp_path, tls):
    user, cc = krb_user()
    work = str(tmp_path)
    port = gss.port("pop3" if tls == "stls" else "pop3s")
    rc = ("poll localhost service %d protocol pop3 auth gssapi\n"
          "  user %s is root here\n"
          "  sslcertfile %s sslcertck %s\n"
          "  mda \"/bin/sh %s\"\n" % (port, user, env.ca,
                                      "ssl" if tls == "implicit" else "",
                                      deliver_script(work)))
    r = ok(fetchmail(env, kdc, cc, work, rc))
    assert b"AUTH GSSAPI" in r.stdout + r.stderr
    data = read_out(work)
    assert data.count(b"END-OF-MESSAGE") == len(MSGS)
    for m in MSGS:
        assert message_id(m) in data
    assert env.stored_messages(user) == []


# -- raw protocol ------------------------------------------------------------------

def test_capa_lists_gssapi(gss, env, ctx):
    with Pop3("127.0.0.1", gss.port("pop3s"), tls=ctx) as c:
        caps = c.capa()
    assert "GSSAPI" in caps["SASL"]
    assert "GSSAPI-PLUS" not in caps["SASL"]


def test_gssapi_empty_initial_response_is_refused(gss, env, ctx):
    """RFC 5034: "=" is an empty initial response.  The first GSSAPI token
    is never empty, so the exchange fails at once, and the session goes
    on."""
    with Pop3("127.0.0.1", gss.port("pop3s"), tls=ctx) as c:
        c.err("AUTH GSSAPI =")
        assert "SASL" in c.capa()
        c.ok("QUIT")


def test_gssapi_garbage_token_is_refused(gss, env, ctx):
    with Pop3("127.0.0.1", gss.port("pop3s"), tls=ctx) as c:
        resp = c.cmd("AUTH GSSAPI")
        assert resp.startswith(b"+"), resp
        c.err(helpers.b64(b"\x60\x05garbage-not-a-token"))
        c.capa()
        c.ok("QUIT")


def test_gssapi_cancel(gss, env, ctx):
    with Pop3("127.0.0.1", gss.port("pop3s"), tls=ctx) as c:
        resp = c.cmd("AUTH GSSAPI")
        assert resp.startswith(b"+"), resp
        c.err("*")
        c.ok("QUIT")


def test_unreadable_keytab_is_a_temporary_error(krb_daemon, env, kdc,
                                                tmp_path):
    """The keytab exists (the root master can read it) but the worker
    cannot: a server-side problem, so -ERR [SYS/TEMP], not [AUTH]."""
    keytab = kdc.path("root-only.keytab")
    shutil.copy(kdc.pop_keytab, keytab)
    os.chmod(keytab, 0o600)     # owned by root (the test runs as root)
    if os.geteuid() != 0:
        pytest.skip("needs root: the worker must run as another user")
    d = krb_daemon(keytab=keytab)
    cc = kdc.kinit("alice")
    r = curl(env, kdc, cc, "-v", "--login-options", "AUTH=GSSAPI",
             "-u", "alice@%s:" % REALM,
             "pop3s://localhost:%d/" % d.port("pop3s"))
    assert r.returncode != 0
    assert "-ERR [SYS/TEMP]" in text(r), text(r)[-3000:]
    # the same through mpop: the login fails, and nothing else breaks
    work = str(tmp_path)
    r = mpop(env, kdc, cc, d.port("pop3"), "alice", work, "--keep=on")
    assert r.returncode != 0
    assert mbox_ids(work) == []
