"""The maildrop: UIDL stability, DELE/RSET/UPDATE semantics, what a dropped
connection must not do, mail arriving during a session, and messages
removed behind the server's back (another host on a shared store)."""

import os
import time

import helpers
from helpers import corpus, crlf, ids_by_uid, message_id, stuffed

MSGS = corpus()


def session(server, ctx, user, pw):
    return helpers.tls_session(server.port("pop3s"), ctx, user, pw)


def test_uidl_stable_across_sessions(server, ctx, mailbox):
    user, pw = mailbox()
    with session(server, ctx, user, pw) as c:
        first = ids_by_uid(c)
        c.ok("QUIT")
    with session(server, ctx, user, pw) as c:
        second = ids_by_uid(c)
        c.ok("QUIT")
    assert first == second
    assert len(first) == len(MSGS)


def test_uidl_unchanged_when_new_mail_arrives(server, ctx, env, mailbox):
    user, pw = mailbox()
    with session(server, ctx, user, pw) as c:
        before = ids_by_uid(c)
        c.ok("QUIT")
    new = b"Subject: later\nMessage-ID: <later@postern.test>\n\nhi\n"
    env.deliver(user, new)
    with session(server, ctx, user, pw) as c:
        after = ids_by_uid(c)
        count, _ = helpers.stat(c)
        c.ok("TOP %d 0" % count)
        assert message_id(c.multi()) == b"<later@postern.test>", \
            "new mail is not numbered last"
        c.ok("QUIT")
    assert len(after) == len(before) + 1
    for uid, mid in before.items():
        assert after.get(uid) == mid, "UIDL of %s changed" % mid
    newuid = [u for u in after if u not in before]
    assert len(newuid) == 1 and after[newuid[0]] == b"<later@postern.test>"


def test_uidl_survives_delete_of_other_messages(server, ctx, mailbox):
    user, pw = mailbox()
    with session(server, ctx, user, pw) as c:
        before = ids_by_uid(c)
        c.ok("DELE 1")
        c.ok("DELE 3")
        c.ok("QUIT")
    with session(server, ctx, user, pw) as c:
        after = ids_by_uid(c)
        c.ok("QUIT")
    assert set(after.values()) == {message_id(m) for i, m in enumerate(MSGS)
                                   if i not in (0, 2)}
    for uid, mid in after.items():
        assert before[uid] == mid


def test_dele_marks_and_excludes(server, ctx, mailbox):
    user, pw = mailbox()
    sizes = [len(crlf(m)) for m in MSGS]
    with session(server, ctx, user, pw) as c:
        uids = helpers.listing(c, "UIDL")
        c.ok("DELE 2")
        assert helpers.stat(c) == (len(MSGS) - 1, sum(sizes) - sizes[1])
        lst = helpers.listing(c, "LIST")
        assert 2 not in lst and len(lst) == len(MSGS) - 1
        assert lst[3] == str(sizes[2]).encode(), "numbers must not shift"
        ul = helpers.listing(c, "UIDL")
        assert 2 not in ul and ul[3] == uids[3]
        c.err("RETR 2")
        c.err("TOP 2 0")
        c.err("DELE 2")
        c.err("LIST 2")
        c.err("UIDL 2")
        # still there for the other numbers
        c.ok("RETR 3")
        assert c.multi_raw() == stuffed(MSGS[2])
        c.ok("RSET")
        assert helpers.stat(c) == (len(MSGS), sum(sizes))
        c.ok("RETR 2")
        assert c.multi_raw() == stuffed(MSGS[1])
        c.ok("QUIT")
    with session(server, ctx, user, pw) as c:
        assert helpers.stat(c)[0] == len(MSGS), "RSET did not undo DELE"
        c.ok("QUIT")


def test_deletes_applied_only_at_quit(server, ctx, env, mailbox):
    user, pw = mailbox()
    with session(server, ctx, user, pw) as c:
        c.ok("DELE 1")
        c.ok("DELE 5")
        # nothing removed from the store while the session runs
        assert len(env.stored_messages(user)) == len(MSGS)
        assert c.ok("QUIT")
        assert c.eof()
    stored = env.stored_messages(user)
    assert sorted(message_id(m) for m in stored) == sorted(
        message_id(m) for m in MSGS[1:4])
    # the files left are the messages, unchanged
    assert sorted(stored) == sorted(MSGS[1:4])
    with session(server, ctx, user, pw) as c:
        assert helpers.stat(c) == (3, sum(len(crlf(m)) for m in MSGS[1:4]))
        c.ok("QUIT")


def test_dropped_connection_deletes_nothing(server, ctx, env, mailbox):
    user, pw = mailbox()
    c = session(server, ctx, user, pw)
    for i in range(1, len(MSGS) + 1):
        c.ok("DELE %d" % i)
    c.close()           # no QUIT
    with session(server, ctx, user, pw) as c:
        assert helpers.stat(c)[0] == len(MSGS)
        c.ok("QUIT")
    assert len(env.stored_messages(user)) == len(MSGS)


def test_reset_connection_deletes_nothing(server, ctx, env, mailbox):
    import socket
    import struct
    user, pw = mailbox()
    c = session(server, ctx, user, pw)
    c.ok("DELE 1")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                   struct.pack("ii", 1, 0))
    c.close()           # RST instead of FIN
    with session(server, ctx, user, pw) as c:
        assert helpers.stat(c)[0] == len(MSGS)
        c.ok("QUIT")


def test_quit_without_login_changes_nothing(server, ctx, env, mailbox):
    user, pw = mailbox()
    with helpers.Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        c.ok("USER " + user)
        c.ok("QUIT")
    assert len(env.stored_messages(user)) == len(MSGS)


def test_mail_arriving_during_session(server, ctx, env, mailbox):
    """Message numbers are fixed for the session; new mail shows up in
    the next one."""
    user, pw = mailbox()
    with session(server, ctx, user, pw) as c:
        before = helpers.stat(c)
        env.deliver(user, b"Subject: during\nMessage-ID: <during@x>\n\nx\n")
        assert helpers.stat(c) == before
        assert len(helpers.listing(c, "LIST")) == len(MSGS)
        c.err("RETR %d" % (len(MSGS) + 1))
        c.ok("DELE 1")
        c.ok("QUIT")
    with session(server, ctx, user, pw) as c:
        assert helpers.stat(c)[0] == len(MSGS)   # -1 deleted, +1 new
        ids = set(ids_by_uid(c).values())
        assert b"<during@x>" in ids and b"<m1@postern.test>" not in ids
        c.ok("QUIT")


def test_message_removed_by_another_host(server, ctx, env, mailbox):
    """A message that vanished from the store (another host on a shared
    store deleted it): RETR fails cleanly, and a DELE of it still lets
    QUIT succeed (ENOENT is not an error)."""
    user, pw = mailbox()
    with session(server, ctx, user, pw) as c:
        helpers.stat(c)
        for sub in ("new", "cur"):
            d = os.path.join(env.maildir(user), sub)
            for f in os.listdir(d):
                with open(os.path.join(d, f), "rb") as fh:
                    if b"<m1@postern.test>" in fh.read():
                        os.unlink(os.path.join(d, f))
        resp = c.cmd("RETR 1")
        assert resp.startswith(b"-ERR"), resp
        c.ok("STAT")    # the session survives
        c.ok("DELE 1")
        c.ok("DELE 2")
        assert c.cmd("QUIT").startswith(b"+OK")
    with session(server, ctx, user, pw) as c:
        assert helpers.stat(c)[0] == len(MSGS) - 2
        c.ok("QUIT")


def test_index_temp_left_by_a_killed_writer_is_removed(server, ctx, env,
                                                       mailbox):
    """A host killed while writing postern.index leaves its temp file; the
    next index write (under the session lock, so no writer can be busy)
    removes it, whatever host left it."""
    user, pw = mailbox()
    left = os.path.join(env.maildir(user), "postern.index.tmp.gone.4242")
    with open(left, "w") as f:
        f.write("postern index half-writ")
    with session(server, ctx, user, pw) as c:   # new/ -> cur/: a write
        c.ok("QUIT")
    assert not os.path.exists(left)
    assert os.path.exists(os.path.join(env.maildir(user), "postern.index"))


def test_large_maildrop(server, ctx, env, mailbox):
    n = 3000
    msgs = [b"Subject: bulk %d\nMessage-ID: <bulk%d@x>\n\nbody %d\n" % (i, i, i)
            for i in range(n)]
    user, pw = mailbox(msgs)
    for attempt in range(2):
        t0 = time.monotonic()
        with session(server, ctx, user, pw) as c:
            assert helpers.stat(c) == (n, sum(len(crlf(m)) for m in msgs))
            uids = helpers.listing(c, "UIDL")
            assert len(set(uids.values())) == n
            c.ok("RETR %d" % n)
            assert c.multi_raw() == stuffed(msgs[-1])
            c.ok("QUIT")
        elapsed = time.monotonic() - t0
        assert elapsed < 20, "opening %d messages took %.1f s" % (n, elapsed)
