"""Greeting, CAPA and the cleartext policy (RFC 2449, 2595, 3206, 5034)."""

import poplib
import re

import pytest

import helpers
from helpers import Pop3

BASE_CAPS = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
             "EXPIRE", "LOGIN-DELAY", "IMPLEMENTATION"]


def plain_conn(server, **kw):
    return Pop3("127.0.0.1", server.port("pop3"), **kw)


def assert_base_caps(caps):
    for tag in BASE_CAPS:
        assert tag in caps, "CAPA lacks %s: %r" % (tag, caps)


def assert_tls_required(resp):
    assert resp.startswith(b"-ERR [AUTH]"), resp
    assert re.search(rb"TLS|STLS", resp, re.I), \
        "refusal does not mention TLS: %r" % resp


# -- greeting --------------------------------------------------------------

def test_greeting_has_no_apop_timestamp(server, ctx):
    with plain_conn(server) as c:
        assert c.greeting.startswith(b"+OK"), c.greeting
        assert not re.search(rb"<[^>]*>", c.greeting), \
            "APOP timestamp in greeting but APOP is not offered"
    with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        assert c.greeting.startswith(b"+OK")
        assert not re.search(rb"<[^>]*>", c.greeting)


# -- CAPA per listener and state ----------------------------------------

def test_capa_plain_untrusted_offers_stls_but_no_cleartext(server):
    with plain_conn(server) as c:
        caps = c.capa()
        assert_base_caps(caps)
        assert "STLS" in caps
        assert "USER" not in caps
        assert "SASL" in caps, "SCRAM needs no TLS and should be offered"
        assert "PLAIN" not in caps["SASL"]
        assert caps["SASL"][:2] == ["SCRAM-SHA-256", "SCRAM-SHA-1"], caps
        c.ok("QUIT")


def test_capa_after_stls(server, ctx):
    with plain_conn(server) as c:
        c.starttls(ctx)
        caps = c.capa()
        assert_base_caps(caps)
        assert "STLS" not in caps
        assert "USER" in caps
        assert "PLAIN" in caps.get("SASL", []), caps
        assert "SCRAM-SHA-256" in caps["SASL"]


def test_capa_pop3s(server, ctx):
    with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        caps = c.capa()
        assert_base_caps(caps)
        assert "STLS" not in caps
        assert "USER" in caps
        assert "PLAIN" in caps.get("SASL", [])


def test_capa_trusted_network_allows_cleartext(trusted_server):
    with plain_conn(trusted_server) as c:
        caps = c.capa()
        assert_base_caps(caps)
        assert "STLS" in caps
        assert "USER" in caps
        assert "PLAIN" in caps.get("SASL", [])


def test_capa_in_transaction_state(trusted_server, alice):
    with plain_conn(trusted_server) as c:
        c.login(*alice)
        caps = c.capa()
        assert "STLS" not in caps, "STLS is not valid after login"
        assert "TOP" in caps and "UIDL" in caps
        c.ok("QUIT")


def test_capa_in_poplib_matches(server, ctx):
    p = helpers.pop3(server.port("pop3"))
    try:
        assert "STLS" in p.capa()
        p.stls(ctx)
        caps = p.capa()
        assert "STLS" not in caps and "USER" in caps
    finally:
        p.close()


# -- cleartext refused before TLS -------------------------------------------

def test_user_refused_before_stls(server, alice):
    with plain_conn(server) as c:
        assert_tls_required(c.cmd("USER " + alice[0]))
        # and the session goes on: STLS is still possible
        assert c.cmd("CAPA").startswith(b"+OK")
        c.multi()


def test_user_refusal_does_not_depend_on_the_name(server):
    with plain_conn(server) as c:
        a = c.cmd("USER alice")
        b = c.cmd("USER nosuchuser")
        assert a == b, "USER answer leaks whether a user exists"


def test_pass_refused_before_stls(server, alice):
    with plain_conn(server) as c:
        c.cmd("USER " + alice[0])
        resp = c.cmd("PASS " + alice[1])
        assert resp.startswith(b"-ERR"), resp


def test_auth_plain_refused_before_stls(server, alice):
    with plain_conn(server) as c:
        assert_tls_required(c.cmd("AUTH PLAIN " + helpers.plain_ir(*alice)))
        assert_tls_required(c.cmd("AUTH PLAIN"))


def test_poplib_user_refused_before_stls(server, alice):
    p = helpers.pop3(server.port("pop3"))
    try:
        with pytest.raises(poplib.error_proto) as e:
            p.user(alice[0])
            p.pass_(alice[1])
        assert_tls_required(e.value.args[0])
    finally:
        p.close()


def test_login_after_stls(server, ctx, alice):
    p = helpers.pop3(server.port("pop3"))
    try:
        p.stls(ctx)
        p.user(alice[0])
        assert p.pass_(alice[1]).startswith(b"+OK")
        assert p.stat()[0] == len(helpers.corpus())
        p.quit()
    finally:
        p.close()


def test_trusted_network_user_pass_without_tls(trusted_server, alice):
    p = helpers.pop3(trusted_server.port("pop3"))
    try:
        p.user(alice[0])
        assert p.pass_(alice[1]).startswith(b"+OK")
        assert p.stat()[0] == len(helpers.corpus())
        p.quit()
    finally:
        p.close()


def test_trusted_networks_match_by_address(daemon, alice):
    """Only the listed /32 is trusted: 127.0.0.2 may log in in
    cleartext, 127.0.0.1 may not (both reach the same listener)."""
    d = daemon(trusted_networks="127.0.0.2/32")
    with Pop3("127.0.0.1", d.port("pop3"), source="127.0.0.2") as c:
        assert "USER" in c.capa()
        c.login(*alice)
        c.ok("QUIT")
    with Pop3("127.0.0.1", d.port("pop3"), source="127.0.0.1") as c:
        assert "USER" not in c.capa()
        assert_tls_required(c.cmd("USER " + alice[0]))


# -- STLS rules -----------------------------------------------------------------

def test_stls_twice_is_refused(server, ctx):
    with plain_conn(server) as c:
        c.starttls(ctx)
        c.err("STLS")
        assert c.cmd("CAPA").startswith(b"+OK")
        c.multi()


def test_stls_on_pop3s_is_refused(server, ctx):
    with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        c.err("STLS")


def test_stls_after_login_is_refused(trusted_server, alice):
    with plain_conn(trusted_server) as c:
        c.login(*alice)
        c.err("STLS")
        c.ok("STAT")
        c.ok("QUIT")


def test_stls_discards_pipelined_plaintext(server, ctx):
    """A command sent in the same packet as STLS must not be executed
    inside the TLS session (the STARTTLS command injection bug)."""
    with plain_conn(server) as c:
        c.send(b"STLS\r\nCAPA\r\n")
        resp = c.line()
        if resp.startswith(b"-ERR"):
            return      # refusing pipelined STLS is also safe
        assert resp.startswith(b"+OK"), resp
        try:
            c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
        except (OSError, ValueError):
            return      # closing is safe too
        c.buf = b""
        assert c.quiet(1.5), "server answered a command injected before " \
            "the TLS handshake: %r" % c.buf
        caps = c.capa()
        assert "STLS" not in caps


def test_tls_certificate_verifies_for_localhost(server, ctx):
    # the client context requires a valid chain and host name
    with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")


@pytest.mark.skipif(not helpers.ipv6_usable(),
                    reason="::1 not usable here")
def test_ipv6_listener(server, ctx, alice):
    port = server.port("pop3", "ipv6")
    with Pop3("::1", port) as c:
        assert c.greeting.startswith(b"+OK")
        caps = c.capa()
        assert "STLS" in caps and "USER" not in caps
        c.starttls(ctx, server_hostname="::1")
        c.login(*alice)
        assert c.ok("STAT").split()[1] == str(len(helpers.corpus())).encode()
        c.ok("QUIT")
