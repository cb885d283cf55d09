"""Limits and front-door policy: PROXY protocol from configured load
balancers, auth-failure throttling shared by workers, sessions per client
address, login timeout, LOGIN-DELAY, EXPIRE 0, and `postern status`."""

import base64
import os
import re
import signal
import socket
import struct
import subprocess
import time

import pytest

import helpers
from conftest import POSTERN

TRUSTED = "127.0.0.0/8"
BALANCER = "127.0.0.2"      # the "load balancer" is a second loopback address


def connect(port, source=None, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    return s


def read_line(s):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def command(s, line):
    s.sendall(line.encode() + b"\r\n")
    return read_line(s)


def login(port, user, password, source=None):
    s = connect(port, source)
    greeting = read_line(s)
    assert greeting.startswith(b"+OK"), greeting
    assert command(s, "USER " + user).startswith(b"+OK")
    return s, command(s, "PASS " + password)


def proxy_v2(src, sport, dst, dport):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return sig + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def closed_silently(s, timeout=10):
    """True when the server closes without sending a byte (a reset counts:
    closing with unread input resets)."""
    s.settimeout(timeout)
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True


# -- PROXY protocol ------------------------------------------------------------

@pytest.fixture
def balanced(daemon):
    """Trusts loopback for cleartext, except that the balancer's clients
    are judged by the address the balancer reports."""
    return daemon(proxy_networks=BALANCER + "/32", trusted_networks="127.0.0.1/32",
                  handshake_timeout="2", throttle_failures="0")


def test_proxy_v1_real_client_decides_policy(balanced, mailbox):
    user, pw = mailbox()
    port = balanced.port("pop3")
    # The balancer forwards a client from a trusted address: cleartext ok.
    s = connect(port, BALANCER)
    s.sendall(b"PROXY TCP4 127.0.0.1 127.0.0.1 40000 %d\r\n" % port)
    assert read_line(s).startswith(b"+OK")
    assert command(s, "USER " + user).startswith(b"+OK")
    assert command(s, "PASS " + pw).startswith(b"+OK")
    command(s, "QUIT")
    s.close()
    # ... and one from an untrusted address: TLS required, as for a direct
    # untrusted client, although the balancer itself is on loopback.
    s = connect(port, BALANCER)
    s.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 40001 %d\r\n" % port)
    assert read_line(s).startswith(b"+OK")
    reply = command(s, "USER " + user)
    assert reply.startswith(b"-ERR [AUTH]") and b"TLS" in reply
    s.close()
    helpers.wait_for(lambda: "192.0.2.7" in balanced.log_text(), 5,
                     what="the real client address in the log")


def test_proxy_v2_before_tls(balanced, mailbox, ctx):
    user, pw = mailbox()
    port = balanced.port("pop3s")
    raw = connect(port, BALANCER)
    raw.sendall(proxy_v2("198.51.100.9", 5555, "127.0.0.1", port))
    tls = ctx.wrap_socket(raw, server_hostname="localhost")
    assert read_line(tls).startswith(b"+OK")
    assert command(tls, "USER " + user).startswith(b"+OK")
    assert command(tls, "PASS " + pw).startswith(b"+OK")
    command(tls, "QUIT")
    tls.close()
    helpers.wait_for(lambda: "198.51.100.9" in balanced.log_text(), 5,
                     what="the v2 client address in the log")


def test_proxy_bad_or_missing_header_closes(balanced):
    port = balanced.port("pop3")
    for junk in (b"PROXY TCP4 1.2.3.999 127.0.0.1 1 2\r\n", b"USER alice\r\n",
                 b"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a\x11\x11\x00\x00"):
        s = connect(port, BALANCER)
        s.sendall(junk)
        assert closed_silently(s), junk       # closed, no greeting
        s.close()
    s = connect(port, BALANCER)               # says nothing at all
    start = time.monotonic()
    s.settimeout(15)
    assert s.recv(100) == b""
    assert time.monotonic() - start < 10      # handshake_timeout = 2
    s.close()
    # A direct client never has a header read: PROXY is just a bad command.
    s = connect(port)
    assert read_line(s).startswith(b"+OK")
    assert command(s, "PROXY TCP4 10.0.0.1 10.0.0.2 1 2").startswith(b"-ERR")
    s.close()


# -- throttling -----------------------------------------------------------------

def test_throttle_delays_then_blocks_and_survives_worker_crash(daemon, mailbox):
    d = daemon(trusted_networks=TRUSTED, throttle_failures="2", throttle_delay="1",
               throttle_max_delay="1", throttle_block="4", throttle_cooldown="120",
               min_spare_workers="2")
    user, pw = mailbox()
    other, other_pw = mailbox()
    port = d.port("pop3")
    for attempt in range(4):
        start = time.monotonic()
        s, reply = login(port, user, "wrong", source="127.0.0.9")
        took = time.monotonic() - start
        assert reply.startswith(b"-ERR [AUTH]"), reply
        if attempt in (1, 2):  # failures 2 and 3 come back late; 4 blocks
            assert took >= 0.9, (attempt, took)
        s.close()
    # Blocked now: even the right password of another user is refused
    # without being checked, from that address ...
    s, reply = login(port, other, other_pw, source="127.0.0.9")
    assert reply.startswith(b"-ERR [SYS/TEMP]"), reply
    s.close()
    # ... but not from another address.
    s, reply = login(port, other, other_pw, source="127.0.0.10")
    assert reply.startswith(b"+OK"), reply
    command(s, "QUIT")
    s.close()
    # The counters live in the master's shared memory: killing every worker
    # does not forget them.
    for pid in d.workers():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    d.wait_workers(1)
    s, reply = helpers_retry_login(port, other, other_pw, "127.0.0.9")
    assert reply.startswith(b"-ERR [SYS/TEMP]"), reply
    s.close()


def auth_plain(port, user, password, source):
    s = connect(port, source)
    assert read_line(s).startswith(b"+OK")
    ir = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
    return s, command(s, "AUTH PLAIN " + ir.decode())


def test_throttle_counts_sasl_failures_per_claimed_user(daemon, mailbox):
    """An attacker cycling addresses against one user through AUTH: each
    address fails once (below the per-address limit), yet the user is
    blocked, right password included, while other users are not."""
    d = daemon(trusted_networks=TRUSTED, throttle_failures="2",
               throttle_delay="0", throttle_max_delay="0", throttle_block="3",
               throttle_cooldown="120")
    user, pw = mailbox()
    other, other_pw = mailbox()
    port = d.port("pop3")
    for n in range(3):
        s, reply = auth_plain(port, user, "wrong", "127.0.0.%d" % (21 + n))
        assert reply.startswith(b"-ERR [AUTH]"), reply
        s.close()
    s, reply = auth_plain(port, user, pw, "127.0.0.30")
    assert reply.startswith(b"-ERR [SYS/TEMP]"), reply
    s.close()
    s, reply = auth_plain(port, other, other_pw, "127.0.0.30")
    assert reply.startswith(b"+OK"), reply
    s.close()
    assert ('auth failed mech=PLAIN user="%s"' % user) in d.log_text()


def helpers_retry_login(port, user, pw, source):
    """Logs in once the pool has recovered from a kill (connections may be
    reset while workers respawn)."""
    end = time.monotonic() + 10
    while True:
        try:
            return login(port, user, pw, source)
        except (OSError, AssertionError):
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


# -- per-address limit and login timeout ------------------------------------------

def test_max_sessions_per_ip(daemon):
    d = daemon(max_sessions_per_ip="2", min_spare_workers="4",
               max_spare_workers="6")
    port = d.port("pop3")
    held = [connect(port, "127.0.0.20") for _ in range(2)]
    for s in held:
        assert read_line(s).startswith(b"+OK")
    third = connect(port, "127.0.0.20")
    assert read_line(third).startswith(b"-ERR [SYS/TEMP]")
    assert third.recv(10) == b""
    other = connect(port, "127.0.0.21")       # another address is unaffected
    assert read_line(other).startswith(b"+OK")
    # On 995 the client expects a TLS handshake: no POP3 line, just closed.
    tls_third = connect(d.port("pop3s"), "127.0.0.20")
    assert closed_silently(tls_third)
    for s in held + [third, other, tls_third]:
        s.close()


def test_login_timeout(daemon):
    d = daemon(login_timeout="5")
    s = connect(d.port("pop3"))
    assert read_line(s).startswith(b"+OK")
    start = time.monotonic()
    s.settimeout(20)
    assert s.recv(100) == b""                 # autologout: no reply, closed
    assert 4 < time.monotonic() - start < 20
    s.close()


# -- LOGIN-DELAY and EXPIRE 0 ---------------------------------------------------------

def test_login_delay(daemon, mailbox):
    d = daemon(trusted_networks=TRUSTED, login_delay="60", throttle_failures="0")
    user, pw = mailbox()
    p = helpers.pop3(d.port("pop3"))
    assert p.capa()["LOGIN-DELAY"] == ["60"]
    p.user(user)
    p.pass_(pw)
    p.quit()
    s, reply = login(d.port("pop3"), user, pw)
    assert reply.startswith(b"-ERR [LOGIN-DELAY]"), reply
    s.close()


def test_expire_zero_removes_retrieved(daemon, mailbox):
    d = daemon(trusted_networks=TRUSTED, expire_days="0", throttle_failures="0")
    user, pw = mailbox()
    p = helpers.pop3(d.port("pop3"))
    assert p.capa()["EXPIRE"] == ["0"]
    p.user(user)
    p.pass_(pw)
    count, _ = p.stat()
    first_uidl = p.uidl(1).split()[2]
    p.retr(1)
    p.quit()
    p = helpers.login_retry(lambda: helpers.pop3(d.port("pop3")), user, pw)
    assert p.stat()[0] == count - 1
    assert first_uidl not in [l.split()[1] for l in p.uidl()[1]]
    p.quit()
    # Without QUIT nothing goes, EXPIRE 0 or not.
    p = helpers.login_retry(lambda: helpers.pop3(d.port("pop3")), user, pw)
    p.retr(1)
    p.close()
    p = helpers.login_retry(lambda: helpers.pop3(d.port("pop3")), user, pw)
    assert p.stat()[0] == count - 1
    p.quit()


# -- postern status ---------------------------------------------------------------------

def test_status_shows_sessions(daemon, mailbox):
    d = daemon(trusted_networks=TRUSTED, throttle_failures="0")
    user, pw = mailbox()
    s, reply = login(d.port("pop3"), user, pw)
    assert reply.startswith(b"+OK")
    out = subprocess.run([POSTERN, "-c", d.config, "status"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "master pid %d: running" % d.pid in out.stdout
    rows = [l for l in out.stdout.splitlines() if " transaction " in l]
    assert len(rows) == 1 and user in rows[0] and "127.0.0.1" in rows[0]
    assert "idle" in out.stdout
    command(s, "QUIT")
    s.close()


# -- a huge message goes out in bounded memory ------------------------------------

def wire_form(stored):
    """RFC 1939 §3: CRLF line ends (one added after a last line without
    LF) and dot-stuffing, then the terminator."""
    text = stored.replace(b"\n", b"\r\n")
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", text) + b".\r\n"


def test_huge_message_streams_in_bounded_memory(daemon, env, mailbox):
    """A 40 MB message, with 25 MB of short lines (a third dot-stuffed)
    and one 16 MB line without a line end: RETR sends it exactly, with the
    octet count announced, and the worker's peak memory grows by far less
    than the message (it streams; nothing holds the whole message)."""
    huge = (b"Subject: huge\n\n" + b".dotted\nplain line\nx\n" * 1000000 +
            b"y" * (16 << 20))
    user, pw = mailbox([huge])
    d = daemon(trusted_networks=TRUSTED)
    s, reply = login(d.port("pop3"), user, pw)
    assert reply.startswith(b"+OK"), reply
    worker = helpers.worker_for(d.pid, d.port("pop3"), s.getsockname()[1])
    before = int(helpers.proc_status(worker)["VmHWM"].split()[0])
    want = wire_form(huge)
    assert command(s, "LIST 1") == b"+OK 1 %d\r\n" % (len(want) - 3 -
                                                      huge.count(b"\n."))
    s.sendall(b"RETR 1\r\n")
    data = bytearray()
    while not data.endswith(b"\r\n.\r\n"):
        chunk = s.recv(1 << 20)
        assert chunk, "connection closed after %d bytes" % len(data)
        data += chunk
    head, body = bytes(data).split(b"\r\n", 1)
    assert head.startswith(b"+OK")
    assert body == want
    grown = int(helpers.proc_status(worker)["VmHWM"].split()[0]) - before
    assert grown < 8 * 1024, "worker peak memory grew by %d kB" % grown
    assert command(s, "QUIT").startswith(b"+OK")
    s.close()
