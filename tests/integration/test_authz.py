"""Authorization identities (RFC 4422 authzid): refused unless the config
grants the proxy right (sasl_proxy_users); the target must exist."""

import poplib

import pytest

import helpers


@pytest.fixture
def proxied(daemon, mailbox):
    archiver, archiver_pw = mailbox()
    d = daemon(trusted_networks="127.0.0.0/8", sasl_proxy_users=archiver,
               throttle_failures="0")
    return d, archiver, archiver_pw


def auth_plain(port, authzid, user, password):
    p = helpers.pop3(port)
    try:
        return p, p._shortcmd("AUTH PLAIN " + helpers.plain_ir(user, password, authzid))
    except poplib.error_proto as e:
        return p, e.args[0]


def test_proxy_right_logs_in_as_target(proxied, mailbox):
    d, archiver, archiver_pw = proxied
    target, _ = mailbox(messages=helpers.corpus()[:2])
    p, reply = auth_plain(d.port("pop3"), target, archiver, archiver_pw)
    assert reply.startswith(b"+OK"), reply
    assert target.encode() in reply
    assert p.stat()[0] == 2             # the target's maildrop
    p.quit()


def test_no_proxy_right_is_refused(proxied, mailbox):
    d, archiver, _ = proxied
    user, pw = mailbox()
    p, reply = auth_plain(d.port("pop3"), archiver, user, pw)
    assert reply.startswith(b"-ERR [AUTH]"), reply
    p.close()


def test_proxy_target_must_exist(proxied):
    d, archiver, archiver_pw = proxied
    p, reply = auth_plain(d.port("pop3"), "no-such-user", archiver, archiver_pw)
    assert reply.startswith(b"-ERR [AUTH]"), reply
    p.close()


def test_same_authzid_is_fine_without_rights(proxied, mailbox):
    d, _, _ = proxied
    user, pw = mailbox()
    p, reply = auth_plain(d.port("pop3"), user, user, pw)
    assert reply.startswith(b"+OK"), reply
    p.quit()
