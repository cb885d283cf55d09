"""The audit trail for the Kerberos mechanisms: GSSAPI (real mpop) and KPOP
(the real krb5 sendauth client) logins, successful and failed, each give
exactly one auth event with the principal as authenticated identity."""

import pytest

import helpers
from kdc import REALM, kdc, krb_daemon  # noqa: F401 (fixtures)
from test_audit import SyslogNg, by_type
from test_gssapi import mpop, ok
from test_kpop import kpop_session, tools  # noqa: F401 (fixture)
from conftest import free_port


@pytest.fixture(scope="module")
def sng(env):
    s = SyslogNg(env.root, "syslog-ng-audit-krb").start()
    yield s
    s.stop()


def test_gssapi_success_and_failure_are_audited(krb_daemon, sng, env, kdc,
                                                mailbox, tmp_path):
    d = krb_daemon(audit_socket=sng.sock)
    user, pw = mailbox()
    kdc.add_user(user, pw)
    since = sng.mark()
    ok(mpop(env, kdc, kdc.kinit(user), d.port("pop3s"), user, str(tmp_path),
            "--tls-starttls=off", "--keep=on"))
    evs = sng.wait(lambda evs: [e for e in by_type(evs, "auth")
                                if e.get("mech") == "GSSAPI"],
                   since, "a GSSAPI auth event")
    good = [e for e in by_type(evs, "auth") if e.get("mech") == "GSSAPI"]
    assert len(good) == 1, good
    assert good[0]["result"] == "ok"
    assert good[0]["authid"] == user and good[0]["user"] == user
    assert good[0]["tls"].startswith("TLS")
    # A garbage token: one failed GSSAPI event, nothing else.
    since = sng.mark()
    with helpers.Pop3("127.0.0.1", d.port("pop3s"),
                      tls=helpers.tls_client_context(env.ca)) as c:
        c.err("AUTH GSSAPI " + helpers.b64(b"not a token"))
        c.ok("QUIT")
    evs = sng.wait(lambda evs: [e for e in by_type(evs, "auth")
                                if e.get("mech") == "GSSAPI"],
                   since, "a failed GSSAPI auth event")
    bad = [e for e in by_type(evs, "auth") if e.get("mech") == "GSSAPI"]
    assert len(bad) == 1 and bad[0]["result"] == "fail", bad


def kpop_logins(evs):
    return [e for e in by_type(evs, "auth") if e.get("mech") == "KPOP" and
            e.get("reason") != "kpop-handshake"]


def test_kpop_handshake_failure_is_audited(krb_daemon, sng, tools, kdc):
    """A ticket for host/ is refused in the handshake: one failed event."""
    port = free_port()
    d = krb_daemon(listeners=[("kpop", "127.0.0.1", port)],
                   audit_socket=sng.sock)
    since = sng.mark()
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), port,
                              service="host")
    assert verdict != "ok" and c is None
    evs = sng.wait(lambda evs: [e for e in by_type(evs, "auth")
                                if e.get("mech") == "KPOP"],
                   since, "a failed KPOP handshake event")
    assert all(e["result"] == "fail" for e in by_type(evs, "auth"))
    assert d.port("kpop") == port


def test_kpop_success_and_refusal_are_audited(krb_daemon, sng, tools, kdc):
    port = free_port()
    d = krb_daemon(listeners=[("pop3", "127.0.0.1", free_port()),
                              ("kpop", "127.0.0.1", port)],
                   audit_socket=sng.sock)
    since = sng.mark()
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), port)
    assert verdict == "ok"
    with c:
        c.ok("USER alice")
        c.ok("PASS krb_ticket")
        c.ok("QUIT")
    evs = sng.wait(kpop_logins, since, "a KPOP auth event")
    # (the harness's start-up probes connect and close: those are audited
    # as failed handshakes, reason kpop-handshake)
    ev = kpop_logins(evs)
    assert len(ev) == 1 and ev[0]["result"] == "ok", ev
    assert ev[0]["authid"] == "alice@" + REALM
    assert ev[0]["user"] == "alice"
    # alice's ticket may not open bob's maildrop.
    since = sng.mark()
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), port)
    assert verdict == "ok"
    with c:
        assert c.err("USER bob").startswith(b"-ERR [AUTH]")
    evs = sng.wait(kpop_logins, since, "a refused KPOP auth event")
    ev = kpop_logins(evs)
    assert len(ev) == 1 and ev[0]["result"] == "fail", ev
    assert ev[0]["reason"] == "principal-mismatch"
    assert ev[0]["login"] == "bob" and ev[0]["authid"] == "alice@" + REALM
