"""TLS session resumption across workers: the SSL_CTX, and with it the
session-ticket keys, is made once by the master before the workers fork,
so a ticket one worker issued is good at any other (issue 2). After a
SIGHUP the master makes a new context: old tickets then fall back to a
full handshake, which must still work."""

import signal
import socket
import ssl
import time

import pytest

import helpers


def handshake(port, ctx, session=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=15)
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    # Reading the greeting also reads the TLS 1.3 tickets sent after the
    # handshake: only then does s.session carry one.
    greeting = s.recv(512)
    assert greeting.startswith(b"+OK"), greeting
    return s


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_resumption_on_another_worker(daemon, env, version):
    d = daemon(min_spare_workers="4")
    d.wait_workers(4)
    ctx = helpers.tls_client_context(env.ca)
    ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion,
                                                        version)
    port = d.port("pop3s")
    first = handshake(port, ctx)
    assert not first.session_reused
    # The first connection stays open: its worker is busy, so the next
    # ones are served by others.
    seconds = []
    try:
        for _ in range(3):
            s = handshake(port, ctx, first.session)
            seconds.append(s)
            assert s.session_reused, version
        workers = {helpers.worker_for(d.pid, port, s.getsockname()[1])
                   for s in [first] + seconds}
        assert len(workers) == 4
    finally:
        for s in [first] + seconds:
            s.close()


def test_old_ticket_after_reload_gets_a_full_handshake(daemon, env):
    d = daemon()
    ctx = helpers.tls_client_context(env.ca)
    port = d.port("pop3s")
    s = handshake(port, ctx)
    session = s.session
    s.close()
    d.signal(signal.SIGHUP)
    end = time.monotonic() + 15
    while True:
        s = handshake(port, ctx, session)
        reused = s.session_reused
        s.close()
        if not reused:
            break
        # an old-generation worker may still take a connection for a while
        assert time.monotonic() < end, "tickets survive the reload"
        time.sleep(0.2)
