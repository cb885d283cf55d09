"""Network namespaces as stand-in hosts for the multi-host tests.

Each Netns is joined to the root namespace by a veth pair on a private
/24: the root side is .1 (plus any extra addresses asked for), the
namespace side .2.  Nothing else is touched.  delete() removes the
namespace, which takes the veth pair with it; names carry the creating
pid, so namespaces left behind by a killed run are removed by the next.
"""

import os
import re

import helpers
from helpers import run

PREFIX = "postern-mh-"


def ip(*args, check=True):
    r = run(["ip", *args], timeout=30)
    if check:
        helpers.ok(r)
    return r


def remove_stale():
    """Deletes our namespaces whose creating process is gone."""
    out = ip("netns", "list").stdout.decode()
    for name in re.findall(r"^(%s\S*-(\d+))" % PREFIX, out, re.M):
        try:
            os.kill(int(name[1]), 0)
        except ProcessLookupError:
            ip("netns", "del", name[0], check=False)


def listening(pid, addr, port):
    """Whether a socket in pid's network namespace listens on addr:port
    (read from /proc, so no probe connection shows up in a log)."""
    want = "%s:%04X" % ("".join("%02X" % int(b) for b in
                                reversed(addr.split("."))), port)
    try:
        with open("/proc/%d/net/tcp" % pid) as f:
            rows = f.read().splitlines()[1:]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return any(r.split()[1] == want and r.split()[3] == "0A" for r in rows)


class Netns:
    def __init__(self, tag, subnet, extra=()):
        self.name = "%s%s-%d" % (PREFIX, tag, os.getpid())
        self.veth = "pmh%d%s" % (os.getpid() % 100000, tag)
        self.outer = subnet + ".1"          # the root namespace's side
        self.inner = subnet + ".2"          # this "host"
        self.extra = ["%s.%d" % (subnet, n) for n in extra]
        self.subnet = subnet + ".0/24"

    def create(self):
        if ip("-4", "addr", "show", "to", self.subnet).stdout.strip():
            raise AssertionError("%s is already in use here" % self.subnet)
        ip("netns", "add", self.name)
        try:
            ip("link", "add", self.veth, "type", "veth", "peer", "name",
               "eth0", "netns", self.name)
            for addr in [self.outer] + self.extra:
                ip("addr", "add", addr + "/24", "dev", self.veth)
            ip("link", "set", self.veth, "up")
            ip("-n", self.name, "addr", "add", self.inner + "/24",
               "dev", "eth0")
            ip("-n", self.name, "link", "set", "eth0", "up")
            ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.delete()
            raise
        return self

    def delete(self):
        ip("link", "del", self.veth, check=False)
        ip("netns", "del", self.name, check=False)

    def argv(self, argv):
        """argv run inside the namespace; ip execs, so the pid is argv's."""
        return ["ip", "netns", "exec", self.name, *argv]
