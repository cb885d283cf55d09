"""Authentication: USER/PASS, AUTH PLAIN and SCRAM (RFC 1939, 5034, 5802,
7677) and the RFC 3206 [AUTH] promise."""

import pytest

import helpers
from helpers import Pop3, b64, plain_ir

MSGS = helpers.corpus()


@pytest.fixture
def tls(server, ctx):
    c = Pop3("127.0.0.1", server.port("pop3s"), tls=ctx)
    yield c
    c.close()


def assert_logged_in(c):
    assert helpers.stat(c)[0] == len(MSGS)
    c.ok("QUIT")


# -- USER/PASS -------------------------------------------------------------

def test_user_pass(tls, alice):
    tls.login(*alice)
    assert_logged_in(tls)


def test_wrong_password_and_unknown_user_look_the_same(server, ctx, alice):
    answers = []
    for user, pw in ((alice[0], "wrong-password"),
                     ("nosuchuser", "wrong-password"),
                     ("nosuchuser", alice[1])):
        with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
            u = c.cmd("USER " + user)
            p = c.cmd("PASS " + pw)
            answers.append((u, p))
    for u, p in answers:
        assert p.startswith(b"-ERR [AUTH]"), p
    assert len(set(answers)) == 1, "answers differ: %r" % answers


def test_failed_pass_allows_retry(tls, alice):
    tls.ok("USER " + alice[0])
    assert tls.cmd("PASS nope").startswith(b"-ERR [AUTH]")
    tls.login(*alice)
    assert_logged_in(tls)


def test_user_name_is_not_truncated(tls, alice):
    tls.ok("USER " + alice[0] + "x")
    assert tls.cmd("PASS " + alice[1]).startswith(b"-ERR [AUTH]")


# -- AUTH PLAIN --------------------------------------------------------------

def test_auth_plain_initial_response(tls, alice):
    assert tls.cmd("AUTH PLAIN " + plain_ir(*alice)).startswith(b"+OK")
    assert_logged_in(tls)


def test_auth_plain_without_initial_response(tls, alice):
    assert tls.cmd("AUTH PLAIN") == b"+ ", "empty challenge must be '+ '"
    assert tls.cmd(plain_ir(*alice)).startswith(b"+OK")
    assert_logged_in(tls)


def test_auth_plain_poplib_shortcmd(server, ctx, alice):
    p = helpers.pop3s(server.port("pop3s"), ctx)
    try:
        assert p._shortcmd("AUTH PLAIN " + plain_ir(*alice)).startswith(
            b"+OK")
        assert p.stat()[0] == len(MSGS)
        p.quit()
    finally:
        p.close()


def test_auth_plain_with_own_authzid(tls, alice):
    ir = plain_ir(alice[0], alice[1], authzid=alice[0])
    assert tls.cmd("AUTH PLAIN " + ir).startswith(b"+OK")
    assert_logged_in(tls)


def test_auth_plain_cannot_act_as_another_user(tls, alice, users):
    ir = plain_ir(alice[0], alice[1], authzid="user00")
    resp = tls.cmd("AUTH PLAIN " + ir)
    assert resp.startswith(b"-ERR"), resp


def test_auth_plain_wrong_password(tls, alice):
    resp = tls.cmd("AUTH PLAIN " + plain_ir(alice[0], "bad"))
    assert resp.startswith(b"-ERR [AUTH]"), resp
    # and same text for an unknown user
    resp2 = tls.cmd("AUTH PLAIN " + plain_ir("nosuchuser", "bad"))
    assert resp2 == resp


@pytest.mark.parametrize("bad", ["!!!notbase64", "YWxpY2U", "YW=Jj",
                                 "Zm9v\tYmFy", "=="])
def test_auth_plain_bad_base64_initial(tls, alice, bad):
    assert tls.cmd("AUTH PLAIN " + bad).startswith(b"-ERR")
    tls.login(*alice)      # the session is still usable
    assert_logged_in(tls)


def test_auth_plain_bad_base64_continuation(tls, alice):
    assert tls.cmd("AUTH PLAIN").startswith(b"+ ")
    assert tls.cmd("@@@@").startswith(b"-ERR")
    tls.login(*alice)
    assert_logged_in(tls)


def test_auth_plain_empty_initial_response(tls):
    # "=" is a zero-length initial response: PLAIN cannot succeed on it
    assert tls.cmd("AUTH PLAIN =").startswith(b"-ERR")


def test_auth_cancel(tls, alice):
    assert tls.cmd("AUTH PLAIN").startswith(b"+ ")
    assert tls.cmd("*").startswith(b"-ERR")
    assert tls.cmd("AUTH PLAIN " + plain_ir(*alice)).startswith(b"+OK")
    assert_logged_in(tls)


def test_auth_after_login(tls, alice):
    tls.login(*alice)
    tls.err("AUTH PLAIN " + plain_ir(*alice))
    tls.err("AUTH SCRAM-SHA-256")
    assert_logged_in(tls)


@pytest.mark.parametrize("mech", ["FOO", "CRAM-MD5", "DIGEST-MD5", "LOGIN",
                                  "GSSAPI", "ANONYMOUS", "EXTERNAL"])
def test_unoffered_mechanism(tls, mech):
    """Only the configured mechanisms may run, whatever plugins exist."""
    tls.err("AUTH " + mech)


def test_mechanism_list_is_the_configured_one(tls):
    """The configured mechanisms in their order; under TLS a SCRAM
    mechanism may be preceded by its -PLUS variant, nothing else."""
    caps = tls.capa()
    base = [m for m in caps["SASL"] if not m.endswith("-PLUS")]
    assert base == ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"], caps["SASL"]
    for m in caps["SASL"]:
        if m.endswith("-PLUS"):
            assert m[:-5] in ("SCRAM-SHA-256", "SCRAM-SHA-1"), m
            assert caps["SASL"].index(m) < caps["SASL"].index(m[:-5])


def test_no_plus_mechanisms_without_tls(server):
    with Pop3("127.0.0.1", server.port("pop3")) as c:
        sasl = c.capa()["SASL"]
        assert not [m for m in sasl if m.endswith("-PLUS")], sasl


# -- SCRAM ---------------------------------------------------------------------

@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
def test_scram_over_tls(tls, alice, mech):
    resp, verified = helpers.scram_login(tls, mech, *alice)
    assert resp.startswith(b"+OK"), resp
    assert verified, "server signature did not verify"
    assert_logged_in(tls)


def test_scram_with_initial_response(tls, alice):
    resp, verified = helpers.scram_login(tls, "SCRAM-SHA-256", *alice,
                                         initial=True)
    assert resp.startswith(b"+OK") and verified, resp
    assert_logged_in(tls)


def test_scram_without_tls(server, alice):
    """SCRAM never exposes the password, so it is fine before STLS."""
    with Pop3("127.0.0.1", server.port("pop3")) as c:
        resp, verified = helpers.scram_login(c, "SCRAM-SHA-256", *alice)
        assert resp.startswith(b"+OK") and verified, resp
        assert_logged_in(c)


def test_scram_wrong_password(tls, alice):
    resp, _ = helpers.scram_login(tls, "SCRAM-SHA-256", alice[0], "wrong")
    assert resp.startswith(b"-ERR [AUTH]"), resp


def test_scram_unknown_user_is_not_revealed(server, ctx, alice):
    """An unknown user gets a challenge like anyone (RFC 5802 section 9)
    and the same final answer as a wrong password."""
    answers = []
    for user in (alice[0], "nosuchuser"):
        with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
            c.send("AUTH SCRAM-SHA-256\r\n")
            assert c.status() == b"+ "
            first = "n=%s,r=%s" % (user, b64(b"0123456789abcdef"))
            resp = c.cmd(b64("n,," + first))
            assert resp.startswith(b"+ "), "%s: %r" % (user, resp)
        with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
            answers.append(helpers.scram_login(c, "SCRAM-SHA-256", user,
                                               "wrong")[0])
    assert answers[0].startswith(b"-ERR [AUTH]")
    assert answers[0] == answers[1]


def test_scram_cancel(tls, alice):
    assert tls.cmd("AUTH SCRAM-SHA-1") == b"+ "
    resp = tls.cmd(b64("n,,n=%s,r=abcdefghijkl" % alice[0]))
    assert resp.startswith(b"+ ")
    assert tls.cmd("*").startswith(b"-ERR")
    tls.login(*alice)
    assert_logged_in(tls)


def plus_offered(caps):
    return [m for m in caps.get("SASL", []) if m.endswith("-PLUS")]


def test_scram_flag_y_against_a_plus_server_fails(tls, alice):
    """'y' says: the client could bind but believes the server cannot.
    A server that offers -PLUS must then fail the exchange (downgrade
    detection, RFC 5802 section 6)."""
    caps = tls.capa()
    resp, _ = helpers.scram_login(tls, "SCRAM-SHA-256", *alice, gs2flag="y")
    if plus_offered(caps):
        assert resp.startswith(b"-ERR"), resp
    else:
        assert resp.startswith(b"+OK"), resp


def test_scram_flag_y_without_tls_succeeds(server, alice):
    """Without TLS there is no -PLUS, so 'y' is fine."""
    with Pop3("127.0.0.1", server.port("pop3")) as c:
        resp, verified = helpers.scram_login(c, "SCRAM-SHA-256", *alice,
                                             gs2flag="y")
        assert resp.startswith(b"+OK") and verified, resp
        c.ok("QUIT")


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
def test_scram_plus_tls_exporter(server, env, alice, mech):
    """TLS 1.3: tls-exporter channel binding (RFC 9266) from pyOpenSSL."""
    c = helpers.pyopenssl_pop3(server.port("pop3s"), env.ca)
    with c:
        assert c.sock.version() == "TLSv1.3"
        assert mech in c.capa()["SASL"]
        resp, verified = helpers.scram_login(
            c, mech, *alice, cbind=("tls-exporter", c.sock.exporter()))
        assert resp.startswith(b"+OK") and verified, resp
        assert_logged_in(c)


def test_scram_plus_wrong_binding_fails(server, env, alice):
    """Binding data from another channel (a man in the middle) fails."""
    c = helpers.pyopenssl_pop3(server.port("pop3s"), env.ca)
    with c:
        resp, _ = helpers.scram_login(c, "SCRAM-SHA-256-PLUS", *alice,
                                      cbind=("tls-exporter", bytes(32)))
        assert resp.startswith(b"-ERR"), resp


def test_scram_plus_wrong_binding_type_fails(server, env, alice):
    c = helpers.pyopenssl_pop3(server.port("pop3s"), env.ca)
    with c:
        resp, _ = helpers.scram_login(c, "SCRAM-SHA-256-PLUS", *alice,
                                      cbind=("tls-unique", c.sock.exporter()))
        assert resp.startswith(b"-ERR"), resp


def test_scram_plus_tls_unique_on_tls12(server, env, alice):
    """TLS 1.2: tls-unique (RFC 5929), which the ssl module provides."""
    import ssl
    ctx = helpers.tls_client_context(env.ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        assert c.sock.version() == "TLSv1.2"
        assert "SCRAM-SHA-256-PLUS" in c.capa()["SASL"]
        cb = c.sock.get_channel_binding("tls-unique")
        resp, verified = helpers.scram_login(
            c, "SCRAM-SHA-256-PLUS", *alice, cbind=("tls-unique", cb))
        assert resp.startswith(b"+OK") and verified, resp
        assert_logged_in(c)


def test_scram_plus_not_accepted_without_tls(server, alice):
    with Pop3("127.0.0.1", server.port("pop3")) as c:
        c.err("AUTH SCRAM-SHA-256-PLUS")


# -- accounts changed with the admin tool while the daemon runs -------------

def admin_ok(env, *args, stdin=None):
    r = env.admin("user", *args, stdin=stdin)
    assert r.returncode == 0, r.stderr.decode()
    env.chown(env.users_file)


def login_answer(server, ctx, user, pw):
    with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        c.cmd("USER " + user)
        return c.cmd("PASS " + pw)


def test_disabled_account(server, env, ctx, mailbox):
    user, pw = mailbox()
    admin_ok(env, "disable", user)
    resp = login_answer(server, ctx, user, pw)
    assert resp.startswith(b"-ERR [SYS/PERM]"), resp
    # a wrong password on a disabled account is still just [AUTH]
    assert login_answer(server, ctx, user, "bad").startswith(b"-ERR [AUTH]")
    admin_ok(env, "enable", user)
    assert login_answer(server, ctx, user, pw).startswith(b"+OK")


def test_password_change(server, env, ctx, mailbox):
    user, old = mailbox()
    new = "n3w-Password"
    admin_ok(env, "passwd", user, stdin=new + "\n")
    assert login_answer(server, ctx, user, old).startswith(b"-ERR [AUTH]")
    assert login_answer(server, ctx, user, new).startswith(b"+OK")
    with Pop3("127.0.0.1", server.port("pop3s"), tls=ctx) as c:
        resp, verified = helpers.scram_login(c, "SCRAM-SHA-256", user, new)
        assert resp.startswith(b"+OK") and verified


def test_deleted_account(server, env, ctx, mailbox):
    user, pw = mailbox()
    admin_ok(env, "del", user)
    unknown = login_answer(server, ctx, "nosuchuser", "x")
    assert login_answer(server, ctx, user, pw) == unknown
