"""Several hosts on one store (issue #7): two posternd, each in a network
namespace of its own with its own config, pid file and state, share one
users file and one maildir tree, as hosts on one NFS export would; then
HAProxy balances clients over them with the PROXY protocol.

Each host has a private /24 of its own (two of 10.77.0.0/16, chosen by
pid so that concurrent runs keep apart): the host is .2 of it, and the
root namespace, where the clients and HAProxy run, reaches it from .1.
Host A's .9 is a second root-side address: a client that is not the
balancer.
"""

import collections
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import helpers
import netns
from conftest import (Daemon, IS_ROOT, POSTERN, POSTERND, RUNNING,
                      SERVICE_GID, SERVICE_UID, START_DEADLINE, free_port,
                      stop_all)
from helpers import Pop3, corpus, crlf, ids_by_uid, message_id

MSGS = corpus()
PORT = 110
CLIENT, OTHER = "127.0.0.5", "127.0.0.6"
INDEX = "postern.index"                 # daemon/maildrop_index.h
# What posternd logs when a maildrop's index is unusable or unsaved
# (maildrop_index.c, maildrop.c).
INDEX_TROUBLE = re.compile(r"postern\.index ignored|index not saved|"
                           r"left out|not removed")


# -- hosts -------------------------------------------------------------------

@pytest.fixture(scope="module")
def network():
    if not IS_ROOT:
        pytest.skip("network namespaces need root")
    helpers.need("ip")
    netns.remove_stale()
    made = []
    k = os.getpid() % 120 * 2
    try:
        made.append(netns.Netns("a", "10.77.%d" % k, extra=(9,)).create())
        made.append(netns.Netns("b", "10.77.%d" % (k + 1)).create())
        yield made
    finally:
        for ns in made:
            ns.delete()


class NsDaemon(Daemon):
    """A posternd -f inside a namespace: one host, listening on PORT."""

    def __init__(self, env, name, ns, **settings):
        self.ns = ns
        super().__init__(env, name, listeners=[("pop3", ns.inner, PORT)],
                         **settings)

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self.ns.argv([POSTERND, "-f", "-c", self.config]),
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
            start_new_session=True)
        self.pid = self.proc.pid
        RUNNING.append(self)
        end = time.monotonic() + START_DEADLINE
        while not netns.listening(self.pid, self.ns.inner, PORT):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop(check=False)
                pytest.fail("posternd %s did not come up\n%s"
                            % (self.name, self.log_tail()))
            time.sleep(0.05)
        return self

    def kill_9(self):
        """The whole host dies at once: SIGKILL to the master's process
        group, which holds its workers; returns when none is left."""
        victims = [(p, helpers.start_time(p)) for p in [self.pid]
                   + self.workers()]
        os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._forget()
        helpers.wait_for(lambda: not any(helpers.alive(*v) for v in victims),
                         10, what="every process of %s to die" % self.name)

    def served(self, client, port, since=0):
        """The session id of the connection from client:port, if this
        host served it through the balancer (logged after since)."""
        m = re.search(r"session (\S+): client %s port %d via load balancer "
                      r"%s$" % (re.escape(client), port,
                                re.escape(self.ns.outer)),
                      self.log_text()[since:], re.M)
        return m and m.group(1)


@pytest.fixture
def hosts(env, users, network, request):
    """Factory: hosts(**settings) -> (A, B), started unless start=False,
    stopped at teardown.  hosts.direct: the root namespace's addresses."""
    made = []

    def make(start=True, **settings):
        for ns in network:
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", "%s-%s" % (
                request.node.name, ns.name[len(netns.PREFIX)]))
            made.append(NsDaemon(env, name, ns, **settings))
            if start:
                made[-1].start()
        return made

    make.direct = ", ".join(ns.outer + "/32" for ns in network)
    yield make
    stop_all(made)


def login(host, user, pw, source=None):
    c = Pop3(host.ns.inner, PORT, source=source)
    c.ok("USER " + user)
    return c, c.cmd("PASS " + pw)


def session(host, user, pw, deadline=10):
    """A logged-in Pop3 on host, once a session that just ended (on
    either host) has let go of the maildrop."""
    end = time.monotonic() + deadline
    while True:
        c, reply = login(host, user, pw)
        if reply.startswith(b"+OK"):
            return c
        c.close()
        assert reply.startswith(b"-ERR [IN-USE]") and \
            time.monotonic() < end, reply
        time.sleep(0.1)


# -- one store, two hosts -----------------------------------------------------

def test_in_use_across_hosts(hosts, mailbox):
    a, b = hosts(trusted_networks=hosts.direct)
    user, pw = mailbox()
    for first, second in ((a, b), (b, a)):
        with session(first, user, pw) as holder:
            c, reply = login(second, user, pw)
            assert reply.startswith(b"-ERR [IN-USE]"), reply
            c.close()
            holder.ok("QUIT")


def test_delete_on_one_host_seen_on_the_other(hosts, mailbox):
    a, b = hosts(trusted_networks=hosts.direct)
    user, pw = mailbox()
    with session(a, user, pw) as c:
        before = ids_by_uid(c)
        c.ok("DELE 2")
        c.ok("QUIT")
    with session(b, user, pw) as c:
        assert helpers.stat(c) == (len(MSGS) - 1, sum(
            len(crlf(m)) for m in MSGS) - len(crlf(MSGS[1])))
        after = ids_by_uid(c)
        c.ok("DELE 1")
        c.ok("QUIT")
    assert after == {u: m for u, m in before.items()
                     if m != message_id(MSGS[1])}
    with session(a, user, pw) as c:
        assert ids_by_uid(c) == {u: m for u, m in after.items()
                                 if m != message_id(MSGS[0])}
        c.ok("QUIT")


def test_host_killed_mid_session_loses_nothing(hosts, env, mailbox):
    """Host A dies (kill -9, master and workers) after DELE, before QUIT:
    nothing is deleted, and its lock goes with it, so host B serves the
    user at once."""
    a, b = hosts(trusted_networks=hosts.direct)
    user, pw = mailbox()
    c = session(a, user, pw)
    with c:
        uids = helpers.listing(c, "UIDL")
        for n in uids:
            c.ok("DELE %d" % n)
        a.kill_9()
        d, reply = login(b, user, pw)           # no retry: at once
        with d:
            assert reply.startswith(b"+OK"), reply
            assert helpers.listing(d, "UIDL") == uids
            d.ok("QUIT")
    assert sorted(env.stored_messages(user)) == sorted(MSGS)


# -- delivery while sessions move between hosts -------------------------------

class Deliverer(threading.Thread):
    """A delivery agent: writes in tmp/, renames into new/, while fewer
    than ahead() messages have been delivered."""

    def __init__(self, maildir, ahead):
        super().__init__(daemon=True)
        self.maildir, self.ahead = maildir, ahead
        self.sent = {}              # Message-ID -> bytes
        self.stop = threading.Event()
        self.error = None

    def message(self, n):
        body = b"".join(b"line %d of %d\n" % (i, n) for i in range(n % 40))
        msg = (b"From: mh@example.org\nSubject: %d\nMessage-ID: <mh%d@x>\n\n"
               % (n, n) + body + b"..dot\n")
        return msg[:-1] if n % 3 == 0 else msg  # some without a final LF

    def deliver(self, n):
        now = time.time()
        name = "%d.M%dP%dQ%d.mh-test" % (now, int(now * 1e6) % 1000000,
                                         os.getpid(), n)
        msg = self.message(n)
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(msg)
        os.chown(tmp, SERVICE_UID, SERVICE_GID)
        self.sent[b"<mh%d@x>" % n] = msg       # known before it is seen
        os.rename(tmp, os.path.join(self.maildir, "new", name))

    def run(self):
        try:
            n = 0
            while not self.stop.is_set():
                if n < self.ahead():
                    self.deliver(n)
                    n += 1
                time.sleep(random.random() * 0.004)
        except BaseException as e:
            self.error = e


class Ledger:
    """What the sessions saw, shared by the client threads."""

    def __init__(self, deliverer):
        self.lock = threading.Lock()
        self.deliverer = deliverer
        self.uid_of = {}            # Message-ID -> UIDL
        self.mid_of = {}            # UIDL -> Message-ID
        self.deleted = set()        # Message-IDs, once QUIT said +OK
        self.sessions = collections.Counter()
        self.done = 0               # sessions, for the deliverer to read
        self.in_use = 0

    def learn(self, uid, mid, size):
        assert helpers.UIDL_RE.match(uid), uid
        assert mid in self.deliverer.sent, "unknown message %r" % mid
        assert size == len(crlf(self.deliverer.sent[mid])), (mid, size)
        assert mid not in self.deleted, "%r came back after QUIT" % mid
        with self.lock:
            assert self.uid_of.setdefault(mid, uid) == uid, \
                "%r changed UIDL: %r -> %r" % (mid, self.uid_of[mid], uid)
            assert self.mid_of.setdefault(uid, mid) == mid, \
                "UIDL %r names %r and %r" % (uid, self.mid_of[uid], mid)


def one_session(host, user, pw, ledger, rng):
    """Login, STAT/LIST/UIDL, learn the new messages, delete a few, QUIT.
    Returns False when the maildrop was [IN-USE].  SCRAM, because PASS
    would spend most of the test hashing passwords."""
    with Pop3(host.ns.inner, PORT) as c:
        reply, verified = helpers.scram_login(c, "SCRAM-SHA-256", user, pw)
        if reply.startswith(b"-ERR [IN-USE]"):
            return False
        assert reply.startswith(b"+OK") and verified, reply
        count, octets = helpers.stat(c)
        sizes = {n: int(v) for n, v in helpers.listing(c, "LIST").items()}
        uids = helpers.listing(c, "UIDL")
        assert len(sizes) == count and sum(sizes.values()) == octets
        assert sorted(uids) == sorted(sizes)
        for n, uid in uids.items():
            mid = ledger.mid_of.get(uid)
            if mid is None:
                c.ok("TOP %d 0" % n)
                mid = message_id(c.multi())
            ledger.learn(uid, mid, sizes[n])
        doomed = rng.sample(sorted(uids), min(len(uids), rng.randint(0, 2)))
        for n in doomed:
            c.ok("TOP %d 0" % n)        # the message its UIDL always named
            assert message_id(c.multi()) == ledger.mid_of[uids[n]]
            c.ok("DELE %d" % n)
        c.ok("QUIT")
        with ledger.lock:
            ledger.deleted.update(ledger.mid_of[uids[n]] for n in doomed)
            ledger.sessions[host.name] += 1
            ledger.done += 1
    return True


def run_sessions(host, user, pw, ledger, rounds, seed):
    rng = random.Random(seed)
    done = 0
    while done < rounds:
        if one_session(host, user, pw, ledger, rng):
            done += 1
        else:
            with ledger.lock:
                ledger.in_use += 1
            time.sleep(rng.random() * 0.01)


def check_index(maildir):
    """postern.index (format in daemon/maildrop_index.h) lists exactly
    the files of cur/: base name, inode and CRLF size."""
    with open(os.path.join(maildir, INDEX), "rb") as f:
        lines = f.read().decode().split("\n")
    assert lines.pop() == "", "index does not end in LF"
    head = lines.pop(0).split(" ")
    assert head[:2] == ["postern-index", "2"] and int(head[2]) == len(lines)
    records = {tuple(line.split("\t")[:3]) for line in lines}
    files = set()
    for name in os.listdir(os.path.join(maildir, "cur")):
        path = os.path.join(maildir, "cur", name)
        with open(path, "rb") as f:
            size = len(crlf(f.read()))
        files.add((name.split(":")[0], str(os.stat(path).st_ino), str(size)))
    assert records == files


def test_delivery_while_sessions_alternate_hosts(hosts, env, mailbox):
    rounds = 150                        # per host
    a, b = hosts(trusted_networks=hosts.direct)
    user, pw = mailbox([])
    maildir = env.maildir(user)
    deliverer = Deliverer(maildir, lambda: 10 + 2 * ledger.done)
    ledger = Ledger(deliverer)
    deliverer.start()
    try:
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(run_sessions, h, user, pw, ledger, rounds, i)
                    for i, h in enumerate((a, b))]
            for r in runs:
                r.result()
    finally:
        deliverer.stop.set()
        deliverer.join(10)
    assert deliverer.error is None, deliverer.error
    assert ledger.sessions == {a.name: rounds, b.name: rounds}
    assert ledger.in_use > 0, "the hosts never competed for the maildrop"

    # One last session moves the last deliveries into cur/ ...
    with session(a, user, pw) as c:
        sizes = helpers.listing(c, "LIST")
        listed = {}                 # Message-ID -> (UIDL, octets)
        for n, uid in helpers.listing(c, "UIDL").items():
            c.ok("TOP %d 0" % n)
            listed[message_id(c.multi())] = (uid, int(sizes[n]))
        stored = collections.defaultdict(list)
        for sub in ("new", "cur"):
            for name in os.listdir(os.path.join(maildir, sub)):
                with open(os.path.join(maildir, sub, name), "rb") as f:
                    msg = f.read()
                stored[message_id(msg)].append(msg)
        c.ok("QUIT")
    # ... where every message not deleted is, once, as delivered ...
    alive = set(deliverer.sent) - ledger.deleted
    assert set(stored) == alive and set(listed) == alive
    assert not [m for m, v in stored.items() if len(v) > 1], "duplicated"
    # ... listed with its exact octets and the UIDL it always had ...
    for mid, (uid, octets) in listed.items():
        assert stored[mid] == [deliverer.sent[mid]], mid
        assert octets == len(crlf(deliverer.sent[mid])), mid
        assert ledger.uid_of.get(mid, uid) == uid, mid
    # ... and the index never went bad.
    check_index(maildir)
    for h in (a, b):
        trouble = INDEX_TROUBLE.search(h.log_text())
        assert trouble is None, "%s: %s" % (h.name, trouble.group(0))


# -- behind HAProxy -------------------------------------------------------------

HAPROXY_CONF = """global
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend pop3
    bind 127.0.0.1:{port}
    default_backend hosts
backend hosts
    balance roundrobin
    server a {a.inner}:{backend} {send} source {a.outer}
    server b {b.inner}:{backend} {send} source {b.outer}
"""


@pytest.fixture
def balancer():
    """Factory: balancer(a, b, send) -> HAProxy's port, in front of a and b
    with send-proxy or send-proxy-v2; stopped by pid at teardown."""
    helpers.need("haproxy")
    procs = []

    def start(a, b, send):
        port = free_port()
        conf = os.path.join(a.dir, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write(HAPROXY_CONF.format(port=port, a=a.ns, b=b.ns, send=send,
                                        backend=PORT))
        with open(os.path.join(a.dir, "haproxy.log"), "ab") as log:
            procs.append(subprocess.Popen(
                ["haproxy", "-db", "-f", conf], stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True))
        helpers.wait_for(lambda: procs[-1].poll() is not None or
                         netns.listening(procs[-1].pid, "127.0.0.1", port),
                         10, what="haproxy to listen")
        assert procs[-1].poll() is None, "haproxy exited"
        return port

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


class AuditSink:
    """Stands in for syslog: the datagrams posternd sends to audit_socket
    (audit.c), each parsed into its SD parameters."""

    PARAM = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)           # the workers run as nobody
        self.sock.setblocking(False)
        self.events = []

    def find(self, **want):
        def match():
            while True:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    break
                self.events.append(dict(self.PARAM.findall(data.decode())))
            return [e for e in self.events
                    if all(e.get(k) == v for k, v in want.items())]
        return helpers.wait_for(match, 10, what="audit event %r" % want)

    def close(self):
        self.sock.close()
        os.unlink(self.path)


@pytest.fixture
def balanced_hosts(hosts):
    """A and B behind a balancer; only CLIENT may log in without TLS.
    Each host's audit events go to an AuditSink (host.audit)."""
    sinks = []
    a, b = hosts(proxy_networks=hosts.direct, trusted_networks=CLIENT + "/32",
                 throttle_failures="0", start=False)
    for h in (a, b):
        sinks.append(AuditSink(os.path.join(h.dir, "audit.sock")))
        h.audit = sinks[-1]
        h.write_config(audit_socket=h.audit.path)
        h.start()
    yield a, b
    try:
        stop_all((a, b))            # before their audit sockets go
    finally:
        for s in sinks:
            s.close()


def served_by(marks, client, port):
    """(host, session id) of the one host that served client:port since
    marks ({host: log length})."""
    def find():
        return [(h, h.served(client, port, at)) for h, at in marks.items()
                if h.served(client, port, at)]
    found = helpers.wait_for(find, 10, what="%s port %d in a host's log"
                             % (client, port))
    assert len(found) == 1, "served twice: %r" % found
    return found[0]


@pytest.mark.parametrize("send", ["send-proxy", "send-proxy-v2"])
def test_behind_haproxy(balanced_hosts, balancer, mailbox, send):
    a, b = balanced_hosts
    port = balancer(a, b, send)

    def connect(source):
        marks = {h: len(h.log_text()) for h in (a, b)}
        c = Pop3("127.0.0.1", port, source=source)
        c.lport = c.local_port
        return c, served_by(marks, source, c.lport)

    # Roundrobin: two logins, one on each host, each logged and audited
    # with the real client's address and port.
    served = set()
    for _ in range(2):
        user, pw = mailbox()
        c, (host, sid) = connect(CLIENT)
        with c:
            c.login(user, pw)
            c.ok("QUIT")
        served.add(host)
        assert re.search(r"session %s: login user=%s " % (sid, user),
                         host.log_text()), host.log_tail()
        host.audit.find(event="auth", result="ok", login=user, client=CLIENT,
                        client_port=str(c.lport), via=host.ns.outer)
    assert served == {a, b}

    # Policy judges the real client: OTHER is not trusted, on either host.
    refused = set()
    for _ in range(2):
        c, (host, _) = connect(OTHER)
        with c:
            reply = c.cmd("USER " + user)
            assert reply.startswith(b"-ERR [AUTH]") and b"TLS" in reply, reply
        refused.add(host)
    assert refused == {a, b}

    # One maildrop, one session, whichever host the balancer picks.
    user, pw = mailbox()
    holder, (first, _) = connect(CLIENT)
    with holder:
        holder.login(user, pw)
        out = helpers.ok(helpers.run([POSTERN, "-c", first.config,
                                      "status"]))
        rows = [l for l in out.stdout.decode().splitlines()
                if " transaction " in l]
        assert len(rows) == 1 and CLIENT in rows[0] and user in rows[0], rows
        c, (second, _) = connect(CLIENT)
        with c:
            c.ok("USER " + user)
            reply = c.cmd("PASS " + pw)
        assert second is not first
        assert reply.startswith(b"-ERR [IN-USE]"), reply
        holder.ok("QUIT")


def test_proxy_header_from_other_address_is_not_trusted(balanced_hosts):
    """Only the balancer's header is read: one from another address is a
    bad command, and the connection keeps its real (untrusted) address."""
    a, _ = balanced_hosts
    stranger = a.ns.extra[0]
    with Pop3(a.ns.inner, PORT, source=stranger) as c:
        lport = c.local_port
        c.err("PROXY TCP4 %s %s 40000 %d" % (CLIENT, a.ns.inner, PORT))
        reply = c.cmd("USER alice")
        assert reply.startswith(b"-ERR [AUTH]") and b"TLS" in reply, reply
    log = a.log_text()
    assert "connect from %s port %d" % (stranger, lport) in log
    assert "client %s port 40000" % CLIENT not in log
