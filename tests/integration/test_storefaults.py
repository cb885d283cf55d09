"""Store faults under a session, on real mounts: a store that is read-only
at login, one that turns read-only during a session, and one that is full
at login and during UPDATE.

The user's maildrop (store_root/NAME) is a private file system mounted by
the test over that directory: a small tmpfs, or for a store that turns
read-only under an open session an ext4 image on a loop device mounted
with errors=remount-ro.  The kernel refuses `mount -o remount,ro` while a
file on the mount is open for writing, and a session holds its fcntl lock
file open for writing, so an administrator cannot remount the store
read-only under a session; what can is the kernel itself, after a disk
error (ext4's trigger_fs_error simulates one), or an NFS server.

Behaviour checked (the choices are explained in daemon/maildrop.h and
daemon/maildrop.c):
- read-only at login: a clean "-ERR [SYS/TEMP]" at PASS, never a session
  that shows part of the mail and refuses its deletes only at QUIT;
- read-only during a session: reads keep working (RETR, TOP), QUIT after
  DELE answers "-ERR [SYS/TEMP]" and nothing is removed;
- full during UPDATE: the removals are made durable, only the index (a
  cache) cannot be rewritten, so QUIT answers +OK; the next session, full
  or not, sees exact sizes and unchanged UIDLs;
- full at login: new/ still moves to cur/, the session works;
- after every fault: the worker and the master live on, no lock is left
  behind (the next login is never [IN-USE]) and no descriptor stays open
  on the store (it unmounts at once)."""

import contextlib
import errno
import os
import shutil
import subprocess
import time

import pytest

import helpers
from conftest import IS_ROOT
from helpers import crlf, message_id, stuffed

pytestmark = pytest.mark.skipif(
    not IS_ROOT, reason="mounting a file system for the store needs root")

UNMOUNT_DEADLINE = 10    # seconds for a store to become unmountable


def run(argv):
    return subprocess.run(argv, capture_output=True, timeout=60)


def small_messages(n, tag):
    return [b"From: x@example.org\nSubject: %s %d\nMessage-ID: <%s%d@sf>\n"
            b"\nbody %d\n" % (tag.encode(), i, tag.encode(), i, i)
            for i in range(n)]


# -- mounts ------------------------------------------------------------------

def unmount(path):
    """Unmounts path, waiting a moment for a worker ending its session.
    False if it stayed busy (it is then detached lazily)."""
    end = time.monotonic() + UNMOUNT_DEADLINE
    while run(["umount", path]).returncode != 0:
        if not os.path.ismount(path):
            return True
        if time.monotonic() > end:
            run(["umount", "-l", path])
            return False
        time.sleep(0.2)
    return True


@contextlib.contextmanager
def mounted(path, argv, what):
    """Runs a mount command over path; always unmounts.  A store still
    busy after the test means a descriptor the daemon left open on it."""
    r = run(argv)
    if r.returncode != 0:
        pytest.skip("cannot mount %s: %s" % (
            what, r.stderr.decode(errors="replace").strip()))
    done = False
    try:
        yield path
        done = True
    finally:
        clean = unmount(path)
    if done:
        assert clean, "store %s still busy: a descriptor left open" % path


def tmpfs_store(env, user, size):
    return mounted(env.maildir(user), [
        "mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs",
        env.maildir(user)], "a tmpfs")


def seed(env, user, messages):
    """Fills the freshly mounted maildrop.  Env.seed empties the mount
    point (its rmdir fails, harmlessly) and chowns it to the workers'
    user.  The sync stands for the fsync a delivery agent does before its
    rename into new/: a store that the kernel forces read-only drops what
    was never written out."""
    env.seed(user, messages)
    os.sync()
    assert os.path.ismount(env.maildir(user))


def remount(path, mode):
    r = run(["mount", "-o", "remount," + mode, path])
    return r.returncode == 0, r.stderr.decode(errors="replace")


def fill(path):
    """Fills the file system holding path; returns the filler's name."""
    name = os.path.join(path, "filler")
    with open(name, "wb", buffering=0) as f:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    with pytest.raises(OSError) as e:
        with open(os.path.join(path, "probe"), "wb", buffering=0) as f:
            f.write(b"x" * 8192)
    assert e.value.errno == errno.ENOSPC
    os.unlink(os.path.join(path, "probe"))
    return name


# -- sessions ------------------------------------------------------------------

def connect(d, ctx):
    return helpers.Pop3("127.0.0.1", d.port("pop3s"), tls=ctx)


def login(d, ctx, user, pw):
    """Logs in with no retry on [IN-USE]: every test here ends its
    sessions cleanly, so a busy maildrop would be a leaked lock.
    Returns (connection, PASS reply)."""
    c = connect(d, ctx)
    c.ok("USER " + user)
    return c, c.cmd("PASS " + pw)


def session(d, ctx, user, pw):
    c, resp = login(d, ctx, user, pw)
    assert resp.startswith(b"+OK"), "login of %s: %r" % (user, resp)
    return c


def view(c):
    """{Message-ID: (uidl, LIST size)} of the whole maildrop."""
    sizes = helpers.listing(c, "LIST")
    out = {}
    for n, uid in helpers.listing(c, "UIDL").items():
        c.ok("TOP %d 0" % n)
        out[message_id(c.multi())] = (uid, int(sizes[n]))
    return out


def expected_sizes(msgs):
    return {message_id(m): len(crlf(m)) for m in msgs}


def check_view(v, msgs, before=None):
    """v holds exactly msgs, with exact sizes and, for those in before,
    the same UIDLs."""
    assert {k: s for k, (_, s) in v.items()} == expected_sizes(msgs)
    for mid, (uid, _) in v.items():
        assert helpers.UIDL_RE.match(uid)
        if before is not None and mid in before:
            assert before[mid][0] == uid, "UIDL of %s changed" % mid
    assert len({u for u, _ in v.values()}) == len(v), "duplicate UIDLs"


def stored_ids(env, user):
    return sorted(message_id(m) for m in env.stored_messages(user))


def ids(msgs):
    return sorted(message_id(m) for m in msgs)


def worker_of(d, c):
    pid = helpers.worker_for(d.pid, d.port("pop3s"), c.local_port)
    return pid, helpers.start_time(pid)


def first_session(env, daemon, ctx, user, pw, messages):
    """Seeds the mounted maildrop, starts a daemon and logs in: the
    daemon, the session, its worker and what it lists (checked against
    messages)."""
    seed(env, user, messages)
    d = daemon()
    c = session(d, ctx, user, pw)
    worker = worker_of(d, c)
    before = view(c)
    check_view(before, messages)
    return d, c, worker, before


def check_alive(d, worker):
    assert d.proc.poll() is None, "master died\n" + d.log_tail()
    assert helpers.alive(*worker), "worker %d died\n%s" % (worker[0],
                                                          d.log_tail())


def quit_clean(c):
    c.ok("QUIT")
    assert c.eof()
    c.close()


def refused_temp(d, ctx, user, pw):
    """A login that must fail with [SYS/TEMP] and leave the connection
    usable in AUTHORIZATION."""
    c, resp = login(d, ctx, user, pw)
    with c:
        assert resp.startswith(b"-ERR [SYS/TEMP] "), resp
        c.ok("CAPA")
        c.multi()
        quit_clean(c)


def no_fd_on(d, path):
    """No process of the daemon has a descriptor on the store."""
    for pid in [d.pid] + d.workers():
        fds = "/proc/%d/fd" % pid
        for fd in os.listdir(fds):
            try:
                target = os.readlink(os.path.join(fds, fd))
            except OSError:
                continue
            assert not target.startswith(path + "/"), \
                "pid %d fd %s open on %s" % (pid, fd, target)


# -- a read-only store -------------------------------------------------------

def test_login_on_readonly_store_is_sys_temp(daemon, ctx, env, mailbox):
    """Read-only at login: new/ cannot move to cur/, the lock cannot be
    taken, no delete could ever apply.  The login fails cleanly with
    [SYS/TEMP], again and again (no lock left), and once the store is
    writable again every message is there, UIDLs unchanged."""
    user, pw = mailbox([])
    first = small_messages(4, "ro")
    later = small_messages(2, "late")
    with tmpfs_store(env, user, "1m") as path:
        d, c, worker, before = first_session(env, daemon, ctx, user, pw,
                                             first)
        quit_clean(c)
        for m in later:
            env.deliver(user, m)
        ok, why = remount(path, "ro")
        assert ok, why
        for _ in range(3):
            refused_temp(d, ctx, user, pw)
        assert "Read-only file system" in d.log_text()
        check_alive(d, worker)
        no_fd_on(d, path)
        assert stored_ids(env, user) == ids(first + later)
        ok, why = remount(path, "rw")
        assert ok, why
        c = session(d, ctx, user, pw)
        check_view(view(c), first + later, before)
        quit_clean(c)
        assert stored_ids(env, user) == ids(first + later)
        assert os.listdir(os.path.join(path, "new")) == []


def test_remount_ro_refused_under_a_session(daemon, ctx, env, mailbox):
    """The session's lock file is open for writing, so the kernel refuses
    to remount the store read-only under it; the session goes on and its
    deletes apply.  After QUIT nothing is left open: the remount works."""
    user, pw = mailbox([])
    msgs = small_messages(3, "busy")
    with tmpfs_store(env, user, "1m") as path:
        seed(env, user, msgs)
        d = daemon()
        c = session(d, ctx, user, pw)
        ok, why = remount(path, "ro")
        if ok:
            # The premise of test_store_turns_readonly_mid_session, that
            # only the kernel or an NFS server can do this, would be wrong.
            remount(path, "rw")
            pytest.fail("remount ro succeeded under an open session")
        assert "busy" in why, why
        c.ok("RETR 2")
        assert c.multi_raw() == stuffed(msgs[1])
        c.ok("DELE 1")
        quit_clean(c)
        ok, why = remount(path, "ro")
        assert ok, "store still busy after the session: " + why
        ok, why = remount(path, "rw")
        assert ok, why
        assert stored_ids(env, user) == ids(msgs[1:])


@contextlib.contextmanager
def ext4_store(env, user, *mkfs_options):
    """An ext4 image mounted over the maildrop with errors=remount-ro;
    yields a function that makes the kernel turn it read-only (as after a
    disk error) and one that repairs it (unmount, fsck, mount).  At 16 MB
    it has 1 KB blocks, so a directory grows often."""
    for tool in ("mkfs.ext4", "e2fsck", "losetup", "findmnt"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed" % tool)
    img = os.path.join(env.root, "ext4-%s.img" % user)
    path = env.maildir(user)
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    r = run(["mkfs.ext4", "-q", "-F", *mkfs_options, img])
    assert r.returncode == 0, r.stderr
    argv = ["mount", "-o", "loop,errors=remount-ro", img, path]
    try:
        with mounted(path, argv, "an ext4 image on a loop device"):
            dev = run(["findmnt", "-no", "SOURCE", path]).stdout.decode()
            trigger = "/sys/fs/ext4/%s/trigger_fs_error" % \
                os.path.basename(dev.strip())
            if not os.path.exists(trigger):
                pytest.skip("no %s to simulate a disk error" % trigger)

            def break_it():
                with open(trigger, "w") as f:
                    f.write("postern test: store fault\n")

            def repair():
                assert unmount(path), "store busy: a descriptor left open"
                r = run(["e2fsck", "-fy", img])
                assert r.returncode in (0, 1), r.stdout + r.stderr
                r = run(argv)
                assert r.returncode == 0, r.stderr

            yield break_it, repair
    finally:
        os.unlink(img)


def test_store_turns_readonly_mid_session(daemon, ctx, env, mailbox):
    """The kernel remounts the store read-only under a session.  What can
    be read still is (RETR, TOP of messages not read yet); QUIT after DELE
    answers -ERR [SYS/TEMP] and removes nothing; the worker lives on, the
    lock is gone, and after the repair every message is there with its
    UIDL."""
    user, pw = mailbox([])
    msgs = helpers.corpus()
    with ext4_store(env, user) as (break_it, repair):
        d, c, worker, before = first_session(env, daemon, ctx, user, pw,
                                             msgs)
        c.ok("RETR 1")
        assert c.multi_raw() == stuffed(msgs[0])
        c.ok("DELE 1")
        c.ok("DELE 3")
        break_it()
        with pytest.raises(OSError) as e:
            open(os.path.join(env.maildir(user), "probe"), "wb")
        assert e.value.errno == errno.EROFS
        # Reading does not need a writable store: the message goes out.
        c.ok("RETR 2")
        assert c.multi_raw() == stuffed(msgs[1])
        c.ok("TOP 4 2")
        c.multi()
        resp = c.cmd("QUIT")
        assert resp.startswith(b"-ERR [SYS/TEMP] "), resp
        assert c.eof()
        c.close()
        check_alive(d, worker)
        assert stored_ids(env, user) == ids(msgs), "a message was lost"
        # Still read-only: a clean refusal, not a stale [IN-USE].
        refused_temp(d, ctx, user, pw)
        no_fd_on(d, env.maildir(user))
        repair()
        c = session(d, ctx, user, pw)
        check_view(view(c), msgs, before)
        quit_clean(c)
        check_alive(d, worker)


# -- a full store --------------------------------------------------------------

def test_disk_full_during_update(daemon, ctx, env, mailbox):
    """The store fills up during a session.  At QUIT the removal of the
    deleted message frees far less than the index rewrite needs, so only
    the index (a cache) goes unsaved: the delete is durable and QUIT
    answers +OK.  The following sessions, full or not, see exactly the
    surviving messages with their sizes and UIDLs."""
    n = 400     # an index of ~20 KB; a removal frees one 4 KB page
    msgs = small_messages(n, "full")
    user, pw = mailbox([])
    with tmpfs_store(env, user, "4m") as path:
        d, c, worker, before = first_session(env, daemon, ctx, user, pw,
                                             msgs)
        assert os.path.exists(os.path.join(path, "postern.index"))
        filler = fill(path)
        c.ok("DELE 1")
        c.ok("DELE %d" % n)
        quit_clean(c)
        assert "index not saved" in d.log_text()
        assert "No space left on device" in d.log_text()
        check_alive(d, worker)
        left = msgs[1:-1]
        assert stored_ids(env, user) == ids(left)
        assert not [f for f in os.listdir(path) if ".tmp." in f], \
            "temp index left behind"
        # Still full: the stale index records are dropped, not trusted.
        c = session(d, ctx, user, pw)
        check_view(view(c), left, before)
        quit_clean(c)
        os.unlink(filler)
        c = session(d, ctx, user, pw)
        check_view(view(c), left, before)
        quit_clean(c)
        with open(os.path.join(path, "postern.index"), "rb") as f:
            index = f.read()
        assert index.startswith(b"postern-index 2 %d\n" % len(left))
        assert stored_ids(env, user) == ids(left)
        check_alive(d, worker)


def test_disk_full_at_login_with_new_mail(daemon, ctx, env, mailbox):
    """New mail waits in new/ and the store is full at login: the renames
    to cur/ need no space, the index write fails and is only logged.  The
    session shows every message, nothing is lost, and the UIDLs stay the
    same once space is freed."""
    old = small_messages(3, "old")
    new = small_messages(5, "new")
    user, pw = mailbox([])
    with tmpfs_store(env, user, "1m") as path:
        seed(env, user, old)
        d = daemon()
        c = session(d, ctx, user, pw)
        before = view(c)
        quit_clean(c)
        for m in new:
            env.deliver(user, m)
        filler = fill(path)
        c = session(d, ctx, user, pw)
        worker = worker_of(d, c)
        during = view(c)
        check_view(during, old + new, before)
        c.ok("RETR %d" % len(old + new))
        assert c.multi_raw() == stuffed(new[-1])
        quit_clean(c)
        assert "index not saved" in d.log_text()
        assert os.listdir(os.path.join(path, "new")) == []
        assert stored_ids(env, user) == ids(old + new)
        os.unlink(filler)
        c = session(d, ctx, user, pw)
        check_view(view(c), old + new, during)
        c.ok("DELE 1")
        quit_clean(c)
        check_alive(d, worker)
        assert stored_ids(env, user) == ids(old[1:] + new)


def test_disk_full_cur_cannot_grow(daemon, ctx, env, mailbox):
    """A full ext4 store: moving new/ to cur/ fails with ENOSPC once cur/
    needs another block.  The login still works and shows what reached
    cur/; the rest waits in new/, not lost; deleting what was shown frees
    space, and the next session moves and shows the rest."""
    msgs = small_messages(300, "grow")
    user, pw = mailbox([])
    # -m 0: no blocks reserved for root, so the filler leaves none at all.
    with ext4_store(env, user, "-m", "0") as (_, _repair):
        path = env.maildir(user)
        seed(env, user, msgs)
        filler = fill(path)
        os.sync()
        d = daemon()
        c = session(d, ctx, user, pw)
        worker = worker_of(d, c)
        first = view(c)
        in_cur = {message_id(m) for m in msgs} - {
            message_id(env_read(path, "new", f))
            for f in os.listdir(os.path.join(path, "new"))}
        assert 0 < len(first) < len(msgs), \
            "cur/ did not fill up: %d of %d moved" % (len(first), len(msgs))
        assert set(first) == in_cur, "the session shows what is not in cur/"
        check_view(first, [m for m in msgs if message_id(m) in in_cur])
        assert "new mail left in new/: No space left on device" in \
            d.log_text()
        assert d.log_text().count("left in new/") == 1, "one line a login"
        assert stored_ids(env, user) == ids(msgs), "a message was lost"
        for n in range(1, len(first) + 1):
            c.ok("DELE %d" % n)
        quit_clean(c)
        rest = [m for m in msgs if message_id(m) not in in_cur]
        assert stored_ids(env, user) == ids(rest)
        os.unlink(filler)
        c = session(d, ctx, user, pw)
        second = view(c)
        check_view(second, rest)
        assert not set(u for u, _ in second.values()) & set(
            u for u, _ in first.values()), "a UIDL came back"
        quit_clean(c)
        assert os.listdir(os.path.join(path, "new")) == []
        assert stored_ids(env, user) == ids(rest)
        check_alive(d, worker)


def env_read(path, sub, name):
    with open(os.path.join(path, sub, name), "rb") as f:
        return f.read()
