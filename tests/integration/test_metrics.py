"""postern metrics: the counters every worker adds to, read from the
scoreboard and printed in the OpenMetrics text format, checked with the
Prometheus project's own parser and against what clients just did."""

import poplib

import pytest
from prometheus_client.openmetrics.parser import \
    text_string_to_metric_families

import helpers
from conftest import Daemon
from helpers import corpus, crlf

MSGS = corpus()


@pytest.fixture(scope="module")
def counted(env, users):
    """A daemon of its own, so that nobody else's sessions are counted;
    it trusts 127.0.0.0/8 with cleartext logins on port 110."""
    d = Daemon(env, "metrics", trusted_networks="127.0.0.0/8").start()
    d.wait_workers()    # the master made the scoreboard before forking
    yield d
    d.stop()


def scrape(env, d):
    """{(name, labels...): value} of every sample, after the strict
    OpenMetrics parser has read the whole output."""
    r = env.admin("metrics", config=d.config)
    assert r.returncode == 0, r.stderr.decode()
    text = r.stdout.decode()
    assert text.endswith("# EOF\n")
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name,) + tuple(sorted(s.labels.items()))] = s.value
    return out


def settled(env, d):
    """A scrape once every session counted has ended (the daemon's own
    readiness probes included): then each was counted exactly once."""
    def quiet():
        m = scrape(env, d)
        ended = sum(v for k, v in m.items()
                    if k[0] == "postern_sessions_ended_total")
        return m if ended == m[("postern_sessions_total",)] else None
    return helpers.wait_for(quiet, 10, what="sessions to end")


def delta(before, after, name, **labels):
    key = (name,) + tuple(sorted(labels.items()))
    return after.get(key, 0) - before.get(key, 0)


def auth(mech, reason):
    return {"mechanism": mech, "reason": reason}


def test_counts_follow_what_clients_do(env, counted, ctx, mailbox):
    user, pw = mailbox()
    before = settled(env, counted)
    c = poplib.POP3("127.0.0.1", counted.port("pop3"), timeout=10)
    c.user(user)
    c.pass_(pw)
    c.retr(1)
    c.top(2, 0)
    c.dele(3)
    c.quit()
    c = poplib.POP3("127.0.0.1", counted.port("pop3"), timeout=10)
    c.user(user)
    with pytest.raises(poplib.error_proto):
        c.pass_(pw + "-wrong")
    c.quit()
    with helpers.Pop3("127.0.0.1", counted.port("pop3s"), tls=ctx) as t:
        t.ok("AUTH PLAIN " + helpers.plain_ir(user, pw))
        t.ok("QUIT")
    after = settled(env, counted)

    assert delta(before, after, "postern_sessions_total") == 3
    assert delta(before, after, "postern_auth_attempts_total",
                 **auth("USER", "ok")) == 1
    assert delta(before, after, "postern_auth_attempts_total",
                 **auth("USER", "bad-credentials")) == 1
    assert delta(before, after, "postern_auth_attempts_total",
                 **auth("PLAIN", "ok")) == 1
    assert delta(before, after, "postern_sessions_ended_total",
                 reason="quit") == 3
    assert delta(before, after, "postern_retrieved_messages_total") == 1
    assert delta(before, after, "postern_retrieved_octets_total") == \
        len(crlf(MSGS[0]))
    assert delta(before, after, "postern_top_total") == 1
    assert delta(before, after, "postern_deleted_messages_total") == 1
    assert delta(before, after, "postern_sent_octets_total") > \
        len(crlf(MSGS[0]))
    assert delta(before, after, "postern_received_octets_total") > 0


def test_refusals_and_cut_sessions_are_counted(env, counted, mailbox):
    user, pw = mailbox()
    before = settled(env, counted)
    holder = poplib.POP3("127.0.0.1", counted.port("pop3"), timeout=10)
    holder.user(user)
    holder.pass_(pw)
    second = poplib.POP3("127.0.0.1", counted.port("pop3"), timeout=10)
    second.user(user)
    with pytest.raises(poplib.error_proto, match="IN-USE"):
        second.pass_(pw)
    second.quit()
    holder.close()               # dropped without QUIT
    after = settled(env, counted)
    assert delta(before, after, "postern_sessions_ended_total",
                 reason="disconnect") == 1
    assert delta(before, after, "postern_auth_attempts_total",
                 **auth("USER", "in-use")) == 1
    assert delta(before, after, "postern_sessions_ended_total",
                 reason="quit") == 1


def test_workers_by_state(env, counted):
    m = scrape(env, counted)
    live = len(counted.wait_workers())
    states = {k[1][1]: v for k, v in m.items() if k[0] == "postern_workers"}
    assert set(states) == {"starting", "idle", "handshake", "auth",
                           "transaction", "closing"}
    assert sum(states.values()) == live
    assert m[("postern_worker_slots",)] >= live


def test_metrics_without_a_scoreboard(env, tmp_path):
    conf = tmp_path / "postern.conf"
    with open(env.admin_conf) as f:
        lines = [l for l in f if not l.startswith("state_dir")]
    conf.write_text("".join(lines) + "state_dir = %s\n" % tmp_path)
    r = env.admin("metrics", config=str(conf))
    assert r.returncode == 1
    assert b"/scoreboard:" in r.stderr
