"""Hostile and broken input: long lines, NUL bytes, garbage, wrong states,
bad arguments, the bad command limit.  The daemon must answer -ERR or close,
never crash, and keep serving the next client."""

import socket

import pytest

import helpers
from helpers import Pop3, corpus, stuffed

MSGS = corpus()
KRB5_SENDAUTH = (b"\x00\x00\x00\x13KRB5_SENDAUTH_V1.0\x00"
                 b"\x00\x00\x00\x09KPOPV1.0\x00")


def plain(server, **kw):
    return Pop3("127.0.0.1", server.port("pop3"), **kw)


def logged_in(trusted_server, alice):
    c = Pop3("127.0.0.1", trusted_server.port("pop3"))
    c.login(*alice)
    return c


def assert_serving(server, ctx, alice):
    """The daemon still serves a complete session."""
    with helpers.tls_session(server.port("pop3s"), ctx, *alice) as c:
        assert helpers.stat(c)[0] == len(MSGS)
        c.ok("QUIT")


def test_unknown_command(server):
    with plain(server) as c:
        c.err("XYZZY")
        c.err("RETRX 1")
        assert c.capa()


def test_empty_line(server):
    with plain(server) as c:
        c.err("")
        assert c.capa()


def test_line_over_255_octets_continues(server):
    with plain(server) as c:
        c.err("CAPA " + "x" * 300)
        assert "TOP" in c.capa()


@pytest.mark.parametrize("length", [256, 1000, 5000, 100000])
def test_long_line_one_error_then_in_sync(server, length):
    """However long the line, it earns one -ERR and the next command gets
    its own answer (no desync from reading the line in pieces)."""
    with plain(server) as c:
        c.send(b"NOOP " + b"y" * length + b"\r\nCAPA\r\n")
        try:
            first = c.status()
        except helpers.ServerClosed:
            pytest.fail("server closed on a %d-octet line" % length)
        assert first.startswith(b"-ERR"), first
        second = c.status()
        assert second.startswith(b"+OK"), "desync after long line: %r" % second
        assert "TOP" in helpers.parse_capa(c.multi())


def test_line_of_255_octets_is_a_command(trusted_server, alice):
    """255 octets with CRLF is within RFC 2449's limit: a PASS that long
    is checked as a password (-ERR [AUTH]), not refused as too long."""
    with plain(trusted_server) as c:
        c.ok("USER " + alice[0])
        line = b"PASS " + b"p" * (255 - len(b"PASS ") - 2)
        assert len(line) + 2 == 255
        resp = c.cmd(line)
        assert resp.startswith(b"-ERR [AUTH]"), resp
        c.login(*alice)
        c.ok("QUIT")


def test_nul_byte(server):
    with plain(server) as c:
        c.err(b"CA\x00PA")
        c.err(b"CAPA\x00")
        assert c.capa()


def test_nul_in_user_name(server, ctx, alice):
    with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        resp = c.cmd(b"USER " + alice[0].encode() + b"\x00root")
        if resp.startswith(b"+OK"):
            resp = c.cmd("PASS " + alice[1])
        assert resp.startswith(b"-ERR"), resp
        c.ok("CAPA")
        c.multi()


def test_high_bytes(server):
    with plain(server) as c:
        c.err(b"\xff\xfe\xfd")
        c.err(b"CAPA \xc3\x28")
        assert c.capa()


def test_wrong_state_before_login(server):
    with plain(server) as c:
        for cmd in ("STAT", "LIST", "UIDL", "RETR 1", "DELE 1", "RSET",
                    "TOP 1 0", "NOOP"):
            c.err(cmd)


def test_pass_without_user(server, ctx):
    with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        c.err("PASS whatever")


def test_wrong_state_after_login(trusted_server, alice):
    with logged_in(trusted_server, alice) as c:
        c.err("USER " + alice[0])
        c.err("PASS " + alice[1])
        c.err("AUTH PLAIN")
        assert helpers.stat(c)[0] == len(MSGS)
        c.ok("QUIT")


@pytest.mark.parametrize("cmd", [
    "RETR abc", "RETR 0", "RETR 99999", "RETR -1", "RETR 1x", "RETR",
    "RETR 18446744073709551617", "RETR 4294967297", "RETR 1 2",
    "LIST -1", "LIST 0", "LIST 99999", "LIST abc",
    "UIDL 0", "UIDL 99999", "UIDL x",
    "TOP 1", "TOP", "TOP 1 -1", "TOP 1 abc", "TOP 0 0", "TOP 99 0",
    "DELE", "DELE 0", "DELE 99999", "DELE abc",
])
def test_bad_arguments(trusted_server, alice, cmd):
    with logged_in(trusted_server, alice) as c:
        c.err(cmd)
        # the session goes on, nothing was marked
        assert helpers.stat(c)[0] == len(MSGS)
        c.ok("RETR 1")
        assert c.multi_raw() == stuffed(MSGS[0])
        c.ok("QUIT")


def test_bad_command_limit_closes(server):
    with plain(server) as c:
        for i in range(9):
            c.err("BOGUS%d" % i)
        c.send(b"BOGUS9\r\n")
        try:
            resp = c.status()
            assert resp.startswith(b"-ERR"), resp
        except helpers.ServerClosed:
            pass
        assert c.eof(5), "still open after 10 bad commands"


def test_bad_command_limit_counts_per_session(server):
    """Another session starts with a clean count."""
    with plain(server) as c:
        for i in range(9):
            c.err("BOGUS%d" % i)
    with plain(server) as c:
        for i in range(9):
            c.err("BOGUS%d" % i)
        assert c.capa()


def test_krb5_sendauth_garbage_on_pop3(server, ctx, alice):
    """What fetchmail --auth kerberos_v5 sends to a plain port."""
    with plain(server) as c:
        c.send(KRB5_SENDAUTH + b"\r\n")
        try:
            resp = c.status()
            assert resp.startswith(b"-ERR"), resp
        except (helpers.ServerClosed, ConnectionResetError):
            pass
    assert_serving(server, ctx, alice)


def test_krb5_sendauth_garbage_before_reading_greeting(server, ctx, alice):
    c = Pop3("127.0.0.1", server.port("pop3"), greet=False)
    with c:
        c.send(KRB5_SENDAUTH)
        c.send(b"\x00\x00\x02\x5d" + bytes(range(256)) * 2 + b"\r\n")
        try:
            greeting = c.status()
            assert greeting.startswith(b"+OK")
            resp = c.status()
            assert resp.startswith(b"-ERR"), resp
        except (helpers.ServerClosed, ConnectionResetError):
            pass
    assert_serving(server, ctx, alice)


def test_garbage_on_pop3s(server, ctx, alice):
    """Not a TLS ClientHello: the handshake fails, the connection closes."""
    c = Pop3("127.0.0.1", server.port("pop3s"), greet=False)
    with c:
        c.send(KRB5_SENDAUTH + b"CAPA\r\n")
        assert c.eof(10), "pop3s listener kept a non-TLS client open"
        assert not c.buf.startswith(b"+OK"), "plaintext on the TLS port"
    assert_serving(server, ctx, alice)


def test_binary_flood(server, ctx, alice):
    c = Pop3("127.0.0.1", server.port("pop3"))
    with c:
        try:
            for _ in range(64):
                c.send(bytes(range(256)) * 64)
        except (BrokenPipeError, ConnectionResetError):
            pass
        c.eof(5)
    assert_serving(server, ctx, alice)


def test_connect_and_close_repeatedly(server, ctx, alice):
    for _ in range(30):
        s = socket.create_connection(("127.0.0.1", server.port("pop3")), 5)
        s.close()
        s = socket.create_connection(("127.0.0.1", server.port("pop3s")), 5)
        s.close()
    assert_serving(server, ctx, alice)


def test_half_open_tls_handshake(server, ctx, alice):
    """A client that starts TLS and stalls must not block other clients."""
    stalled = socket.create_connection(("127.0.0.1", server.port("pop3s")), 5)
    try:
        stalled.sendall(b"\x16\x03\x01\x00\xff")   # a record header only
        assert_serving(server, ctx, alice)
    finally:
        stalled.close()


def test_server_survives_all_of_the_above(server, ctx, alice):
    assert server.proc.poll() is None, "master died"
    assert_serving(server, ctx, alice)
