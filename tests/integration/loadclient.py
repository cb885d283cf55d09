"""A strict asyncio POP3 client for the load tests (test_load.py).

Many sessions in one process, or in a few forked processes for the login
loops, so that one Python interpreter is not the bottleneck.  Every reply
is checked against what RFC 1939 says it must be: a reply that differs is
a Violation (a protocol error, which the tests count and must never see);
a connection the server closed or reset while a reply was due is a Cut
(allowed only where a test kills the worker on purpose).  What a Cut
session received before the cut must still be a prefix of the right reply.
"""

import asyncio
import multiprocessing
import os
import resource
import ssl
import time
import traceback

OP_TIMEOUT = 60         # seconds for a whole session (a hang is a failure)


class Violation(Exception):
    """The server sent something POP3 does not allow here."""


class Cut(Exception):
    """The server closed or reset the connection while a reply was due."""


def raise_nofile(want):
    """Raises this process's RLIMIT_NOFILE soft limit towards want."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Conn:
    """One POP3 connection over asyncio streams."""

    def __init__(self, reader, writer, tag):
        self.r, self.w, self.tag = reader, writer, tag
        self.greeting = None

    @classmethod
    async def open(cls, port, host="127.0.0.1", source=None, tls=None,
                   tag=""):
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=tls, limit=1 << 20,
                server_hostname="localhost" if tls else None,
                local_addr=(source, 0) if source else None)
        except (ConnectionResetError, BrokenPipeError,
                ConnectionAbortedError, ssl.SSLError) as e:
            # The worker that accepted us died before or during the
            # TLS handshake.
            raise Cut("%s: connect/handshake: %r" % (tag, e))
        c = cls(reader, writer, tag)
        c.greeting = await c.status()
        if not c.greeting.startswith(b"+OK"):
            raise Violation("%s: greeting %r" % (tag, c.greeting))
        return c

    def close(self):
        try:
            self.w.transport.abort()
        except Exception:
            pass

    async def line(self):
        try:
            data = await self.r.readuntil(b"\r\n")
        except asyncio.IncompleteReadError as e:
            raise Cut("%s: closed after %r" % (self.tag, e.partial[-80:]))
        except asyncio.LimitOverrunError:
            raise Violation("%s: reply line without CRLF" % self.tag)
        except (ConnectionResetError, BrokenPipeError,
                ConnectionAbortedError, ssl.SSLError) as e:
            raise Cut("%s: %r" % (self.tag, e))
        body = data[:-2]
        if b"\n" in body or b"\r" in body:
            raise Violation("%s: bare CR or LF in %r" % (self.tag, data))
        return body

    async def status(self):
        line = await self.line()
        if not line.startswith((b"+OK", b"-ERR")):
            raise Violation("%s: bad status line %r" % (self.tag, line))
        if len(line) + 2 > 512:
            raise Violation("%s: status line too long" % self.tag)
        return line

    async def send(self, line):
        try:
            self.w.write(line.encode() + b"\r\n")
            await self.w.drain()
        except (ConnectionResetError, BrokenPipeError,
                ConnectionAbortedError, ssl.SSLError) as e:
            raise Cut("%s: send %r" % (self.tag, e))

    async def cmd(self, line):
        await self.send(line)
        return await self.status()

    async def ok(self, line, want=None):
        """A command that must answer +OK (and exactly want, if given)."""
        resp = await self.cmd(line)
        if not resp.startswith(b"+OK") or (want is not None and resp != want):
            what = line.split()[0] + (" ***" if line.startswith("PASS")
                                      else line[len(line.split()[0]):])
            raise Violation("%s: %s -> %r%s" % (
                self.tag, what, resp,
                "" if want is None else " (want %r)" % want))
        return resp

    async def stat(self, count, size):
        resp = await self.cmd("STAT")
        if resp != b"+OK %d %d" % (count, size):
            raise Violation("%s: STAT -> %r (want +OK %d %d)" % (
                self.tag, resp, count, size))

    async def retr(self, n, body):
        """RETR n; the reply must be exactly +OK, then body (the stuffed
        message with its terminator).  A cut mid-body is a Cut only if
        what came is a prefix of body."""
        resp = await self.cmd("RETR %d" % n)
        if not resp.startswith(b"+OK"):
            raise Violation("%s: RETR %d -> %r" % (self.tag, n, resp))
        try:
            got = await self.r.readexactly(len(body))
        except asyncio.IncompleteReadError as e:
            if not body.startswith(e.partial):
                raise Violation("%s: RETR %d: wrong bytes before the cut"
                                % (self.tag, n))
            raise Cut("%s: cut in RETR %d" % (self.tag, n))
        except (ConnectionResetError, BrokenPipeError,
                ConnectionAbortedError, ssl.SSLError) as e:
            raise Cut("%s: RETR %d: %r" % (self.tag, n, e))
        if got != body:
            raise Violation("%s: RETR %d: body differs" % (self.tag, n))

    async def starttls(self, ctx):
        await self.ok("STLS")
        if self.r._buffer:
            raise Violation("%s: data after the STLS reply" % self.tag)
        try:
            await self.w.start_tls(ctx, server_hostname="localhost")
        except (ConnectionResetError, BrokenPipeError,
                ConnectionAbortedError, ssl.SSLError) as e:
            raise Cut("%s: STLS handshake %r" % (self.tag, e))

    async def expect_eof(self):
        """After QUIT's +OK the server closes, sending nothing more."""
        try:
            extra = await self.r.read(1)
        except (ConnectionResetError, ssl.SSLError):
            extra = b""
        if extra:
            raise Violation("%s: data after QUIT: %r" % (self.tag, extra))
        self.close()

    async def quit(self):
        await self.ok("QUIT")
        await self.expect_eof()


# -- a mail store of many users ---------------------------------------------

def stuffed(msg):
    """The bytes of a RETR body for msg (LF line ends on disk)."""
    if msg == b"":
        return b".\r\n"
    lines = msg.split(b"\n")
    if msg.endswith(b"\n"):
        lines.pop()
    out = [(b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines]
    return b"".join(out) + b".\r\n"


def octets(msg):
    """The size STAT and LIST count: every line ending in CRLF."""
    if msg == b"":
        return 0
    lines = msg.split(b"\n")
    if msg.endswith(b"\n"):
        lines.pop()
    return sum(len(l) + 2 for l in lines)


# -- the login loop ---------------------------------------------------------

class Tally:
    def __init__(self):
        self.ok = 0
        self.cuts = 0
        self.violations = []
        self.nviolations = 0
        self.by_mode = {}
        self.slowest = 0.0
        self.extra = {}

    def violation(self, text):
        self.nviolations += 1
        if len(self.violations) < 20:
            self.violations.append(text)

    def merge(self, other):
        self.ok += other["ok"]
        self.cuts += other["cuts"]
        self.nviolations += other["nviolations"]
        self.violations += other["violations"][:20 - len(self.violations)]
        for k, v in other["by_mode"].items():
            self.by_mode[k] = self.by_mode.get(k, 0) + v
        self.slowest = max(self.slowest, other["slowest"])
        self.extra.update(other["extra"])

    def as_dict(self):
        return dict(ok=self.ok, cuts=self.cuts, nviolations=self.nviolations,
                    violations=self.violations, by_mode=self.by_mode,
                    slowest=self.slowest, extra=self.extra)


async def _one(session, i, seq, tally):
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(OP_TIMEOUT):
            mode = await session(i, seq)
    except Violation as e:
        tally.violation(str(e))
        return
    except Cut:
        tally.cuts += 1
        return
    except TimeoutError:
        tally.violation("client %d: session %d hung for %d s" % (
            i, seq, OP_TIMEOUT))
        return
    except Exception:
        tally.violation("client %d: %s" % (i, traceback.format_exc(-3)))
        return
    tally.ok += 1
    tally.by_mode[mode] = tally.by_mode.get(mode, 0) + 1
    tally.slowest = max(tally.slowest, time.monotonic() - t0)


async def _clients(session, mine, quota, stop, tally):
    left = [quota]

    async def client(i):
        seq = 0
        while (quota is None or left[0] > 0) and not stop.is_set():
            if quota is not None:
                left[0] -= 1
            await _one(session, i, seq, tally)
            seq += 1

    await asyncio.gather(*(client(i) for i in mine))


def _child(session, mine, quota, stop, conn, nofile, report):
    raise_nofile(nofile)
    tally = Tally()
    try:
        asyncio.run(_clients(session, mine, quota, stop, tally))
        if report:
            tally.extra = report()
    except BaseException:
        tally.violation("load process: " + traceback.format_exc(-3))
    conn.send(tally.as_dict())
    conn.close()
    os._exit(0)


class Load:
    """clients concurrent loops of `await session(i, seq)` (i: client
    number, seq: its session count), spread over procs forked processes,
    until total sessions have run, or until stop() when total is None.
    session returns a mode name on success, raises Violation or Cut.
    report(), if given, runs in each process at the end; the dicts it
    returns are merged into the Tally's extra."""

    def __init__(self, session, clients, total=None, procs=1, nofile=4096,
                 report=None):
        ctx = multiprocessing.get_context("fork")
        self.stop_event = ctx.Event()
        self.procs = []
        for p in range(procs):
            mine = list(range(p, clients, procs))
            quota = None
            if total is not None:
                quota = total // procs + (1 if p < total % procs else 0)
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(
                session, mine, quota, self.stop_event, child, nofile,
                report),
                daemon=True)
            self.procs.append((proc, parent, child))
        self.t0 = None
        self.elapsed = None

    def start(self):
        self.t0 = time.monotonic()
        for proc, _, _ in self.procs:
            proc.start()
        return self

    def stop(self):
        self.stop_event.set()

    def join(self, deadline=300):
        tally = Tally()
        end = time.monotonic() + deadline
        for proc, parent, child in self.procs:
            child.close()
            left = max(0.1, end - time.monotonic())
            if parent.poll(left):
                tally.merge(parent.recv())
            else:
                tally.violation("load process %d gave no result in %d s"
                                % (proc.pid, deadline))
                proc.kill()
            proc.join(10)
        self.elapsed = time.monotonic() - self.t0
        return tally
