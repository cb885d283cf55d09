"""TRANSACTION state: STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP, QUIT,
octet counts and dot-stuffing (RFC 1939), pipelining (RFC 2449 6.6)."""

import poplib

import pytest

import helpers
from helpers import Pop3, corpus, crlf, stuffed, top_lines, message_lines

MSGS = corpus()


@pytest.fixture
def s(server, ctx, alice):
    """A raw session for alice over implicit TLS (read-only use)."""
    c = helpers.tls_session(server.port("pop3s"), ctx, *alice)
    yield c
    c.close()


def test_poplib_pop3s_session(server, ctx, mailbox):
    user, pw = mailbox()
    p = helpers.pop3s(server.port("pop3s"), ctx)
    try:
        assert p.getwelcome().startswith(b"+OK")
        p.user(user)
        assert p.pass_(pw).startswith(b"+OK")
        count, size = p.stat()
        assert count == len(MSGS)
        assert size == sum(len(crlf(m)) for m in MSGS)
        resp, lines, _ = p.list()
        assert len(lines) == len(MSGS)
        resp, uids, _ = p.uidl()
        assert len(uids) == len(MSGS)
        for i, msg in enumerate(MSGS, 1):
            resp, lines, octets = p.retr(i)
            assert lines == message_lines(msg)
            resp, lines, _ = p.top(i, 0)
            assert lines == top_lines(msg, 0)
            resp, lines, _ = p.top(i, 2)
            assert lines == top_lines(msg, 2)
        assert p.noop().startswith(b"+OK")
        assert p.dele(1).startswith(b"+OK")
        assert p.stat()[0] == len(MSGS) - 1
        assert p.rset().startswith(b"+OK")
        assert p.stat()[0] == len(MSGS)
        assert p.quit().startswith(b"+OK")
    finally:
        p.close()
    # RSET really undid the DELE
    p = helpers.login_retry(lambda: helpers.pop3s(server.port("pop3s"), ctx),
                            user, pw)
    assert p.stat()[0] == len(MSGS)
    p.quit()


def test_stat_and_list_octets(s):
    count, size = helpers.stat(s)
    assert count == len(MSGS)
    sizes = helpers.listing(s, "LIST")
    assert sizes == {i: str(len(crlf(m))).encode()
                     for i, m in enumerate(MSGS, 1)}
    assert size == sum(len(crlf(m)) for m in MSGS)


def test_list_and_uidl_single_message(s):
    uids = helpers.listing(s, "UIDL")
    for i, msg in enumerate(MSGS, 1):
        assert s.ok("LIST %d" % i) == b"+OK %d %d" % (i, len(crlf(msg)))
        assert s.ok("UIDL %d" % i) == b"+OK %d %s" % (i, uids[i])


def test_retr_octets_match_list(server, ctx, alice):
    p = helpers.login_retry(lambda: helpers.pop3s(server.port("pop3s"), ctx),
                            *alice)
    try:
        _, lines, _ = p.list()
        sizes = helpers.parse_listing(lines)
        for i, msg in enumerate(MSGS, 1):
            resp, body, octets = p.retr(i)
            assert octets == int(sizes[i]), "message %d: LIST %s, RETR %d" % (
                i, sizes[i], octets)
            assert octets == len(crlf(msg))
        p.quit()
    finally:
        p.close()


@pytest.mark.parametrize("n", range(1, len(MSGS) + 1))
def test_retr_raw_bytes(s, n):
    """Exact wire bytes: CRLF line ends, dot-stuffing, '.CRLF' at the end."""
    s.ok("RETR %d" % n)
    assert s.multi_raw() == stuffed(MSGS[n - 1])


def test_retr_status_line_size_if_given(s):
    resp = s.ok("RETR 1")
    s.multi_raw()
    words = resp.split()
    if len(words) > 1 and words[1].isdigit():
        assert int(words[1]) == len(crlf(MSGS[0]))


@pytest.mark.parametrize("n,lines", [(1, 0), (1, 2), (2, 3), (3, 1),
                                     (3, 10), (4, 5), (5, 0), (5, 3)])
def test_top(s, n, lines):
    s.ok("TOP %d %d" % (n, lines))
    got = s.multi_raw()
    want = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                    for l in top_lines(MSGS[n - 1], lines)) + b".\r\n"
    assert got == want


def test_top_huge_line_count_is_whole_message(s):
    # fetchmail peeks with TOP n 99999999
    s.ok("TOP 2 99999999")
    assert s.multi_raw() == stuffed(MSGS[1])


def test_uidl_format_and_uniqueness(s):
    uids = helpers.listing(s, "UIDL")
    assert sorted(uids) == list(range(1, len(MSGS) + 1))
    for uid in uids.values():
        assert helpers.UIDL_RE.match(uid), uid
    assert len(set(uids.values())) == len(uids)


def test_numbering_follows_delivery_order(s):
    for i, msg in enumerate(MSGS, 1):
        s.ok("TOP %d 0" % i)
        assert helpers.message_id(s.multi()) == helpers.message_id(msg)


def test_noop_and_quit(s):
    assert s.cmd("NOOP").startswith(b"+OK")
    assert s.cmd("QUIT").startswith(b"+OK")
    assert s.eof(), "connection stays open after QUIT"


def test_quit_in_authorization_state(server, ctx):
    with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        assert c.cmd("QUIT").startswith(b"+OK")
        assert c.eof()


def test_commands_are_case_insensitive(trusted_server, alice):
    with Pop3("127.0.0.1", trusted_server.port("pop3")) as c:
        c.ok("capa")
        c.multi()
        c.ok("uSeR " + alice[0])
        c.ok("pAsS " + alice[1])
        assert c.ok("stat") == b"+OK %d %d" % (
            len(MSGS), sum(len(crlf(m)) for m in MSGS))
        c.ok("LiSt 1")
        c.ok("uidl")
        c.multi()
        c.ok("rEtR 1")
        assert c.multi_raw() == stuffed(MSGS[0])
        c.ok("top 1 0")
        c.multi()
        c.ok("noop")
        c.ok("quit")


def test_pipelining(trusted_server, alice):
    """All commands in one send(): every reply complete and in order."""
    user, pw = alice
    batch = ("CAPA\r\nUSER %s\r\nPASS %s\r\nSTAT\r\nLIST\r\nUIDL\r\n"
             "RETR 1\r\nNOOP\r\nQUIT\r\n" % (user, pw)).encode()
    with Pop3("127.0.0.1", trusted_server.port("pop3")) as c:
        c.send(batch)
        assert c.status().startswith(b"+OK")               # CAPA
        assert "PIPELINING" in helpers.parse_capa(c.multi())
        assert c.status().startswith(b"+OK")               # USER
        assert c.status().startswith(b"+OK")               # PASS
        assert c.status() == b"+OK %d %d" % (              # STAT
            len(MSGS), sum(len(crlf(m)) for m in MSGS))
        assert c.status().startswith(b"+OK")               # LIST
        assert len(c.multi()) == len(MSGS)
        assert c.status().startswith(b"+OK")               # UIDL
        assert len(c.multi()) == len(MSGS)
        assert c.status().startswith(b"+OK")               # RETR 1
        assert c.multi_raw() == stuffed(MSGS[0])
        assert c.status().startswith(b"+OK")               # NOOP
        assert c.status().startswith(b"+OK")               # QUIT
        assert c.eof()
        assert c.buf == b"", "extra bytes after QUIT: %r" % c.buf[:80]


def test_pipelined_retr_and_dele_batch(server, ctx, mailbox):
    """mpop style: every RETR, then every DELE, each batch in one write,
    over TLS, including the 1 MB message."""
    user, pw = mailbox()
    c = helpers.tls_session(server.port("pop3s"), ctx, user, pw)
    with c:
        c.send("".join("RETR %d\r\n" % i for i in range(1, len(MSGS) + 1)))
        for msg in MSGS:
            assert c.status().startswith(b"+OK")
            assert c.multi_raw() == stuffed(msg)
        c.send("".join("DELE %d\r\n" % i for i in range(1, len(MSGS) + 1))
               + "QUIT\r\n")
        for _ in MSGS:
            assert c.status().startswith(b"+OK")
        assert c.status().startswith(b"+OK")
    with helpers.tls_session(server.port("pop3s"), ctx, user, pw) as c:
        assert helpers.stat(c) == (0, 0)


def test_in_use(server, ctx, mailbox):
    user, pw = mailbox()
    first = helpers.tls_session(server.port("pop3s"), ctx, user, pw)
    with first:
        with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as second:
            second.ok("USER " + user)
            resp = second.cmd("PASS " + pw)
            assert resp.startswith(b"-ERR [IN-USE]"), resp
        # the first session is unaffected
        assert helpers.stat(first)[0] == len(MSGS)
        first.ok("QUIT")
        assert first.eof()
    with helpers.tls_session(server.port("pop3s"), ctx, user, pw) as again:
        assert helpers.stat(again)[0] == len(MSGS)
        again.ok("QUIT")


def test_in_use_poplib(server, ctx, mailbox):
    user, pw = mailbox()
    a = helpers.pop3s(server.port("pop3s"), ctx)
    b = helpers.pop3s(server.port("pop3s"), ctx)
    try:
        a.user(user)
        a.pass_(pw)
        b.user(user)
        with pytest.raises(poplib.error_proto) as e:
            b.pass_(pw)
        assert e.value.args[0].startswith(b"-ERR [IN-USE]")
        a.quit()
    finally:
        a.close()
        b.close()


def test_empty_maildrop(server, ctx, mailbox):
    user, pw = mailbox([])
    with helpers.tls_session(server.port("pop3s"), ctx, user, pw) as c:
        assert helpers.stat(c) == (0, 0)
        assert helpers.listing(c, "LIST") == {}
        assert helpers.listing(c, "UIDL") == {}
        c.err("RETR 1")
        c.err("LIST 1")
        c.ok("QUIT")
