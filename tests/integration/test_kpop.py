"""KPOP (issue 5): Kerberos 5 sendauth before the POP3 greeting.

Two layers, both against the throwaway realm of kdc.py:

* component: kpop_harness.c drives sasl/kpop.c's kpop_handshake() on its
  own (built with the build's sanitizer flags, linked with its
  libpsasl.a), fed by the real libkrb5 client (kpop_client.c:
  krb5_sendauth, or a bare AP-REQ for hand-made framing);
* the daemon: a `listen = kpop` listener, driven by the same client and by
  the real `fetchmail --protocol KPOP` on port 1109 (PROTOCOLS.md 1.3:
  fetchmail resolves the service name "kpop", which Debian's
  /etc/services lacks, so it runs in a mount namespace with a patched
  copy bind-mounted over /etc/services).
"""

import os
import re
import select
import socket
import struct
import subprocess
import time

import pytest

import helpers
from helpers import need
from conftest import BUILD, IS_ROOT, REPO, SANITIZER_RE, free_port
from helpers import Pop3, corpus, message_id, run
from kdc import REALM, kdc, krb_daemon  # noqa: F401 (fixtures)

HERE = os.path.dirname(os.path.abspath(__file__))
MSGS = corpus()
KPOP_PORT = 1109        # fetchmail sends PASS only when the service is "kpop"
SENDAUTH = b"KRB5_SENDAUTH_V1.0\0"
APPL = b"KPOPV1.0\0"
KRB_ERROR_TAG = 0x7e    # [APPLICATION 30]: a KRB-ERROR
AP_REP_TAG = 0x6f       # [APPLICATION 15]: an AP-REP
QUICK = 5               # seconds within which a bad client must be dropped


def msg(data):
    return struct.pack(">I", len(data)) + data


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        data = sock.recv(n - len(out))
        if not data:
            raise helpers.ServerClosed("closed after %d of %d bytes"
                                       % (len(out), n))
        out += data
    return out


def read_msg(sock):
    (n,) = struct.unpack(">I", recv_exact(sock, 4))
    assert n < 1 << 16, "server sent a %d-byte message" % n
    return recv_exact(sock, n)


def drip(sock, data, gap):
    """Sends data a byte at a time, each after waiting up to gap seconds
    for the peer to close; returns the seconds taken until it did (or
    until every byte was sent)."""
    start = time.monotonic()
    for b in data:
        try:
            sock.sendall(bytes([b]))
        except OSError:
            break
        if closed_within(sock, gap):
            break
    return time.monotonic() - start


def closed_within(sock, seconds):
    """True if the peer closes within seconds (any bytes are discarded)."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(4096):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True


# -- building the C helpers ------------------------------------------------------

def make_vars():
    return helpers.make_vars(
        BUILD, "KRB5_CFLAGS", "KRB5_LIBS", "OPENSSL_LIBS",
        "PST_SAN_CFLAGS", "PST_STD_CFLAGS")


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    need("gcc")
    v = make_vars()
    lib = os.path.join(BUILD, "sasl", "libpsasl.a")
    common = os.path.join(BUILD, "common", "libcommon.a")
    for path in (lib, common):
        if not os.path.exists(path):
            pytest.fail("%s not built (POSTERN_BUILD=%s)" % (path, BUILD))
    d = str(tmp_path_factory.mktemp("kpop-tools"))
    os.chmod(d, 0o755)
    client, harness = os.path.join(d, "kpop_client"), os.path.join(d,
                                                                   "harness")
    steps = [
        ["gcc", *v["PST_STD_CFLAGS"].split(), "-Wall", "-Wextra", "-Werror",
         *v["PST_SAN_CFLAGS"].split(), *v["KRB5_CFLAGS"].split(),
         "-o", client, os.path.join(HERE, "kpop_client.c"),
         *v["KRB5_LIBS"].split()],
        ["gcc", *v["PST_STD_CFLAGS"].split(), "-Wall", "-Wextra", "-Werror",
         *v["PST_SAN_CFLAGS"].split(), "-I" + REPO, "-I" + BUILD,
         *v["KRB5_CFLAGS"].split(), "-o", harness,
         os.path.join(HERE, "kpop_harness.c"), lib, common,
         *v["KRB5_LIBS"].split(), *v["OPENSSL_LIBS"].split()],
    ]
    for argv in steps:
        r = run(argv)
        assert r.returncode == 0, "%s\n%s" % (" ".join(argv),
                                             r.stderr.decode())
    return {"client": client, "harness": harness}


def sendauth(tools, kdc, ccache, sock, service="pop"):
    """krb5_sendauth on sock; returns the client's one-line verdict."""
    fd = sock.fileno()
    timeout = sock.gettimeout()
    sock.settimeout(None)       # libkrb5 wants a blocking socket
    r = run([tools["client"], "sendauth", str(fd), service, "localhost"],
            pass_fds=[fd], env=kdc.client_env(ccache),
            timeout=60)
    sock.settimeout(timeout)
    assert not SANITIZER_RE.search(r.stderr.decode(errors="replace")), \
        r.stderr.decode(errors="replace")
    return r.stdout.decode(errors="replace").strip()


def apreq(tools, kdc, ccache, path, service="pop", cached=False):
    argv = [tools["client"], "apreq", service, "localhost", path]
    r = run(argv + (["cached"] if cached else []),
            env=kdc.client_env(ccache))
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")
    with open(path, "rb") as f:
        return f.read()


# -- the component: kpop_handshake() alone ---------------------------------------------

class Harness:
    def __init__(self, tools, kdc, keytab, realms=REALM, timeout_ms=10000,
                 rcache=None, strict=False):
        self.rcache = rcache or kdc.rcache_dir
        self.proc = subprocess.Popen(
            [tools["harness"], keytab, "pop", realms, self.rcache,
             str(timeout_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=kdc.client_env(
                kdc.path("unused-ccache"), strict=strict))
        self.buf = b""
        self.port = int(self.line().split()[1])

    def line(self, timeout=20):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            assert left > 0, "harness said nothing for %d s" % timeout
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                data = os.read(self.proc.stdout.fileno(), 4096)
                assert data, "harness died: %s" % self.stderr()
                self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace")

    def result(self):
        """("ok", principal, user) or ("fail", reason) for the next
        connection, and how long the handshake took in ms."""
        words = self.line().split(" ", 2)
        return words[0], int(words[1]), words[2] if len(words) > 2 else ""

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=15)

    def stderr(self):
        return self.proc.stderr.read().decode(errors="replace")

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("kpop_harness ignored the end of its input")
        err = self.stderr()
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert self.proc.returncode == 0, err
        assert not SANITIZER_RE.search(err), err


@pytest.fixture
def harness(tools, kdc):
    """Factory: harness(keytab=pop keytab, **options) -> a started
    Harness, stopped (LeakSanitizer runs then) at teardown."""
    made = []

    def make(keytab=None, **kw):
        h = Harness(tools, kdc, keytab or kdc.pop_keytab, **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()


def test_handshake_accepts_alice(tools, kdc, harness):
    h = harness()
    cc = kdc.kinit("alice")
    with h.connect() as s:
        assert sendauth(tools, kdc, cc, s) == "ok"
        # the 0-length answer and the AP-REP went to the client library,
        # the harness' greeting is the next thing on the wire
        assert recv_exact(s, 18) == b"+OK kpop harness\r\n"
        assert closed_within(s, QUICK)
    verdict, _, rest = h.result()
    assert (verdict, rest) == ("ok", "alice@%s alice" % REALM)


def test_host_ticket_is_refused(tools, kdc, harness):
    """The keytab holds host/localhost too, so the ticket decrypts: it
    must be refused for its name (PROTOCOLS.md 1.4)."""
    h = harness(keytab=kdc.shared_keytab)
    cc = kdc.kinit("alice")
    with h.connect() as s:
        verdict = sendauth(tools, kdc, cc, s, service="host")
        assert verdict.startswith("error: "), verdict
        assert closed_within(s, QUICK)
    v, _, reason = h.result()
    assert v == "fail" and "does not match server principal" in reason, reason
    # and the same keytab still accepts pop/
    with h.connect() as s:
        assert sendauth(tools, kdc, cc, s) == "ok"
    assert h.result()[0] == "ok"


def test_instance_principal_is_refused(tools, kdc, harness):
    h = harness()
    cc = kdc.kinit("alice/admin")
    with h.connect() as s:
        verdict = sendauth(tools, kdc, cc, s)
        assert verdict.startswith("error: ") and "not allowed" in verdict, \
            verdict
    v, _, reason = h.result()
    assert v == "fail" and "alice/admin@" in reason, reason


def test_realm_not_listed_is_refused(tools, kdc, harness):
    h = harness(realms="OTHER.TEST ELSEWHERE.TEST")
    cc = kdc.kinit("alice")
    with h.connect() as s:
        assert sendauth(tools, kdc, cc, s).startswith("error: ")
    assert h.result()[0] == "fail"


def test_missing_keytab_is_an_error_not_a_crash(tools, kdc, harness):
    h = harness(keytab=kdc.path("no-such.keytab"))
    cc = kdc.kinit("alice")
    with h.connect() as s:
        assert sendauth(tools, kdc, cc, s).startswith("error: ")
    assert h.result()[0] == "fail"


def framed_login(sock, ap_req):
    """Hand-made sendauth: returns (status byte, first answer message)."""
    sock.sendall(msg(SENDAUTH) + msg(APPL))
    status = recv_exact(sock, 1)[0]
    sock.sendall(msg(ap_req))
    return status, read_msg(sock)


def test_replayed_ap_req_is_refused(tools, kdc, harness, tmp_path):
    h = harness()
    cc = kdc.kinit("alice")
    req = apreq(tools, kdc, cc, str(tmp_path / "apreq"))
    with h.connect() as s:
        status, answer = framed_login(s, req)
        assert (status, answer) == (0, b"")
        assert read_msg(s)[0] == AP_REP_TAG
        assert recv_exact(s, 18) == b"+OK kpop harness\r\n"
    assert h.result()[0] == "ok"
    with h.connect() as s:
        status, answer = framed_login(s, req)
        assert status == 0 and answer[0] == KRB_ERROR_TAG, answer
        assert closed_within(s, QUICK)
    v, _, reason = h.result()
    assert v == "fail" and "eplay" in reason, reason


def test_expired_ticket_is_refused(tools, kdc, harness, tmp_path):
    """An AP-REQ built from a service ticket that has expired: the server
    (with a 1 s clock skew) must refuse it."""
    h = harness(strict=True)
    cc = kdc.kinit("alice", lifetime="3s")
    kdc.kvno("pop/localhost", cc)
    time.sleep(5)
    req = apreq(tools, kdc, cc, str(tmp_path / "apreq"), cached=True)
    with h.connect() as s:
        status, answer = framed_login(s, req)
        assert status == 0 and answer[0] == KRB_ERROR_TAG, answer
    v, _, reason = h.result()
    assert v == "fail" and "xpired" in reason, reason


@pytest.mark.parametrize("first,second,status", [
    (b"KRB5_SENDAUTH_V2.0\0", APPL, 1),
    (SENDAUTH[:-1], APPL, 1),           # the NUL belongs to the string
    (SENDAUTH, b"KPOPV0.1\0", 2),       # Kerberos 4 KPOP
    (SENDAUTH, b"", 2),
])
def test_bad_versions_are_answered_and_refused(harness, first, second,
                                               status):
    h = harness()
    with h.connect() as s:
        s.sendall(msg(first) + msg(second))
        assert recv_exact(s, 1)[0] == status
        assert closed_within(s, QUICK)
    assert h.result()[0] == "fail"


@pytest.mark.parametrize("garbage", [
    b"CAPA\r\n",                        # a POP3 client on the wrong port
    b"\x7f\xff\xff\xff",                # a 2 GiB length
    b"\xff\xff\xff\xffxyz",
    b"\x00\x01\x00\x01" + b"x" * 100,   # 65537: just over the cap
])
def test_oversized_or_garbage_length_is_dropped_quickly(harness, garbage):
    h = harness(timeout_ms=30000)
    with h.connect() as s:
        s.sendall(garbage)
        start = time.monotonic()
        assert closed_within(s, QUICK)
        assert time.monotonic() - start < QUICK
    v, ms, reason = h.result()
    assert v == "fail" and "length" in reason and ms < 1000, (ms, reason)


@pytest.mark.parametrize("ap_req", [
    b"", b"\x6e", b"\x6e\x82\xff\xff" + b"\0" * 64, os.urandom(3000),
])
def test_garbage_ap_req_gets_a_krb_error(harness, ap_req):
    h = harness()
    with h.connect() as s:
        status, answer = framed_login(s, ap_req)
        assert status == 0 and answer[0] == KRB_ERROR_TAG
        assert closed_within(s, QUICK)
    assert h.result()[0] == "fail"


def test_truncated_message_and_early_close(harness):
    h = harness()
    with h.connect() as s:
        s.sendall(msg(SENDAUTH) + msg(APPL))
        assert recv_exact(s, 1) == b"\0"
        s.sendall(struct.pack(">I", 500) + b"x" * 20)
        s.shutdown(socket.SHUT_WR)
        assert closed_within(s, QUICK)
    v, _, reason = h.result()
    assert v == "fail" and "closed" in reason, reason


def test_silent_client_hits_the_deadline(harness):
    h = harness(timeout_ms=1500)
    with h.connect() as s:
        start = time.monotonic()
        assert closed_within(s, 10)
        took = time.monotonic() - start
    assert 1.2 < took < 5, took
    v, ms, reason = h.result()
    assert v == "fail" and "timed out" in reason and 1400 <= ms < 3000


def test_one_deadline_for_the_whole_handshake(harness):
    """A client that sends one byte now and then never gets a fresh
    timeout per read: the whole handshake has one deadline."""
    h = harness(timeout_ms=1500)
    data = msg(SENDAUTH) + msg(APPL)
    with h.connect() as s:
        took = drip(s, data, 0.25)
    assert took < 3, took
    v, ms, reason = h.result()
    assert v == "fail" and "timed out" in reason and ms < 3000


# -- the daemon: a kpop listener ------------------------------------------------------

@pytest.fixture
def kpop_daemon(krb_daemon):
    """Factory: kpop_daemon(port=free, **settings) -> a started daemon
    with pop3, pop3s and a kpop listener (its port in d.kpop_port)."""
    def make(port=None, **kw):
        port = port or free_port()
        d = krb_daemon(listeners=[("pop3", "127.0.0.1", free_port()),
                                  ("pop3s", "127.0.0.1", free_port()),
                                  ("kpop", "127.0.0.1", port)], **kw)
        d.kpop_port = port
        time.sleep(0.3)     # the startup probes have been served
        if "sendauth is not available" in d.log_text():
            pytest.fail("the kpop listener is not wired into the session "
                        "yet (daemon/session.c):\n" + d.log_tail(20))
        return d
    return make


def kpop_session(tools, kdc, ccache, port, service="pop"):
    """Connects to a kpop listener, runs sendauth with the real client
    library, and returns (verdict, Pop3 positioned after the greeting or
    None)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    verdict = sendauth(tools, kdc, ccache, sock, service=service)
    if verdict != "ok":
        sock.close()
        return verdict, None
    c = Pop3.__new__(Pop3)      # the socket is already connected
    c.sock, c.buf = sock, b""
    c.greeting = c.status()
    assert c.greeting.startswith(b"+OK"), c.greeting
    return verdict, c


def test_kpop_login_and_stat(tools, kdc, kpop_daemon):
    d = kpop_daemon()
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), d.kpop_port)
    assert verdict == "ok"
    with c:
        c.ok("USER alice")
        c.ok("PASS krb_ticket")
        assert helpers.stat(c)[0] == len(MSGS)
        c.ok("QUIT")
    assert re.search(r"login user=alice mech=KPOP", d.log_text()), \
        d.log_tail(20)


def test_kpop_with_another_default_realm(tools, kdc, kpop_daemon):
    """Only the keytab and krb5_realms matter, not the daemon's default
    realm."""
    d = kpop_daemon(conf="foreign")
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), d.kpop_port)
    assert verdict == "ok"
    with c:
        c.ok("USER alice")
        c.ok("PASS krb_ticket")


def test_kpop_realm_not_listed_is_refused(tools, kdc, kpop_daemon):
    d = kpop_daemon(krb5_realms="ELSEWHERE.TEST")
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), d.kpop_port)
    assert c is None and "not allowed" in verdict, verdict


def test_kpop_capa_and_auth_refused(tools, kdc, kpop_daemon):
    d = kpop_daemon()
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), d.kpop_port)
    assert verdict == "ok"
    with c:
        caps = c.capa()
        assert "USER" in caps and "STLS" in caps
        assert "SASL" not in caps
        c.err("AUTH PLAIN " + helpers.plain_ir("alice", "x"))
        c.err("AUTH GSSAPI")
        c.ok("USER alice")
        c.ok("PASS anything-at-all")


def test_kpop_stls_after_handshake(tools, kdc, kpop_daemon, ctx):
    d = kpop_daemon()
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), d.kpop_port)
    assert verdict == "ok"
    with c:
        c.starttls(ctx)
        assert "STLS" not in c.capa()
        c.ok("USER alice")
        c.ok("PASS krb_ticket")
        assert helpers.stat(c)[0] == len(MSGS)
        c.ok("QUIT")


def test_kpop_ticket_for_another_user_is_refused(tools, kdc, kpop_daemon,
                                                 mailbox):
    """alice's ticket does not open another user's maildrop."""
    victim, _ = mailbox()
    d = kpop_daemon()
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), d.kpop_port)
    assert verdict == "ok"
    with c:
        resp = c.cmd("USER " + victim)
        if resp.startswith(b"+OK"):
            resp = c.cmd("PASS krb_ticket")
        assert resp.startswith(b"-ERR"), resp
        c.err("PASS krb_ticket")
    assert len(env_messages(d, victim)) == len(MSGS)


def env_messages(d, user):
    return d.env.stored_messages(user)


def test_kpop_host_ticket_is_refused(tools, kdc, kpop_daemon):
    d = kpop_daemon(krb5_keytab=kdc.shared_keytab)
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), d.kpop_port,
                              service="host")
    assert c is None and verdict.startswith("error: "), verdict
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), d.kpop_port)
    assert verdict == "ok"
    c.close()


def test_kpop_replay_is_refused_by_the_worker(tools, kdc, kpop_daemon,
                                              tmp_path):
    """The replay cache lives in state_dir and works for the unprivileged
    workers, across workers."""
    d = kpop_daemon()
    cc = kdc.kinit("alice")
    req = apreq(tools, kdc, cc, str(tmp_path / "apreq"))
    with socket.create_connection(("127.0.0.1", d.kpop_port), 15) as s:
        assert framed_login(s, req) == (0, b"")
        assert read_msg(s)[0] == AP_REP_TAG
        assert recv_exact(s, 3) == b"+OK"
    with socket.create_connection(("127.0.0.1", d.kpop_port), 15) as s:
        status, answer = framed_login(s, req)
        assert status == 0 and answer[0] == KRB_ERROR_TAG, answer
        assert closed_within(s, QUICK)


@pytest.mark.parametrize("garbage", [b"CAPA\r\n", b"\x7f\xff\xff\xff"])
def test_kpop_garbage_is_dropped_and_daemon_serves(tools, kdc, kpop_daemon,
                                                   garbage):
    d = kpop_daemon()
    with socket.create_connection(("127.0.0.1", d.kpop_port), 15) as s:
        s.sendall(garbage)
        assert closed_within(s, QUICK)
    verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"), d.kpop_port)
    assert verdict == "ok"
    with c:
        c.ok("USER alice")
        c.ok("PASS krb_ticket")


def test_kpop_silent_client_does_not_block_others(tools, kdc, kpop_daemon):
    """Clients that connect and say nothing hold no one up, and are
    dropped at handshake_timeout."""
    d = kpop_daemon(handshake_timeout="2")
    silent = [socket.create_connection(("127.0.0.1", d.kpop_port), 15)
              for _ in range(3)]
    start = time.monotonic()
    try:
        verdict, c = kpop_session(tools, kdc, kdc.kinit("alice"),
                                  d.kpop_port)
        assert verdict == "ok"
        with c:
            c.ok("USER alice")
            c.ok("PASS krb_ticket")
            c.ok("QUIT")
        for s in silent:
            assert closed_within(s, 10)
        took = time.monotonic() - start
        assert 1.5 < took < 8, took
    finally:
        for s in silent:
            s.close()
    assert d.log_text().count("KPOP handshake failed: handshake timed out") \
        >= 3, d.log_tail(20)


def test_kpop_slow_drip_hits_the_deadline(kpop_daemon):
    """One byte now and then does not reset the deadline."""
    d = kpop_daemon(handshake_timeout="2")
    data = msg(SENDAUTH) + msg(APPL)
    with socket.create_connection(("127.0.0.1", d.kpop_port), 15) as s:
        took = drip(s, data, 0.3)
    assert took < 5, took


def test_sendauth_to_a_pop3_port_fails_cleanly(tools, kdc, krb_daemon):
    """A client set to `auth kerberos_v5` on port 110 sends sendauth
    bytes at a server that greets first (PROTOCOLS.md 1.3): it must fail,
    and the daemon must go on serving."""
    d = krb_daemon()
    cc = kdc.kinit("alice")
    with socket.create_connection(("127.0.0.1", d.port("pop3")), 15) as s:
        verdict = sendauth(tools, kdc, cc, s)
    assert verdict != "ok"
    with Pop3("127.0.0.1", d.port("pop3")) as c:
        c.capa()


# -- the real fetchmail --protocol KPOP on 1109 --------------------------------------

@pytest.fixture
def kpop_1109(kpop_daemon):
    if not IS_ROOT:
        pytest.skip("needs root for the mount namespace (unshare --mount)")
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", KPOP_PORT))
    except OSError as e:
        pytest.skip("port %d is busy (%s): fetchmail's KPOP needs exactly "
                    "that port" % (KPOP_PORT, e))
    return kpop_daemon(port=KPOP_PORT)


def services_with_kpop(work):
    path = os.path.join(work, "services")
    with open("/etc/services") as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text + "\nkpop\t\t1109/tcp\t\t\t# Postern tests\n")
    return path


def fetchmail_kpop(env, kdc, ccache, work, user, tls):
    need("fetchmail")
    need("unshare")
    mda = os.path.join(work, "deliver.sh")
    with open(mda, "w") as f:
        f.write('cat >> "%s/out"\nprintf "\\nEND-OF-MESSAGE\\n" >> "%s/out"\n'
                % (work, work))
    ssl = ("sslcertfile %s sslcertck" % env.ca if tls
           else "sslproto ''")
    rc = os.path.join(work, "fetchmailrc")
    with open(rc, "w") as f:
        f.write("poll localhost protocol kpop auth kerberos_v5\n"
                "  user %s is root here\n"
                "  %s\n"
                "  mda \"/bin/sh %s\"\n" % (user, ssl, mda))
    os.chmod(rc, 0o600)
    e = kdc.client_env(ccache, base=env.client_env())
    e["FETCHMAILHOME"] = work
    argv = ["unshare", "--mount", "sh", "-c",
            'mount --bind "$0" /etc/services && exec "$@"',
            services_with_kpop(work),
            "fetchmail", "-v", "-N", "--nosyslog", "-f", rc,
            "-i", os.path.join(work, "fetchids"),
            "--pidfile", os.path.join(work, "fetchmail.pid")]
    return run(argv, env=e, cwd=work)


def out_of(work):
    try:
        with open(os.path.join(work, "out"), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "stls"])
def test_fetchmail_kpop_fetches_and_deletes(kpop_1109, env, kdc, mailbox,
                                            tmp_path, tls):
    user, pw = mailbox()
    kdc.add_user(user, pw)
    work = str(tmp_path)
    r = fetchmail_kpop(env, kdc, kdc.kinit(user), work, user, tls)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0, out[-4000:] + kpop_1109.log_tail(30)
    assert "PASS krb_ticket" in out or "PASS *" in out, out[-3000:]
    assert ("POP3> STLS" in out) == tls, out[-3000:]
    data = out_of(work)
    assert data.count(b"END-OF-MESSAGE") == len(MSGS)
    for m in MSGS:
        assert message_id(m) in data
    assert env.stored_messages(user) == []
    assert re.search(r"login user=%s mech=KPOP" % user,
                     kpop_1109.log_text()), kpop_1109.log_tail(20)


def test_fetchmail_kpop_wrong_user_fails(kpop_1109, env, kdc, mailbox,
                                         tmp_path):
    """alice's ticket, another user's maildrop: refused, nothing moves."""
    victim, _ = mailbox()
    work = str(tmp_path)
    r = fetchmail_kpop(env, kdc, kdc.kinit("alice"), work, victim, False)
    assert r.returncode not in (0, 1), (r.stdout + r.stderr).decode()[-3000:]
    assert out_of(work) == b""
    assert len(env.stored_messages(victim)) == len(MSGS)
