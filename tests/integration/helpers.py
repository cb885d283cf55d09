"""Helpers shared by the Postern integration tests.

Pop3 is a deliberately small POP3 client over a raw socket: unlike poplib it
keeps the exact bytes the server sent, so the tests can check CRLF line ends,
dot-stuffing and the terminating ".\\r\\n".  Every socket has a timeout so a
server that hangs fails the test instead of blocking it.
"""

import base64
import hashlib
import hmac
import os
import poplib
import re
import socket
import ssl
import subprocess
import shutil
import time

TIMEOUT = 15            # seconds for any single socket operation
MAX_STATUS_LINE = 512   # RFC 2449 section 4, CRLF included


def run(argv, **kw):
    kw.setdefault("timeout", 120)
    kw.setdefault("capture_output", True)
    return subprocess.run(argv, **kw)


class ServerClosed(Exception):
    """The server closed the connection while a reply was expected."""


class Pop3:
    def __init__(self, host, port, tls=None, server_hostname="localhost",
                 source=None, timeout=TIMEOUT, greet=True):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            if source:
                sock.bind((source, 0))
            sock.connect((host, port))
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=server_hostname)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.buf = b""
        self.greeting = self.status() if greet else None

    # -- context manager ------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    # -- sending --------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        """Sends one command line, returns the status line."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.status()

    # -- receiving ------------------------------------------------------
    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ServerClosed("server closed the connection")
        self.buf += data

    def line(self):
        """Returns one CRLF-terminated line without its CRLF."""
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                assert b"\n" not in line, "bare LF in reply line %r" % line
                return line
            if len(self.buf) > 1 << 22:
                raise AssertionError("reply line without CRLF")
            self._fill()

    def status(self):
        """Reads a status line and checks RFC 2449 shape and length."""
        line = self.line()
        assert line.startswith((b"+OK", b"-ERR", b"+ ")) or line == b"+", \
            "bad status line %r" % line
        if not line.startswith(b"+ "):
            assert len(line) + 2 <= MAX_STATUS_LINE, "status line too long"
        return line

    def multi_raw(self):
        """Returns the raw body of a multi-line reply, terminator included."""
        while True:
            if self.buf.startswith(b".\r\n"):
                end = 3
                break
            i = self.buf.find(b"\r\n.\r\n")
            if i >= 0:
                end = i + 5
                break
            self._fill()
        raw, self.buf = self.buf[:end], self.buf[end:]
        return raw

    def multi(self):
        """Returns the lines of a multi-line reply, un-stuffed."""
        return unstuff(self.multi_raw())

    def ok(self, line):
        """Sends a command that must succeed; returns the status line."""
        resp = self.cmd(line)
        assert resp.startswith(b"+OK"), "%s -> %r" % (line, resp)
        return resp

    def err(self, line):
        resp = self.cmd(line)
        assert resp.startswith(b"-ERR"), "%r -> %r (expected -ERR)" % (
            line, resp)
        return resp

    def capa(self):
        self.ok("CAPA")
        return parse_capa(self.multi())

    def login(self, user, password):
        self.ok("USER " + user)
        return self.ok("PASS " + password)

    def starttls(self, ctx, server_hostname="localhost"):
        self.ok("STLS")
        assert self.buf == b"", "data after STLS reply: %r" % self.buf
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)

    def eof(self, timeout=5):
        """True if the server closes within timeout (pending data is
        returned through self.buf)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except socket.timeout:
            return False
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            return True
        finally:
            self.sock.settimeout(TIMEOUT)

    def quiet(self, timeout=1.0):
        """True if the server sends nothing for timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(TIMEOUT)
        self.buf += data
        return False


def unstuff(raw):
    assert raw.endswith(b".\r\n"), raw[-20:]
    lines = raw[:-3].split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for line in lines:
        assert b"\n" not in line, "bare LF inside multi-line reply"
        if line.startswith(b"."):
            assert line.startswith(b".."), "unstuffed dot line %r" % line
            line = line[1:]
        out.append(line)
    return out


def parse_capa(lines):
    caps = {}
    for line in lines:
        parts = line.decode().split()
        caps[parts[0].upper()] = parts[1:]
    return caps


def tls_client_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


# -- poplib wrappers -------------------------------------------------------

def pop3s(port, ctx, timeout=TIMEOUT):
    return poplib.POP3_SSL("localhost", port, context=ctx, timeout=timeout)


def pop3(port, timeout=TIMEOUT, host="localhost"):
    return poplib.POP3(host, port, timeout=timeout)


def login_retry(connect, user, password, deadline=10):
    """Logs in with poplib, retrying while the maildrop is still [IN-USE]
    (the previous session's worker may need a moment to notice a dropped
    connection).  Returns the logged-in poplib object."""
    end = time.monotonic() + deadline
    while True:
        p = connect()
        try:
            p.user(user)
            p.pass_(password)
            return p
        except poplib.error_proto as e:
            p.close()
            if b"[IN-USE]" not in e.args[0] or time.monotonic() > end:
                raise
        time.sleep(0.2)


# -- SASL ------------------------------------------------------------------

def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def plain_ir(user, password, authzid=""):
    return b64("%s\0%s\0%s" % (authzid, user, password))


def _saslname(name):
    return name.replace("=", "=3D").replace(",", "=2C")


def scram_login(conn, mech, user, password, initial=False, cbind=None,
                gs2flag=None):
    """Runs SCRAM-SHA-1/-256[-PLUS] (RFC 5802/7677) over AUTH.
    cbind = (cb-name, cb-data) for a -PLUS mechanism; gs2flag overrides
    the GS2 flag ("n", "y" or "p=NAME").  Returns (final status line,
    server signature verified)."""
    hname = "sha256" if mech.upper().startswith("SCRAM-SHA-256") else "sha1"
    cnonce = b64(os.urandom(18))
    if gs2flag is None:
        gs2flag = "p=" + cbind[0] if cbind else "n"
    gs2 = gs2flag + ",,"
    cbdata = gs2.encode() + (cbind[1] if cbind else b"")
    cfirst_bare = "n=%s,r=%s" % (_saslname(user), cnonce)
    if initial:
        resp = conn.cmd("AUTH %s %s" % (mech, b64(gs2 + cfirst_bare)))
    else:
        resp = conn.cmd("AUTH " + mech)
        if not resp.startswith(b"+ ") and resp != b"+":
            return resp, False
        resp = conn.cmd(b64(gs2 + cfirst_bare))
    if not resp.startswith(b"+ "):
        return resp, False
    sfirst = base64.b64decode(resp[2:], validate=True).decode()
    attrs = dict(kv.split("=", 1) for kv in sfirst.split(","))
    assert attrs["r"].startswith(cnonce), "server nonce lost client part"
    assert len(attrs["r"]) > len(cnonce), "server added no nonce"
    salt = base64.b64decode(attrs["s"])
    iters = int(attrs["i"])
    assert iters >= 4096, "iteration count %d below RFC 7677" % iters
    salted = hashlib.pbkdf2_hmac(hname, password.encode(), salt, iters)
    ckey = hmac.new(salted, b"Client Key", hname).digest()
    stored = hashlib.new(hname, ckey).digest()
    cfinal_bare = "c=%s,r=%s" % (b64(cbdata), attrs["r"])
    authmsg = ",".join([cfirst_bare, sfirst, cfinal_bare]).encode()
    csig = hmac.new(stored, authmsg, hname).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, csig))
    resp = conn.cmd(b64(cfinal_bare + ",p=" + b64(proof)))
    if not resp.startswith(b"+ "):
        return resp, False
    sfinal = base64.b64decode(resp[2:], validate=True).decode()
    skey = hmac.new(salted, b"Server Key", hname).digest()
    ssig = hmac.new(skey, authmsg, hname).digest()
    verified = sfinal == "v=" + b64(ssig)
    return conn.cmd(""), verified


class PyOpenSSLSocket:
    """Just enough of a socket over a pyOpenSSL connection for Pop3, so a
    test can read the TLS exporter (RFC 9266), which the ssl module lacks.
    Timeouts come from SO_RCVTIMEO/SO_SNDTIMEO on a blocking socket."""

    def __init__(self, host, port, cafile, server_hostname="localhost",
                 timeout=TIMEOUT):
        import struct
        from OpenSSL import SSL
        self.SSL = SSL
        raw = socket.create_connection((host, port), timeout)
        raw.settimeout(None)
        tv = struct.pack("ll", timeout, 0)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        ctx.load_verify_locations(cafile)
        ctx.set_verify(SSL.VERIFY_PEER, lambda *a: a[-1])
        conn = SSL.Connection(ctx, raw)
        conn.set_tlsext_host_name(server_hostname.encode())
        conn.set_connect_state()
        conn.do_handshake()
        self.raw, self.conn = raw, conn

    def exporter(self):
        return self.conn.export_keying_material(b"EXPORTER-Channel-Binding",
                                                32)

    def version(self):
        return self.conn.get_protocol_version_name()

    def recv(self, n):
        try:
            return self.conn.recv(n)
        except self.SSL.ZeroReturnError:
            return b""
        except self.SSL.SysCallError as e:
            if e.args[0] in (-1, 0):
                return b""
            raise

    def sendall(self, data):
        self.conn.sendall(data)

    def settimeout(self, t):
        import struct
        sec = int(t if t else 0)
        usec = int(((t or 0) - sec) * 1e6)
        tv = struct.pack("ll", sec, usec)
        self.raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)

    def getsockname(self):
        return self.raw.getsockname()

    def setsockopt(self, *a):
        self.raw.setsockopt(*a)

    def close(self):
        self.raw.close()


def pyopenssl_pop3(port, cafile):
    """A Pop3 over PyOpenSSLSocket on an implicit-TLS port."""
    sock = PyOpenSSLSocket("127.0.0.1", port, cafile)
    c = Pop3.__new__(Pop3)
    c.sock, c.buf = sock, b""
    c.greeting = c.status()
    return c


# -- the test mail corpus --------------------------------------------------

def _big_message():
    head = (b"From: Big <big@example.org>\nTo: alice@example.org\n"
            b"Subject: about one megabyte\nMessage-ID: <big@postern.test>\n\n")
    body = []
    for i in range(13800):
        if i % 100 == 0:
            body.append(b".line %05d starts with a dot" % i)
        else:
            body.append(b"line %05d " % i + b"abcdefghijklmnopqrstuvwxyz" * 2
                        + b"0123456789-")
    return head + b"\n".join(body) + b"\n"


def corpus():
    """The standard maildrop: LF line ends as stored in a maildir."""
    return [
        b"From: Bob <bob@example.org>\nTo: alice@example.org\n"
        b"Subject: hello\nMessage-ID: <m1@postern.test>\n\n"
        b"Hello Alice.\nThis is a short message.\nSecond line.\n"
        b"Third line.\n",

        b"From: Bob <bob@example.org>\nSubject: dots\n"
        b"Message-ID: <m2@postern.test>\n\n"
        b".\n..\n.leading dot\n...three dots\nnot a dot line\n. \n.\nend\n",

        b"From: Carol <carol@example.org>\nSubject: no final newline\n"
        b"Message-ID: <m3@postern.test>\n\nfirst line\n"
        b"last line without newline",

        _big_message(),

        b"From: Dave <dave@example.org>\nSubject: empty body\n"
        b"Message-ID: <m5@postern.test>\n\n",
    ]


def message_lines(msg):
    """The lines a client sees for msg (un-stuffed, without CRLF)."""
    lines = msg.split(b"\n")
    if msg.endswith(b"\n"):
        lines.pop()
    return lines


def crlf(msg):
    """msg as it travels: CRLF line ends, a final CRLF always present."""
    return b"".join(line + b"\r\n" for line in message_lines(msg))


def stuffed(msg):
    """The exact bytes of a RETR body for msg, terminator included."""
    out = []
    for line in message_lines(msg):
        out.append((b"." + line if line.startswith(b".") else line) + b"\r\n")
    return b"".join(out) + b".\r\n"


def top_lines(msg, n):
    lines = message_lines(msg)
    sep = lines.index(b"")
    return lines[:sep + 1 + n]


def message_id(lines_or_bytes):
    if isinstance(lines_or_bytes, bytes):
        lines_or_bytes = message_lines(lines_or_bytes)
    for line in lines_or_bytes:
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip()
    return None


def parse_listing(lines):
    """'n value' lines of LIST/UIDL into {n: value}."""
    out = {}
    for line in lines:
        n, value = line.split(b" ", 1)
        assert int(n) not in out, "duplicate message number %r" % n
        out[int(n)] = value
    return out


UIDL_RE = re.compile(rb"^[\x21-\x7e]{1,70}$")


# -- /proc -----------------------------------------------------------------

def proc_status(pid):
    """Fields of /proc/PID/status, or None if the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def start_time(pid):
    """Start time from /proc/PID/stat (tells a reused pid apart)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid, started):
    st = start_time(pid)
    if st is None or st != started:
        return False
    status = proc_status(pid)
    return status is not None and not status.get("State", "").startswith("Z")


def children(ppid):
    """Live (non-zombie) processes whose parent is ppid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        status = proc_status(int(name))
        if status is None or status.get("PPid") != str(ppid):
            continue
        if status.get("State", "").startswith("Z"):
            continue
        out.append(int(name))
    return sorted(out)


def uids(pid):
    return [int(x) for x in proc_status(pid)["Uid"].split()]


def _socket_inodes(pid):
    inodes = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except (FileNotFoundError, PermissionError):
        return inodes
    for fd in fds:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(int(m.group(1)))
    return inodes


def _tcp_inode(server_port, client_port):
    """Inode of the server side of the TCP connection server_port <->
    client_port, from /proc/net/tcp and tcp6."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for row in f:
                fields = row.split()
                lport = int(fields[1].rsplit(":", 1)[1], 16)
                rport = int(fields[2].rsplit(":", 1)[1], 16)
                if lport == server_port and rport == client_port:
                    return int(fields[9])
    return None


def worker_for(master, server_port, client_port, deadline=5):
    """The worker (child of master) that owns the server side of the
    connection from client_port."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        inode = _tcp_inode(server_port, client_port)
        if inode:
            owners = [p for p in children(master) if inode in _socket_inodes(p)]
            if len(owners) == 1:
                return owners[0]
            assert len(owners) <= 1, "connection shared by %r" % owners
        time.sleep(0.1)
    raise AssertionError("no worker of %d owns the connection from port %d"
                         % (master, client_port))


def ipv6_usable():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def wait_for(predicate, deadline=10, interval=0.1, what="condition"):
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


def tls_session(port, ctx, user, password, deadline=10):
    """A raw Pop3 on an implicit-TLS port, logged in (retrying [IN-USE]
    for a moment, as a dropped session may still be winding down)."""
    end = time.monotonic() + deadline
    while True:
        c = Pop3("127.0.0.1", port, tls=ctx)
        c.ok("USER " + user)
        resp = c.cmd("PASS " + password)
        if resp.startswith(b"+OK"):
            return c
        c.close()
        assert b"[IN-USE]" in resp and time.monotonic() < end, \
            "login of %s failed: %r" % (user, resp)
        time.sleep(0.2)


def stat(conn):
    resp = conn.ok("STAT")
    parts = resp.split()
    return int(parts[1]), int(parts[2])


def listing(conn, command):
    conn.ok(command)
    return parse_listing(conn.multi())


# -- tools and the build under test -------------------------------------------

def need(tool):
    """Fails (never skips) when a tool the suite relies on is missing."""
    import pytest
    if not shutil.which(tool):
        pytest.fail("%s is not installed (.ci/run installs it)" % tool)


def ok(r):
    """A subprocess result that must have succeeded, with its output if not."""
    assert r.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (
        r.returncode, r.stdout.decode(errors="replace")[-3000:],
        r.stderr.decode(errors="replace")[-3000:])
    return r


def make_vars(build, *names):
    """Variables (KRB5_CFLAGS, PST_SAN_CFLAGS, ...) from the build's
    Makefile, so test helpers compile with the flags of the build under
    test, sanitizers included."""
    out = dict.fromkeys(names, "")
    with open(os.path.join(build, "Makefile")) as f:
        for line in f:
            name, sep, value = line.partition(" = ")
            if sep and name in out:
                out[name] = value.strip()
    return out


def ids_by_uid(c):
    """{UIDL: Message-ID} of the whole maildrop, via TOP n 0."""
    out = {}
    for n, uid in listing(c, "UIDL").items():
        c.ok("TOP %d 0" % n)
        out[uid] = message_id(c.multi())
    return out
