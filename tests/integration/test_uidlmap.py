"""UIDLs carried over from a former server: "postern uidl import" checks a
map of maildir file names to UIDLs, writes postern.uidls under the session
lock and drops the index; the daemon then gives those messages those
UIDLs, now and after the index is lost, and new mail its own."""

import os

import helpers
from conftest import IS_ROOT, SERVICE_UID
from helpers import corpus, ids_by_uid, message_id

MSGS = corpus()


def session(server, ctx, user, pw):
    return helpers.tls_session(server.port("pop3s"), ctx, user, pw)


def files_by_id(env, user):
    """{Message-ID: file name} of the messages in cur/."""
    cur = os.path.join(env.maildir(user), "cur")
    out = {}
    for name in os.listdir(cur):
        with open(os.path.join(cur, name), "rb") as f:
            out[message_id(f.read())] = name
    return out


def write_map(tmp_path, lines):
    path = tmp_path / "uidls.txt"
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def settle(server, ctx, user, pw):
    """One session, so that new/ is in cur/ and the index is written."""
    with session(server, ctx, user, pw) as c:
        names = ids_by_uid(c)
        c.ok("QUIT")
    return names


def import_old_uidls(env, server, ctx, user, pw, tmp_path, extra=()):
    """Maps every message to "OLD-<n>" (n: its place in the corpus), with
    full file names as ls shows them; returns {Message-ID: old UIDL}."""
    settle(server, ctx, user, pw)
    files = files_by_id(env, user)
    want = {message_id(m): "OLD-%d" % i for i, m in enumerate(MSGS)}
    lines = ["# exported from the old server"]
    lines += ["%s %s" % (files[mid], uidl) for mid, uidl in want.items()]
    r = env.admin("uidl", "import", user,
                  write_map(tmp_path, lines + list(extra)))
    assert r.returncode == 0, r.stderr.decode()
    return want, r.stdout.decode()


def test_imported_uidls_are_served(server, ctx, env, mailbox, tmp_path):
    user, pw = mailbox()
    want, out = import_old_uidls(env, server, ctx, user, pw, tmp_path,
                                 extra=["1699999999.gone.host OLD-GONE"])
    n = len(MSGS)
    assert out == "%s: imported %d UIDLs; %d name messages in the " \
        "maildrop, 1 name none\n" % (user, n + 1, n)
    md = env.maildir(user)
    assert not os.path.exists(os.path.join(md, "postern.index"))
    if IS_ROOT:
        assert os.stat(os.path.join(md, "postern.uidls")).st_uid == \
            SERVICE_UID
    with session(server, ctx, user, pw) as c:
        got = ids_by_uid(c)
        c.ok("QUIT")
    assert got == {uidl.encode(): mid for mid, uidl in want.items()}


def test_imported_uidls_outlive_the_index(server, ctx, env, mailbox,
                                          tmp_path):
    user, pw = mailbox()
    want, _ = import_old_uidls(env, server, ctx, user, pw, tmp_path)
    expected = {uidl.encode(): mid for mid, uidl in want.items()}
    index = os.path.join(env.maildir(user), "postern.index")
    assert settle(server, ctx, user, pw) == expected
    os.unlink(index)
    assert settle(server, ctx, user, pw) == expected
    assert settle(server, ctx, user, pw) == expected


def test_new_mail_after_import_has_its_own_uidl(server, ctx, env, mailbox,
                                                tmp_path):
    user, pw = mailbox()
    want, _ = import_old_uidls(env, server, ctx, user, pw, tmp_path)
    env.deliver(user, b"Subject: later\nMessage-ID: <later@postern.test>"
                b"\n\nhi\n")
    got = settle(server, ctx, user, pw)
    assert len(got) == len(MSGS) + 1
    new = [u for u, mid in got.items() if mid == b"<later@postern.test>"]
    base = files_by_id(env, user)[b"<later@postern.test>"].split(":")[0]
    assert new == [base.encode()]
    for mid, uidl in want.items():
        assert got[uidl.encode()] == mid


def test_import_waits_for_the_session_to_end(server, ctx, env, mailbox,
                                             tmp_path):
    user, pw = mailbox()
    before = settle(server, ctx, user, pw)
    files = files_by_id(env, user)
    path = write_map(tmp_path, ["%s X-%d" % (f, i)
                                for i, f in enumerate(files.values())])
    with session(server, ctx, user, pw) as c:
        r = env.admin("uidl", "import", user, path)
        assert r.returncode == 1
        assert b"a POP3 session holds the maildrop" in r.stderr
        assert not os.path.exists(os.path.join(env.maildir(user),
                                               "postern.uidls"))
        assert ids_by_uid(c) == before
        c.ok("QUIT")
    r = env.admin("uidl", "import", user, path)
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(settle(server, ctx, user, pw)) == \
        sorted(b"X-%d" % i for i in range(len(files)))


def test_bad_map_is_reported_whole_and_changes_nothing(server, ctx, env,
                                                       mailbox, tmp_path):
    user, pw = mailbox()
    before = settle(server, ctx, user, pw)
    md = env.maildir(user)
    with open(os.path.join(md, "postern.index"), "rb") as f:
        index = f.read()
    path = write_map(tmp_path, [
        "good.1 U1",
        "only-a-name",
        "sub/dir.2 U2",
        "toolong.3 " + "x" * 71,
        "bad.4 caf\u00e9",
        "three.5 U5 more",
        "good.6 U1",
        "good.1:2,S U7",
    ])
    r = env.admin("uidl", "import", user, path)
    assert r.returncode == 1
    err = r.stderr.decode()
    for line, why in [(2, "a file name and a UIDL expected"),
                      (3, "a file name, not a path, expected"),
                      (4, "UIDL must be 1-70 characters"),
                      (5, "UIDL must be 1-70 characters"),
                      (6, "more than a file name and a UIDL"),
                      (7, "UIDL given twice"),
                      (8, "message named twice")]:
        assert "%s:%d: %s" % (path, line, why) in err, err
    assert "%s:1:" % path not in err
    assert "nothing imported" in err
    assert not os.path.exists(os.path.join(md, "postern.uidls"))
    with open(os.path.join(md, "postern.index"), "rb") as f:
        assert f.read() == index
    assert settle(server, ctx, user, pw) == before


def test_dry_run_counts_and_writes_nothing(server, ctx, env, mailbox,
                                           tmp_path):
    user, pw = mailbox()
    before = settle(server, ctx, user, pw)
    files = list(files_by_id(env, user).values())
    path = write_map(tmp_path, ["%s D-%d" % (f, i)
                                for i, f in enumerate(files[:2])])
    r = env.admin("uidl", "import", user, path, "--dry-run")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == "%s: would import 2 UIDLs; 2 name " \
        "messages in the maildrop, 0 name none\n" % user
    md = env.maildir(user)
    assert not os.path.exists(os.path.join(md, "postern.uidls"))
    assert os.path.exists(os.path.join(md, "postern.index"))
    assert settle(server, ctx, user, pw) == before


def test_import_from_stdin_and_unknown_user(env, mailbox):
    user, _ = mailbox()
    r = env.admin("uidl", "import", user, "-", stdin="a.b U1\nbroken\n")
    assert r.returncode == 1 and b"stdin:2: a file name and a UIDL" \
        b" expected" in r.stderr
    r = env.admin("uidl", "import", "nosuchuser", "-", stdin="a.b U1\n")
    assert r.returncode == 1 and b"no such user: nosuchuser" in r.stderr
    r = env.admin("uidl", "import", user)
    assert r.returncode == 2 and b"usage:" in r.stderr


def test_unreadable_map_fails_the_login(server, ctx, env, mailbox,
                                        tmp_path):
    """Serving without the map would give its messages new UIDLs, which
    the index would keep: the login waits for the administrator."""
    user, pw = mailbox()
    want, _ = import_old_uidls(env, server, ctx, user, pw, tmp_path)
    mapfile = os.path.join(env.maildir(user), "postern.uidls")
    os.rename(mapfile, mapfile + ".aside")
    os.mkdir(mapfile)
    with helpers.Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        c.ok("USER " + user)
        resp = c.err("PASS " + pw)
        assert resp.startswith(b"-ERR [SYS/PERM]"), resp
    assert not os.path.exists(os.path.join(env.maildir(user),
                                           "postern.index"))
    os.rmdir(mapfile)
    os.rename(mapfile + ".aside", mapfile)
    assert settle(server, ctx, user, pw) == \
        {uidl.encode(): mid for mid, uidl in want.items()}
