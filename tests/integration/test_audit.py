"""The audit trail (postern-audit(7)) through a real syslog-ng.

syslog-ng runs with the shipped packaging/syslog-ng/postern.conf, changed
only in its paths and group, so the snippet the packages install is the
one under test.  posternd sends its events to that snippet's socket, and
the tests read the JSON lines syslog-ng writes, field by field.
"""

import base64
import datetime
import grp
import hashlib
import hmac
import json
import os
import pwd
import shutil
import signal
import ssl
import stat
import subprocess
import time

import pytest

import helpers
from conftest import Daemon, IS_ROOT, REPO, SERVICE_GID
from helpers import Pop3, b64, plain_ir, run

SHIPPED = os.path.join(REPO, "packaging", "syslog-ng", "postern.conf")
SYSLOG_NG = shutil.which("syslog-ng") or "/usr/sbin/syslog-ng"
MSGS = helpers.corpus()
EVENT_DEADLINE = 15      # seconds for an event to reach the JSON file

# Keys every event has (postern-audit(7), "Fields").
ALWAYS = {"time", "host", "program", "pid", "event", "session", "result",
          "listener", "client", "client_port", "local", "local_port"}
TLS = {"tls", "tls_cipher"}


# -- the reference escaping of postern-audit(7) --------------------------------

UNSAFE = (set(range(0x80, 0xa0)) | {0x200e, 0x200f, 0xfeff}
          | set(range(0x2028, 0x202f)) | set(range(0x2066, 0x206a)))
VALUE_MAX = 256


def _char_len(raw, i):
    """Length of the printable UTF-8 character at raw[i], or 0."""
    b = raw[i]
    n = (1 if b < 0x80 else 2 if 0xc2 <= b <= 0xdf else
         3 if 0xe0 <= b <= 0xef else 4 if 0xf0 <= b <= 0xf4 else 0)
    if n == 0:
        return 0
    try:
        ch = raw[i:i + n].decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        return 0
    if len(ch) != 1:
        return 0
    cp = ord(ch)
    if cp < 0x20 or cp == 0x7f or cp in UNSAFE:
        return 0
    return n


def audit_value(raw):
    """A client's bytes as the JSON shows them: printable UTF-8 kept,
    "\\" doubled, every other byte as \\xNN, cut at 256 bytes with "\\..."."""
    out, i = [], 0
    while i < len(raw):
        n = _char_len(raw, i)
        if i + max(n, 1) > VALUE_MAX:
            out.append("\\...")
            break
        if n == 0:
            out.append("\\x%02x" % raw[i])
            i += 1
            continue
        ch = raw[i:i + n].decode()
        out.append("\\\\" if ch == "\\" else ch)
        i += n
    return "".join(out)


def test_reference_escaping():
    assert audit_value(b"alice") == "alice"
    assert audit_value(b'a"b]c\\d') == 'a"b]c\\\\d'
    assert audit_value(b"x\r\n\x1b\x7f") == "x\\x0d\\x0a\\x1b\\x7f"
    assert audit_value("müller".encode()) == "müller"
    assert audit_value(b"\xff\xc3") == "\\xff\\xc3"
    assert audit_value(b"\xe2\x80\xa8") == "\\xe2\\x80\\xa8"
    assert audit_value(b"a" * 300) == "a" * 256 + "\\..."


# -- syslog-ng -----------------------------------------------------------------

def shipped_config(sock, json_path):
    """The shipped snippet with test paths, the service user's group, and
    the @version line the main syslog-ng.conf would supply."""
    with open(SHIPPED) as f:
        text = f.read()
    group = grp.getgrgid(SERVICE_GID).gr_name
    subs = [('"/run/postern-audit/audit.sock"', '"%s"' % sock),
            ('"/var/log/postern/audit.json"', '"%s"' % json_path),
            ('group("postern")', 'group("%s")' % group)]
    if not IS_ROOT:
        me = pwd.getpwuid(os.geteuid()).pw_name
        subs += [('owner("root")', 'owner("%s")' % me),
                 ('group("adm")', 'group("%s")' % group)]
    for old, new in subs:
        assert old in text, "%s no longer holds %s" % (SHIPPED, old)
        text = text.replace(old, new)
    return '@version: 3.38\n@include "scl.conf"\n\n' + text


class SyslogNg:
    """syslog-ng -F with the shipped snippet, in its own directory."""

    def __init__(self, root, name):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "run", "audit.sock")
        self.json = os.path.join(self.dir, "log", "audit.json")
        self.conf = os.path.join(self.dir, "syslog-ng.conf")
        self.pid_file = os.path.join(self.dir, "syslog-ng.pid")
        self.log = os.path.join(self.dir, "syslog-ng.log")
        with open(self.conf, "w") as f:
            f.write(shipped_config(self.sock, self.json))
        self.proc = None

    def start(self):
        if os.path.lexists(self.sock):
            os.unlink(self.sock)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [SYSLOG_NG, "-F", "-f", self.conf,
             "-R", os.path.join(self.dir, "syslog-ng.persist"),
             "-p", self.pid_file,
             "-c", os.path.join(self.dir, "syslog-ng.ctl")],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
            start_new_session=True)
        logf.close()
        end = time.monotonic() + 20
        while not (self._socket_ready() and self._pid() == self.proc.pid):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                pytest.fail("syslog-ng did not start:\n" + self.log_text())
            time.sleep(0.05)
        return self

    def _socket_ready(self):
        try:
            return stat.S_ISSOCK(os.stat(self.sock).st_mode)
        except FileNotFoundError:
            return False

    def _pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return None

    def stop(self):
        """SIGTERM to the pid in the pid file (our child)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            pid = self._pid() or self.proc.pid
            assert pid == self.proc.pid, "pid file names %d" % pid
            os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def lines(self):
        try:
            with open(self.json, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        # only whole lines: syslog-ng may be half-way through one
        return data.split(b"\n")[:-1]

    def mark(self):
        return len(self.lines())

    def events(self, since=0):
        out = []
        for line in self.lines()[since:]:
            ev = json.loads(line)
            assert isinstance(ev, dict), line
            out.append(ev)
        return out

    def wait(self, predicate, since, what, deadline=EVENT_DEADLINE):
        """Events since the mark, once predicate(events) holds."""
        try:
            return helpers.wait_for(
                lambda: (lambda evs: predicate(evs) and evs)(
                    self.events(since)),
                deadline, what=what)
        except AssertionError:
            raise AssertionError("timed out waiting for %s; events:\n%s\n%s"
                                 % (what, "\n".join(
                                     json.dumps(e) for e in
                                     self.events(since)), self.log_text()))


def of_port(events, port):
    return [e for e in events if e.get("client_port") == str(port)]


def connection_events(sng, since, port):
    """Every event of the connection from client port, once it ended."""
    evs = sng.wait(lambda evs: any(e["event"] == "logout"
                                   for e in of_port(evs, port)),
                   since, "logout of the connection from port %d" % port)
    evs = of_port(evs, port)
    assert len({e["session"] for e in evs}) == 1, evs
    return evs


def by_type(events, kind):
    return [e for e in events if e["event"] == kind]


def one(events, kind):
    found = by_type(events, kind)
    assert len(found) == 1, "%d %s events: %r" % (len(found), kind, events)
    return found[0]


def check_common(ev, d, mode, port):
    """The fields every event carries, for a connection to d's listener."""
    assert ALWAYS <= set(ev), "missing %s in %r" % (ALWAYS - set(ev), ev)
    assert ev["program"] == "posternd"
    assert int(ev["pid"]) > 1 and int(ev["pid"]) != d.pid
    assert ev["host"]
    t = datetime.datetime.fromisoformat(ev["time"])
    assert t.utcoffset() == datetime.timedelta(0), ev["time"]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - t).total_seconds()) < 120, ev["time"]
    assert len(ev["session"]) == 16 and int(ev["session"], 16) >= 0
    assert ev["listener"] == "%s 127.0.0.1:%d" % (mode, d.port(mode))
    assert ev["client"] == "127.0.0.1"
    assert ev["client_port"] == str(port)
    assert ev["local"] == "127.0.0.1"
    assert ev["local_port"] == str(d.port(mode))
    assert ev["result"] in ("ok", "fail")


def check_tls(ev, conn):
    name, version, _ = conn.sock.cipher()
    assert ev["tls"] == version
    assert ev["tls_cipher"] == name


def no_secret(events, *secrets):
    text = json.dumps(events)
    for s in secrets:
        assert s not in text, "a secret reached the audit trail"


class CountingPop3(Pop3):
    """Pop3 that counts the bytes of the POP3 stream both ways."""
    sent = 0
    received = 0

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sent += len(data)
        super().send(data)

    def _fill(self):
        before = len(self.buf)
        super()._fill()
        self.received += len(self.buf) - before


# -- fixtures ------------------------------------------------------------------

@pytest.fixture(scope="module")
def sng(env):
    s = SyslogNg(env.root, "syslog-ng-audit").start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def audited(env, users, sng):
    """A daemon that sends its audit trail to sng and trusts 127.0.0.0/8
    with cleartext passwords (so raw USER/PASS works on port 110)."""
    d = Daemon(env, "audit-main", audit_socket=sng.sock,
               trusted_networks="127.0.0.0/8").start()
    yield d
    d.stop()


# -- USER/PASS -----------------------------------------------------------------

def test_user_pass_success(audited, sng, ctx, mailbox):
    user, pw = mailbox()
    mark = sng.mark()
    with CountingPop3("127.0.0.1", audited.port("pop3s"), tls=ctx) as c:
        c.login(user, pw)
        helpers.stat(c)
        c.ok("QUIT")
        assert c.eof()
        port, sent, received = c.local_port, c.sent, c.received
        evs = connection_events(sng, mark, port)
        auth, logout = one(evs, "auth"), one(evs, "logout")
        for ev in evs:
            check_common(ev, audited, "pop3s", port)
            check_tls(ev, c)
    assert [e["event"] for e in evs] == ["auth", "logout"]
    assert set(auth) == ALWAYS | TLS | {"reason", "mech", "login", "authid",
                                        "authzid", "user"}
    assert auth["result"] == "ok" and auth["reason"] == "ok"
    assert auth["mech"] == "USER"
    assert auth["login"] == user and auth["user"] == user
    assert auth["authid"] == user and auth["authzid"] == user
    assert set(logout) == ALWAYS | TLS | {"reason", "mech", "user", "bytes_in",
                                          "bytes_out", "retrieved", "deleted"}
    assert logout["result"] == "ok" and logout["reason"] == "quit"
    assert logout["user"] == user and logout["mech"] == "USER"
    assert logout["session"] == auth["session"]
    assert int(logout["bytes_in"]) == sent
    assert int(logout["bytes_out"]) == received
    assert logout["retrieved"] == "0" and logout["deleted"] == "0"
    no_secret(evs, pw)


def test_user_pass_failure(audited, sng, ctx, alice):
    mark = sng.mark()
    ports = []
    for user in (alice[0], "nosuchuser"):
        with Pop3("127.0.0.1", audited.port("pop3s"), tls=ctx) as c:
            c.ok("USER " + user)
            assert c.cmd("PASS wrong-Secret9").startswith(b"-ERR [AUTH]")
            c.ok("QUIT")
            ports.append((user, c.local_port))
    for user, port in ports:
        evs = connection_events(sng, mark, port)
        auth, logout = one(evs, "auth"), one(evs, "logout")
        check_common(auth, audited, "pop3s", port)
        assert auth["result"] == "fail"
        assert auth["reason"] == "bad-credentials"
        assert auth["mech"] == "USER" and auth["login"] == user
        assert not {"authid", "authzid", "user"} & set(auth), auth
        assert logout["reason"] == "quit" and "user" not in logout
        no_secret(evs, "wrong-Secret9")


def test_session_without_commands_is_audited(audited, sng):
    mark = sng.mark()
    with Pop3("127.0.0.1", audited.port("pop3")) as c:
        port = c.local_port
    logout = one(connection_events(sng, mark, port), "logout")
    check_common(logout, audited, "pop3", port)
    assert logout["result"] == "fail" and logout["reason"] == "disconnect"
    assert not TLS & set(logout)


# -- AUTH PLAIN ----------------------------------------------------------------

def test_auth_plain_success_and_failure(audited, sng, ctx, mailbox):
    user, pw = mailbox()
    mark = sng.mark()
    with Pop3("127.0.0.1", audited.port("pop3s"), tls=ctx) as c:
        assert c.cmd("AUTH PLAIN " + plain_ir(user, "bad-" + pw)) \
            .startswith(b"-ERR [AUTH]")
        c.ok("AUTH PLAIN " + plain_ir(user, pw))
        c.ok("QUIT")
        port = c.local_port
        evs = connection_events(sng, mark, port)
        for ev in evs:
            check_common(ev, audited, "pop3s", port)
            check_tls(ev, c)
    assert [e["event"] for e in evs] == ["auth", "auth", "logout"]
    bad, good, logout = evs
    assert bad["result"] == "fail" and bad["reason"] == "bad-credentials"
    # the identity claimed, unproven: "login", never "user"
    assert bad["mech"] == "PLAIN" and "user" not in bad
    assert bad["login"] == user
    assert good["result"] == "ok" and good["mech"] == "PLAIN"
    assert good["authid"] == user and good["authzid"] == user
    assert good["user"] == user
    assert logout["mech"] == "PLAIN" and logout["user"] == user
    no_secret(evs, pw, b64(pw), plain_ir(user, pw))


# -- SCRAM-SHA-256-PLUS: channel binding --------------------------------------

def scram_plus_login(conn, user, password):
    """SCRAM-SHA-256-PLUS (RFC 5802, 7677) bound with tls-unique, which
    Python's ssl gives on TLS 1.2.  Returns the final status line."""
    cb = conn.sock.get_channel_binding("tls-unique")
    gs2 = "p=tls-unique,,"
    cfirst_bare = "n=%s,r=%s" % (user, b64(os.urandom(18)))
    resp = conn.cmd("AUTH SCRAM-SHA-256-PLUS " + b64(gs2 + cfirst_bare))
    assert resp.startswith(b"+ "), resp
    sfirst = base64.b64decode(resp[2:], validate=True).decode()
    attrs = dict(kv.split("=", 1) for kv in sfirst.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                 base64.b64decode(attrs["s"]), int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", "sha256").digest()
    cfinal_bare = "c=%s,r=%s" % (b64(gs2.encode() + cb), attrs["r"])
    authmsg = ",".join([cfirst_bare, sfirst, cfinal_bare]).encode()
    csig = hmac.new(hashlib.sha256(ckey).digest(), authmsg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(ckey, csig))
    resp = conn.cmd(b64(cfinal_bare + ",p=" + b64(proof)))
    assert resp.startswith(b"+ "), resp
    return conn.cmd("")


def test_scram_plus_channel_binding(audited, sng, env, mailbox):
    user, pw = mailbox()
    ctx12 = helpers.tls_client_context(env.ca)
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    mark = sng.mark()
    with Pop3("127.0.0.1", audited.port("pop3s"), tls=ctx12) as c:
        assert scram_plus_login(c, user, pw).startswith(b"+OK")
        c.ok("QUIT")
        port = c.local_port
        evs = connection_events(sng, mark, port)
        for ev in evs:
            check_common(ev, audited, "pop3s", port)
            check_tls(ev, c)
            assert ev["tls"] == "TLSv1.2"
            assert ev["mech"] == "SCRAM-SHA-256-PLUS"
            assert ev["cbind"] == "tls-unique"
    auth = one(evs, "auth")
    assert auth["result"] == "ok" and auth["user"] == user
    no_secret(evs, pw)


# -- SCRAM-SHA-256 with mpop ---------------------------------------------------

def mpop(env, port, user, pw, workdir):
    if not shutil.which("mpop"):
        pytest.fail("mpop is not installed (.ci/run installs it)")
    return run(["mpop", "--host=localhost", "--port=%d" % port,
                "--tls=on", "--tls-trust-file=" + env.ca,
                "--auth=scram-sha-256", "--user=" + user,
                "--passwordeval=echo " + pw,
                "--delivery=mbox," + os.path.join(workdir, "mbox"),
                "--uidls-file=" + os.path.join(workdir, "uidls"),
                "--keep=on", "--timeout=30"],
               env=env.client_env(), cwd=workdir)


def test_mpop_scram_sha_256(audited, sng, env, tmp_path, mailbox):
    user, pw = mailbox()
    mark = sng.mark()
    r = mpop(env, audited.port("pop3"), user, pw, str(tmp_path))
    assert r.returncode == 0, r.stderr
    evs = sng.wait(lambda evs: by_type(evs, "logout"), mark, "mpop logout")
    port = int(evs[0]["client_port"])
    evs = of_port(evs, port)
    auth, logout = one(evs, "auth"), one(evs, "logout")
    for ev in evs:
        check_common(ev, audited, "pop3", port)
        assert ev["tls"].startswith("TLSv1.") and ev["tls_cipher"]
    assert auth["result"] == "ok" and auth["mech"] == "SCRAM-SHA-256"
    assert auth["authid"] == user and auth["user"] == user
    retrs = by_type(evs, "retr")
    assert len(retrs) == len(MSGS)
    assert all(e["user"] == user and e["mech"] == "SCRAM-SHA-256"
               for e in retrs)
    assert logout["retrieved"] == str(len(MSGS))
    assert logout["reason"] == "quit" and logout["result"] == "ok"
    no_secret(evs, pw)


def test_mpop_scram_sha_256_wrong_password(audited, sng, env, tmp_path,
                                           mailbox):
    user, _ = mailbox()
    mark = sng.mark()
    r = mpop(env, audited.port("pop3"), user, "not-the-Password1",
             str(tmp_path))
    assert r.returncode != 0
    evs = sng.wait(lambda evs: by_type(evs, "logout"), mark, "mpop logout")
    auth = one(evs, "auth")
    check_common(auth, audited, "pop3", int(auth["client_port"]))
    assert auth["result"] == "fail" and auth["reason"] == "bad-credentials"
    assert auth["mech"] == "SCRAM-SHA-256"
    assert "user" not in auth and "authzid" not in auth
    assert auth["login"] == user
    no_secret(evs, "not-the-Password1")


# -- messages ------------------------------------------------------------------

def test_retr_top_dele_quit(audited, sng, mailbox):
    user, pw = mailbox()
    mark = sng.mark()
    with CountingPop3("127.0.0.1", audited.port("pop3")) as c:
        c.login(user, pw)
        uidls = helpers.listing(c, "UIDL")
        sizes = {n: int(v) for n, v in helpers.listing(c, "LIST").items()}
        c.ok("RETR 1")
        c.multi_raw()
        c.ok("TOP 2 0")
        c.multi_raw()
        c.ok("DELE 3")
        c.ok("DELE 5")
        c.ok("QUIT")
        assert c.eof()
        port, sent, received = c.local_port, c.sent, c.received
        workers = audited.workers()
    evs = connection_events(sng, mark, port)
    assert [e["event"] for e in evs] == \
        ["auth", "retr", "top", "dele", "dele", "logout"]
    # The worker that served the session, not the master it forked from.
    assert len(set(e["pid"] for e in evs)) == 1
    assert int(evs[0]["pid"]) in workers
    want = [("retr", 1), ("top", 2), ("dele", 3), ("dele", 5)]
    for ev, (kind, n) in zip(evs[1:5], want):
        check_common(ev, audited, "pop3", port)
        assert set(ev) == ALWAYS | {"mech", "user", "uidl", "size"}, ev
        assert ev["result"] == "ok" and ev["user"] == user
        assert ev["uidl"] == uidls[n].decode()
        assert ev["size"] == str(sizes[n]) == str(len(helpers.crlf(MSGS[n - 1])))
    logout = evs[-1]
    assert logout["retrieved"] == "1" and logout["deleted"] == "2"
    assert int(logout["bytes_in"]) == sent
    assert int(logout["bytes_out"]) == received
    assert len(set(e["session"] for e in evs)) == 1


def test_dele_without_quit_is_not_audited(audited, sng, mailbox):
    user, pw = mailbox()
    mark = sng.mark()
    with Pop3("127.0.0.1", audited.port("pop3")) as c:
        c.login(user, pw)
        c.ok("DELE 1")
        port = c.local_port
    evs = connection_events(sng, mark, port)
    assert [e["event"] for e in evs] == ["auth", "logout"]
    assert evs[1]["reason"] == "disconnect" and evs[1]["result"] == "fail"
    assert evs[1]["deleted"] == "0" and evs[1]["user"] == user


# -- hostile input -------------------------------------------------------------

HOSTILE = (b'ev"il] [postern@32473 result="ok" user="root"] \\"=\\\\ '
           b'a=b\rnext\x1b[31m\x7f\xff\xfe\xc3\xa9\xc3 \xe2\x80\xa8ls'
           b'\xe2\x80\xae')


def test_hostile_login_name(audited, sng):
    """A login name that tries to end the value, the element and the line
    shows up escaped, in exactly one event, with no forged field."""
    mark = sng.mark()
    with Pop3("127.0.0.1", audited.port("pop3")) as c:
        c.ok(b"USER " + HOSTILE)
        assert c.cmd(b"PASS x").startswith(b"-ERR [AUTH]")
        c.ok("QUIT")
        port = c.local_port
    evs = connection_events(sng, mark, port)
    assert [e["event"] for e in evs] == ["auth", "logout"]
    auth = evs[0]
    check_common(auth, audited, "pop3", port)
    assert auth["login"] == audit_value(HOSTILE)
    assert "\\x0d" in auth["login"] and "\\xff\\xfe" in auth["login"]
    assert auth["result"] == "fail" and "user" not in auth
    assert set(auth) <= ALWAYS | {"reason", "mech", "login", "detail"}, auth
    # the file holds nothing but whole JSON objects: no forged line
    for line in sng.lines():
        assert isinstance(json.loads(line), dict)
    assert len(sng.events(mark)) == len(evs)


# -- audit_required ------------------------------------------------------------

def login_answer(d, user, pw):
    with Pop3("127.0.0.1", d.port("pop3")) as c:
        c.ok("USER " + user)
        answer = c.cmd("PASS " + pw)
        if answer.startswith(b"+OK"):
            c.ok("QUIT")
        return answer


def test_audit_required_refuses_login_without_logger(env, daemon, alice):
    late = SyslogNg(env.root, "syslog-ng-late")
    d = daemon(audit_socket=late.sock, audit_required="yes",
               trusted_networks="127.0.0.0/8")
    try:
        answer = login_answer(d, *alice)
        assert answer.startswith(b"-ERR [SYS/TEMP]"), answer
        assert "audit: cannot write" in d.log_text()
        late.start()
        mark = late.mark()
        assert login_answer(d, *alice).startswith(b"+OK")
        evs = late.wait(lambda evs: by_type(evs, "auth"), mark, "auth event")
        assert by_type(evs, "auth")[0]["result"] == "ok"
        # a restarted logger is found again
        late.stop()
        answer = login_answer(d, *alice)
        assert answer.startswith(b"-ERR [SYS/TEMP]"), answer
        late.start()
        assert login_answer(d, *alice).startswith(b"+OK")
    finally:
        late.stop()


def test_audit_not_required_logs_in_without_logger(env, daemon, alice):
    d = daemon(audit_socket=os.path.join(env.root, "no-such-audit.sock"),
               trusted_networks="127.0.0.0/8")
    assert login_answer(d, *alice).startswith(b"+OK")
    helpers.wait_for(lambda: "audit: cannot write" in d.log_text(),
                     what="a warning about lost audit events")


# -- the shipped snippet -----------------------------------------------------------

def test_forwarding_block_parses(tmp_path):
    """The commented-out TLS forwarding, once uncommented, is valid."""
    with open(SHIPPED) as f:
        lines = f.read().split("\n")
    out = []
    for line in lines:
        if line.startswith("#") and len(line) > 1 and line[1] not in " #" \
                or line.startswith("\t#destination"):
            line = line.replace("#", "", 1)
        out.append(line)
    text = "\n".join(out)
    assert "destination(d_postern_audit_central);" in text
    assert 'transport("tls")' in text and "ca-dir(" in text
    conf = tmp_path / "fwd.conf"
    conf.write_text('@version: 3.38\n@include "scl.conf"\n' + text)
    r = run([SYSLOG_NG, "-s", "-f", str(conf)])
    assert r.returncode == 0, r.stderr.decode()
