"""The process model: privilege separation, the worker pool, crashes,
SIGHUP reload under load, SIGTERM shutdown, and no secrets in the log."""

import os
import poplib
import signal
import socket
import threading
import time
import traceback

import pytest

import helpers
from conftest import IS_ROOT, SERVICE_UID, SERVICE_GID
from helpers import Pop3, corpus, stuffed

MSGS = corpus()


def read_pid_file(d):
    with open(d.pid_file) as f:
        return int(f.read().strip())


def quick_session(d, ctx, user, pw):
    with helpers.tls_session(d.port("pop3s"), ctx, user, pw) as c:
        n = helpers.stat(c)[0]
        c.ok("QUIT")
        return n


# -- privileges ------------------------------------------------------------------

def test_workers_do_not_run_as_root(server):
    workers = server.wait_workers(1)
    master = helpers.proc_status(server.pid)
    if IS_ROOT:
        assert master["Uid"].split()[1] == "0", "master should stay root"
    for pid in workers:
        st = helpers.proc_status(pid)
        assert st is not None
        assert [int(x) for x in st["Uid"].split()] == [SERVICE_UID] * 4, \
            "worker %d Uid: %s" % (pid, st["Uid"])
        assert [int(x) for x in st["Gid"].split()] == [SERVICE_GID] * 4, \
            "worker %d Gid: %s" % (pid, st["Gid"])
        groups = st.get("Groups", "").split()
        if IS_ROOT:
            assert "0" not in groups, "worker %d keeps group root" % pid
        assert st.get("CapEff", "0") .strip("0") == "", \
            "worker %d has capabilities %s" % (pid, st["CapEff"])


def test_serving_worker_is_unprivileged(server, ctx, alice):
    with helpers.tls_session(server.port("pop3s"), ctx, *alice) as c:
        pid = helpers.worker_for(server.pid, server.port("pop3s"),
                                 c.local_port)
        assert helpers.uids(pid) == [SERVICE_UID] * 4
        c.ok("QUIT")


def test_pid_file_names_the_master(server):
    assert read_pid_file(server) == server.pid


# -- the pool ---------------------------------------------------------------------

def test_spare_workers_follow_load(daemon, ctx, mailbox):
    d = daemon(min_spare_workers="2", max_spare_workers="4", max_workers="16")
    helpers.wait_for(lambda: 2 <= len(d.workers()) <= 4, 15,
                     what="2..4 idle workers")
    sessions = []
    try:
        for _ in range(6):
            user, pw = mailbox()
            sessions.append(helpers.tls_session(d.port("pop3s"), ctx,
                                                user, pw))
        # six busy workers plus at least the minimum of spares
        helpers.wait_for(lambda: len(d.workers()) >= 8, 15,
                         what="8 workers with 6 busy")
        assert len(d.workers()) <= 16
    finally:
        for c in sessions:
            c.close()
    helpers.wait_for(lambda: len(d.workers()) <= 4, 20,
                     what="spare workers trimmed back to 4")


def test_max_workers_is_a_hard_cap(daemon, ctx, mailbox):
    d = daemon(min_spare_workers="1", max_spare_workers="2", max_workers="3")
    busy = []
    waiting = None
    try:
        for _ in range(3):
            busy.append(helpers.tls_session(d.port("pop3s"), ctx,
                                            *mailbox()))
        time.sleep(1)
        assert len(d.workers()) <= 3
        # a fourth client waits in the backlog: no greeting yet
        waiting = Pop3("127.0.0.1", d.port("pop3"), greet=False)
        assert waiting.quiet(1.5), "a 4th worker served beyond max_workers"
        assert len(d.workers()) <= 3
        busy.pop(0).ok("QUIT")
        # ... and is served once a worker is free
        waiting.sock.settimeout(10)
        assert waiting.status().startswith(b"+OK")
    finally:
        for c in busy:
            c.close()
        if waiting:
            waiting.close()


def test_max_sessions_per_worker_recycles(daemon, ctx, alice):
    d = daemon(min_spare_workers="1", max_spare_workers="2", max_workers="4",
               max_sessions_per_worker="2")
    served = {}
    for _ in range(10):
        c = helpers.tls_session(d.port("pop3s"), ctx, *alice)
        with c:
            pid = helpers.worker_for(d.pid, d.port("pop3s"), c.local_port)
            served[pid] = served.get(pid, 0) + 1
            c.ok("QUIT")
    assert max(served.values()) <= 2, "a worker served %r sessions" % served
    assert len(served) >= 5
    assert d.proc.poll() is None


def test_killed_idle_worker_is_replaced(daemon, ctx, alice):
    d = daemon(min_spare_workers="2", max_spare_workers="4")
    workers = d.wait_workers(2)
    victim = workers[0]
    started = helpers.start_time(victim)
    os.kill(victim, signal.SIGKILL)
    helpers.wait_for(lambda: not helpers.alive(victim, started), 5,
                     what="the killed worker to be reaped")
    helpers.wait_for(lambda: len(d.workers()) >= 2, 10,
                     what="a replacement worker")
    assert d.proc.poll() is None
    assert quick_session(d, ctx, *alice) == len(MSGS)


def test_kill_9_serving_worker_loses_nothing(daemon, env, ctx, mailbox):
    """The worker dies mid-session after DELE: nothing is deleted, the
    lock is released, and the next session works."""
    d = daemon()
    user, pw = mailbox()
    c = helpers.tls_session(d.port("pop3s"), ctx, user, pw)
    with c:
        for i in range(1, len(MSGS) + 1):
            c.ok("DELE %d" % i)
        worker = helpers.worker_for(d.pid, d.port("pop3s"), c.local_port)
        assert worker != d.pid
        os.kill(worker, signal.SIGKILL)
        assert c.eof(5), "connection survived its worker"
    assert d.proc.poll() is None, "master died with its worker"
    stored = env.stored_messages(user)
    assert sorted(stored) == sorted(MSGS), "mail lost or changed"
    with helpers.tls_session(d.port("pop3s"), ctx, user, pw, deadline=5) as c:
        assert helpers.stat(c)[0] == len(MSGS)
        for i, m in enumerate(MSGS, 1):
            c.ok("RETR %d" % i)
            assert c.multi_raw() == stuffed(m)
        c.ok("QUIT")


# -- SIGHUP ------------------------------------------------------------------------

class Load:
    """Client threads doing login/STAT/LIST/RETR/QUIT in a loop."""

    def __init__(self, d, ctx, accounts):
        self.d, self.ctx = d, ctx
        self.stop = threading.Event()
        self.ok = 0
        self.failures = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=a, daemon=True)
                        for a in accounts]

    def loop(self, user, pw):
        while not self.stop.is_set():
            try:
                p = poplib.POP3_SSL("localhost", self.d.port("pop3s"),
                                    context=self.ctx, timeout=20)
                try:
                    p.user(user)
                    p.pass_(pw)
                    assert p.stat()[0] == len(MSGS)
                    assert len(p.list()[1]) == len(MSGS)
                    _, lines, _ = p.retr(2)
                    assert lines == helpers.message_lines(MSGS[1])
                    p.quit()
                finally:
                    p.close()
                with self.lock:
                    self.ok += 1
            except Exception:
                with self.lock:
                    self.failures.append(traceback.format_exc())

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def greeting(d):
    with Pop3("127.0.0.1", d.port("pop3")) as c:
        return c.greeting


def test_sighup_under_load(daemon, ctx, mailbox):
    d = daemon(greeting="Postern-one ready")
    assert b"Postern-one" in greeting(d)
    old_workers = {(p, helpers.start_time(p)) for p in d.workers()}
    accounts = [mailbox() for _ in range(4)]
    with Load(d, ctx, accounts) as load:
        time.sleep(1.5)
        d.signal(signal.SIGHUP)
        time.sleep(1.5)
        d.write_config(greeting="Postern-two ready")
        d.signal(signal.SIGHUP)
        helpers.wait_for(lambda: b"Postern-two" in greeting(d), 15,
                         what="the new greeting after SIGHUP")
        time.sleep(1.5)
    assert load.failures == [], "%d failed sessions, first:\n%s" % (
        len(load.failures), load.failures[0])
    assert load.ok >= 8, "only %d sessions completed" % load.ok
    assert d.proc.poll() is None
    assert read_pid_file(d) == d.pid, "master pid changed"
    for _ in range(5):
        assert b"Postern-two" in greeting(d)
    # the old workers were replaced
    helpers.wait_for(lambda: not any(helpers.alive(*w) for w in old_workers),
                     15, what="pre-reload workers to retire")


def test_sighup_with_broken_config_keeps_serving(daemon, ctx, alice):
    d = daemon(greeting="Postern-good ready")
    with open(d.config, "a") as f:
        f.write("no_such_setting = 1\n")
    d.signal(signal.SIGHUP)
    time.sleep(1.5)
    assert d.proc.poll() is None, "a bad config on SIGHUP killed the master"
    assert b"Postern-good" in greeting(d)
    assert quick_session(d, ctx, *alice) == len(MSGS)
    assert "%s:" % d.config in d.log_text(), "reload error not logged"
    d.write_config(greeting="Postern-fixed ready")
    d.signal(signal.SIGHUP)
    helpers.wait_for(lambda: b"Postern-fixed" in greeting(d), 15,
                     what="the fixed config to load")


def test_sighup_reloads_certificate(daemon, env, ctx, alice):
    """Replace the key pair on disk, SIGHUP: new handshakes present the
    new certificate."""
    d = daemon()

    def peer_cert():
        with Pop3("127.0.0.1", d.port("pop3s"), tls=ctx) as c:
            return c.sock.getpeercert(binary_form=True)

    before = peer_cert()
    import conftest
    sub = os.path.join(env.root, "pki-reload")
    os.makedirs(sub)
    ca, cert, key = conftest.make_pki(sub)
    del ca
    # sign the new key with the session CA instead
    r = helpers.run(["openssl", "x509", "-req", "-in",
                     os.path.join(sub, "server.csr"), "-CA", env.ca,
                     "-CAkey", os.path.join(env.root, "ca.key"),
                     "-CAcreateserial", "-out", cert, "-days", "2",
                     "-extfile", os.path.join(sub, "ext.cnf")])
    assert r.returncode == 0, r.stderr
    env.chown(sub)
    os.chmod(sub, 0o755)
    d.write_config(tls_cert=cert, tls_key=key)
    d.signal(signal.SIGHUP)
    helpers.wait_for(lambda: peer_cert() != before, 15,
                     what="the new certificate")
    assert quick_session(d, ctx, *alice) == len(MSGS)


# -- SIGTERM --------------------------------------------------------------------------

def test_sigterm_stops_everything(daemon, ctx, alice):
    d = daemon()
    d.wait_workers(2)
    assert read_pid_file(d) == d.pid
    quick_session(d, ctx, *alice)
    d.stop()    # SIGTERM; checks exit status 0 and that no worker survived
    assert not os.path.exists(d.pid_file), "pid file left behind"
    for _, host, port in d.listeners:
        with pytest.raises(OSError):
            socket.create_connection((host, port), 2).close()


def test_sigterm_lets_a_session_finish(daemon, ctx, mailbox):
    d = daemon()
    user, pw = mailbox()
    c = helpers.tls_session(d.port("pop3s"), ctx, user, pw)
    with c:
        d.terminate()
        time.sleep(0.5)
        # new clients are no longer greeted
        try:
            late = Pop3("127.0.0.1", d.port("pop3"), greet=False, timeout=3)
            with late:
                assert late.quiet(1.5) or late.eof(0.1), \
                    "a new session started after SIGTERM"
                assert not late.buf.startswith(b"+OK"), late.buf
        except OSError:
            pass
        # the running session completes normally, deletes included
        assert helpers.stat(c)[0] == len(MSGS)
        c.ok("RETR 1")
        assert c.multi_raw() == stuffed(MSGS[0])
        c.ok("DELE 1")
        c.ok("QUIT")
    d.proc.wait(20)
    assert d.proc.returncode == 0
    assert not os.path.exists(d.pid_file)
    d.stop()


# -- the log -----------------------------------------------------------------------------

def test_no_secrets_in_log(daemon, ctx, mailbox):
    d = daemon(trusted_networks="127.0.0.0/8")
    user, pw = mailbox()
    wrong = "Wr0ng-Guess-417"
    with Pop3("127.0.0.1", d.port("pop3")) as c:
        c.login(user, pw)
        c.ok("QUIT")
    with Pop3("127.0.0.1", d.port("pop3")) as c:
        c.ok("USER " + user)
        assert c.cmd("PASS " + wrong).startswith(b"-ERR")
    with Pop3("127.0.0.1", d.port("pop3")) as c:
        assert c.cmd("AUTH PLAIN " + helpers.plain_ir(user, wrong)) \
            .startswith(b"-ERR")
        assert c.cmd("AUTH PLAIN " + helpers.plain_ir(user, pw)) \
            .startswith(b"+OK")
        c.ok("QUIT")
    d.stop()
    log = d.log_text()
    for secret in (pw, wrong, helpers.plain_ir(user, pw),
                   helpers.plain_ir(user, wrong)):
        assert secret not in log, "secret %r in the log" % secret
