"""Real clients against the daemon: curl, mpop, fetchmail (PROTOCOLS.md 2)."""

import os
import re

import pytest

import helpers
from helpers import corpus, crlf, message_id, need, ok, run

MSGS = corpus()


# -- curl ---------------------------------------------------------------------

def curl(env, *args):
    need("curl")
    return run(["curl", "-sS", "--max-time", "60", "--cacert", env.ca, *args],
               env=env.client_env())


def test_curl_pop3s_list(server, env, alice):
    r = ok(curl(env, "-u", "%s:%s" % alice,
                "pop3s://localhost:%d/" % server.port("pop3s")))
    want = b"".join(b"%d %d\r\n" % (i, len(crlf(m)))
                    for i, m in enumerate(MSGS, 1))
    assert r.stdout == want


@pytest.mark.parametrize("n", range(1, len(MSGS) + 1))
def test_curl_pop3s_retr(server, env, alice, n):
    r = ok(curl(env, "-u", "%s:%s" % alice,
                "pop3s://localhost:%d/%d" % (server.port("pop3s"), n)))
    assert r.stdout == crlf(MSGS[n - 1])


def test_curl_stls(server, env, alice):
    r = ok(curl(env, "--ssl-reqd", "-u", "%s:%s" % alice,
                "pop3://localhost:%d/1" % server.port("pop3")))
    assert r.stdout == crlf(MSGS[0])


def test_curl_sasl_plain_with_initial_response(server, env, alice):
    r = ok(curl(env, "--login-options", "AUTH=PLAIN", "--sasl-ir",
                "-u", "%s:%s" % alice,
                "pop3s://localhost:%d/2" % server.port("pop3s")))
    assert r.stdout == crlf(MSGS[1])


def test_curl_uidl(server, env, alice):
    r = ok(curl(env, "-X", "UIDL", "-u", "%s:%s" % alice,
                "pop3s://localhost:%d/" % server.port("pop3s")))
    lines = r.stdout.split(b"\r\n")[:-1]
    uids = helpers.parse_listing(lines)
    assert sorted(uids) == list(range(1, len(MSGS) + 1))


def test_curl_wrong_password_fails(server, env, alice):
    r = curl(env, "-u", "%s:wrong" % alice[0],
             "pop3s://localhost:%d/" % server.port("pop3s"))
    assert r.returncode != 0


def test_curl_cleartext_refused_without_tls(server, env, alice):
    """curl has no SCRAM, and USER/PLAIN are not offered in cleartext to
    an untrusted client, so a pop3:// login without TLS must fail."""
    r = curl(env, "-u", "%s:%s" % alice,
             "pop3://localhost:%d/" % server.port("pop3"))
    assert r.returncode != 0, r.stdout


# -- mpop --------------------------------------------------------------------

def mpop(env, port, user, pw, workdir, *extra):
    need("mpop")
    argv = ["mpop", "--host=localhost", "--port=%d" % port,
            "--tls=on", "--tls-trust-file=" + env.ca,
            "--user=" + user, "--passwordeval=echo " + pw,
            "--delivery=mbox," + os.path.join(workdir, "mbox"),
            "--uidls-file=" + os.path.join(workdir, "uidls"),
            "--timeout=30", *extra]
    return run(argv, env=env.client_env(), cwd=workdir)


def mbox_messages(workdir):
    path = os.path.join(workdir, "mbox")
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    parts = re.split(rb"(?:^|\n)From [^\n]*\n", data)
    return [p for p in parts if p]


def assert_mbox_holds(workdir, msgs):
    got = mbox_messages(workdir)
    assert len(got) == len(msgs), "mbox has %d messages" % len(got)
    ids = sorted(message_id(m.replace(b"\r\n", b"\n")) for m in got)
    assert ids == sorted(message_id(m) for m in msgs)
    # the big message arrived whole
    big = [m for m in got if b"<big@postern.test>" in m]
    if big:
        assert b"line 13799 " in big[0]


@pytest.mark.parametrize("auth", ["plain", "scram-sha-256", "scram-sha-1"])
def test_mpop_stls(server, env, tmp_path, mailbox, auth):
    user, pw = mailbox()
    work = str(tmp_path)
    ok(mpop(env, server.port("pop3"), user, pw, work, "--auth=" + auth,
            "--keep=on"))
    assert_mbox_holds(work, MSGS)
    # the second run knows every UIDL and fetches nothing
    before = open(os.path.join(work, "mbox"), "rb").read()
    ok(mpop(env, server.port("pop3"), user, pw, work, "--auth=" + auth,
            "--keep=on"))
    assert open(os.path.join(work, "mbox"), "rb").read() == before
    # new mail is fetched, old mail is not
    env.deliver(user, b"Subject: new\nMessage-ID: <new@postern.test>\n\nn\n")
    ok(mpop(env, server.port("pop3"), user, pw, work, "--auth=" + auth,
            "--keep=on"))
    assert_mbox_holds(work, MSGS + [b"Message-ID: <new@postern.test>\n\n"])


def test_mpop_implicit_tls_and_delete(server, env, tmp_path, mailbox):
    """Without --keep mpop pipelines RETR and DELE; the maildrop must end
    up empty and every message delivered."""
    user, pw = mailbox()
    work = str(tmp_path)
    ok(mpop(env, server.port("pop3s"), user, pw, work, "--tls-starttls=off",
            "--auth=plain"))
    assert_mbox_holds(work, MSGS)
    assert env.stored_messages(user) == []


def test_mpop_scram_without_tls(server, env, tmp_path, mailbox):
    user, pw = mailbox()
    work = str(tmp_path)
    need("mpop")
    argv = ["mpop", "--host=localhost", "--port=%d" % server.port("pop3"),
            "--tls=off", "--auth=scram-sha-256", "--user=" + user,
            "--passwordeval=echo " + pw,
            "--delivery=mbox," + os.path.join(work, "mbox"),
            "--uidls-file=" + os.path.join(work, "uidls"), "--keep=on",
            "--timeout=30"]
    ok(run(argv, env=env.client_env()))
    assert_mbox_holds(work, MSGS)


def test_mpop_plain_without_tls_is_refused(server, env, tmp_path, mailbox):
    user, pw = mailbox()
    work = str(tmp_path)
    argv = ["mpop", "--host=localhost", "--port=%d" % server.port("pop3"),
            "--tls=off", "--auth=plain", "--user=" + user,
            "--passwordeval=echo " + pw,
            "--delivery=mbox," + os.path.join(work, "mbox"),
            "--uidls-file=" + os.path.join(work, "uidls"), "--keep=on",
            "--timeout=30"]
    need("mpop")
    r = run(argv, env=env.client_env())
    assert r.returncode != 0
    assert mbox_messages(work) == []


def test_mpop_status(server, env, tmp_path, alice):
    r = ok(mpop(env, server.port("pop3"), *alice, str(tmp_path),
                "--auth=scram-sha-256", "-s"))
    assert re.search(rb"\b%d messages?\b" % len(MSGS), r.stdout), r.stdout


# -- fetchmail ---------------------------------------------------------------

def fetchmail(env, work, rc_text):
    need("fetchmail")
    rc = os.path.join(work, "fetchmailrc")
    with open(rc, "w") as f:
        f.write(rc_text)
    os.chmod(rc, 0o600)
    e = env.client_env()
    e["FETCHMAILHOME"] = work
    return run(["fetchmail", "-N", "--nosyslog", "-f", rc, "-i",
                os.path.join(work, "fetchids"), "--pidfile",
                os.path.join(work, "fetchmail.pid")], env=e, cwd=work)


def fetchmail_rc(env, port, user, pw, work, extra=""):
    """An rc file whose MDA appends each message and a marker to work/out."""
    mda = os.path.join(work, "deliver.sh")
    with open(mda, "w") as f:
        f.write('cat >> "%s/out"\nprintf "\\nEND-OF-MESSAGE\\n" >> "%s/out"\n'
                % (work, work))
    return ("poll localhost service %d protocol pop3 uidl auth password\n"
            "  user %s password %s is root here\n"
            "  keep sslcertfile %s sslcertck %s\n"
            "  mda \"/bin/sh %s\"\n" % (port, user, pw, env.ca, extra, mda))


def test_fetchmail_stls_keep_uidl(server, env, tmp_path, mailbox):
    user, pw = mailbox()
    work = str(tmp_path)
    out = os.path.join(work, "out")
    rc = fetchmail_rc(env, server.port("pop3"), user, pw, work)
    ok(fetchmail(env, work, rc))
    with open(out, "rb") as f:
        data = f.read()
    for m in MSGS:
        assert message_id(m) in data
    assert data.count(b"END-OF-MESSAGE") == len(MSGS)
    assert b"line 13799 " in data
    # second run: nothing new (exit 1 means "no mail")
    r = fetchmail(env, work, rc)
    assert r.returncode == 1, r.stderr
    with open(out, "rb") as f:
        assert f.read() == data
    assert len(env.stored_messages(user)) == len(MSGS)


def test_fetchmail_implicit_tls(server, env, tmp_path, alice):
    work = str(tmp_path)
    out = os.path.join(work, "out")
    rc = fetchmail_rc(env, server.port("pop3s"), *alice, work, extra="ssl")
    ok(fetchmail(env, work, rc))
    with open(out, "rb") as f:
        data = f.read()
    assert data.count(b"END-OF-MESSAGE") == len(MSGS)
