"""Packaging: the .deb and the RPM built from this tree.

The .deb is built once per module with packaging/build-deb, checked with
lintian, installed on this machine with dpkg -i, checked (files, conffiles,
service user, directories, the shipped config), used to serve a message
to curl over pop3s, and purged.  The purge runs at the end even when a test
fails, and what the tests created (snakeoil pair, service user, mail store)
is removed again if it was not there before, so the machine is left as it
was found.  The RPM is built with packaging/build-rpm and inspected with
rpm -qp.

Skipped when the tools are missing, and in the sanitizer run of tests/run
(SANITIZE=1): the packages do not depend on the build under test, so one
run is enough.  POSTERN_SKIP_PACKAGING=1 skips them too; POSTERN_DEB=FILE
tests a .deb built before instead of building one.  Runs that install the
package take a lock, so two at once on one machine wait for each other.
"""

import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PKG = os.path.join(REPO, "packaging")
SHIPPED_CONF = os.path.join(PKG, "postern.conf")
SYSLOG_SNIPPET = os.path.join(PKG, "syslog-ng", "postern.conf")
BUILD_TIMEOUT = 1800
SNAKEOIL = ("/etc/ssl/certs/ssl-cert-snakeoil.pem",
            "/etc/ssl/private/ssl-cert-snakeoil.key")
STATE_DIR = "/var/lib/postern"
MAIL_STORE = "/var/mail/postern"

if os.environ.get("SANITIZE") == "1":
    pytest.skip("packaging is tested in the plain run of tests/run",
                allow_module_level=True)
if os.environ.get("POSTERN_SKIP_PACKAGING"):
    pytest.skip("POSTERN_SKIP_PACKAGING is set", allow_module_level=True)


def run(argv, timeout=120, check=False, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       env=env, **kw)
    if check:
        assert r.returncode == 0, "%s -> %d\n%s%s" % (
            " ".join(argv), r.returncode, r.stdout[-4000:], r.stderr[-4000:])
    return r


def need(*tools):
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed" % tool)


def tail(path, lines=60):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def build(script, outdir, log, env_extra):
    env = dict(os.environ, **env_extra)
    with open(log, "w") as f:
        r = subprocess.run([os.path.join(PKG, script), outdir], cwd=outdir,
                           stdin=subprocess.DEVNULL, stdout=f,
                           stderr=subprocess.STDOUT, env=env,
                           timeout=BUILD_TIMEOUT)
    if r.returncode != 0:
        pytest.fail("packaging/%s failed (%d); end of %s:\n%s" % (
            script, r.returncode, log, tail(log)))


def package_known():
    """True if dpkg has any record of postern (installed or config-files)."""
    r = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "postern"])
    return r.returncode == 0 and r.stdout.strip() not in ("", "un")


def other_pop3_servers():
    """Installed packages other than postern that provide pop3-server."""
    r = run(["dpkg-query", "-W",
             "-f=${db:Status-Abbrev}|${Package}|${Provides}\n"])
    out = []
    for line in r.stdout.splitlines():
        status, name, provides = line.split("|", 2)
        provided = [p.split()[0] for p in provides.split(",") if p.strip()]
        if status.startswith("ii") and name != "postern" and \
                "pop3-server" in provided:
            out.append(name)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port):
    with socket.socket() as s:
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", port))
            return True
        except OSError:
            return False


def man_pages():
    """/usr/share/man/manN/PAGE.N for every page doc/Makefile.am installs."""
    with open(os.path.join(REPO, "doc", "Makefile.am")) as f:
        text = f.read().replace("\\\n", " ")
    m = re.search(r"^dist_man_MANS\s*=(.*)$", text, re.M)
    pages = m.group(1).split()
    assert {"posternd.8", "postern.8", "postern.conf.5"} <= set(pages)
    return {"/usr/share/man/man%s/%s" % (p.rsplit(".", 1)[1], p)
            for p in pages}


def mode_owner(path):
    st = os.stat(path)
    return (stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name)


# -- the .deb ------------------------------------------------------------------

@pytest.fixture(scope="module")
def debdir():
    need("dpkg-buildpackage", "dh", "dpkg-parsechangelog")
    out = tempfile.mkdtemp(prefix="postern-deb-test-", dir="/tmp")
    build("build-deb", out, os.path.join(out, "build-deb.log"),
          {"DEB_BUILD_OPTIONS": "nocheck parallel=2"})
    yield out
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="module")
def deb(request):
    if os.environ.get("POSTERN_DEB"):
        # A .deb built earlier by packaging/build-deb, to save the build.
        return os.path.abspath(os.environ["POSTERN_DEB"])
    debdir = request.getfixturevalue("debdir")
    debs = [f for f in os.listdir(debdir)
            if re.match(r"postern_.*\.deb$", f)]
    assert len(debs) == 1, "expected one postern .deb in %s: %r" % (
        debdir, os.listdir(debdir))
    return os.path.join(debdir, debs[0])


def test_deb_control(deb):
    r = run(["dpkg-deb", "-f", deb, "Package", "Provides", "Conflicts",
             "Replaces", "Depends"], check=True)
    fields = dict(line.split(": ", 1) for line in r.stdout.splitlines())
    assert fields["Package"] == "postern"
    # Like popa3d, courier-pop and cyrus-pop3d: one POP3 server at a time.
    for key in ("Provides", "Conflicts", "Replaces"):
        assert fields[key] == "pop3-server"
    depends = [d.strip().split()[0] for d in fields["Depends"].split(",")]
    for dep in ("adduser", "libsasl2-modules", "ssl-cert", "libssl3",
                "libsasl2-2"):
        assert dep in depends, fields["Depends"]


def test_deb_version_matches_configure(deb):
    with open(os.path.join(REPO, "configure.ac")) as f:
        m = re.search(r"AC_INIT\(\[[^]]*\],\s*\[([^]]*)\]", f.read())
    version = run(["dpkg-deb", "-f", deb, "Version"], check=True).stdout
    assert version.strip().rsplit("-", 1)[0] == m.group(1)


def test_deb_lintian_no_errors(deb):
    need("lintian")
    r = run(["lintian", "--tag-display-limit", "0", deb], timeout=230)
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    assert not errors, "lintian errors:\n" + r.stdout


# -- installing the .deb on this machine ------------------------------------

class Machine:
    """What the install may change, recorded before it, restored after."""

    def __init__(self):
        self.had_snakeoil = all(os.path.exists(p) for p in SNAKEOIL)
        self.had_user = self._user_exists()
        self.had_group = self._group_exists()
        self.had_store = os.path.exists(MAIL_STORE)
        self.canary = None
        self.dpkg_i = ["dpkg", "-i", "--force-confold"]
        others = other_pop3_servers()
        if others:
            # postern Conflicts: pop3-server, as popa3d and courier-pop do;
            # a developer's machine may well have another one installed.
            # Forcing only for this test leaves that package untouched.
            print("installing despite %s" % ", ".join(others))
            self.dpkg_i.append("--force-conflicts")

    @staticmethod
    def _user_exists():
        try:
            pwd.getpwnam("postern")
            return True
        except KeyError:
            return False

    @staticmethod
    def _group_exists():
        try:
            grp.getgrnam("postern")
            return True
        except KeyError:
            return False

    def restore(self):
        if package_known():
            run(["dpkg", "--purge", "postern"], timeout=300)
        if self.canary:
            try:
                os.unlink(self.canary)
            except FileNotFoundError:
                pass
        if not self.had_store:
            shutil.rmtree(MAIL_STORE, ignore_errors=True)
        if not self.had_user and self._user_exists():
            run(["userdel", "postern"])
        if not self.had_group and self._group_exists():
            run(["groupdel", "postern"])
        if not self.had_snakeoil:
            self._remove_snakeoil()

    @staticmethod
    def _remove_snakeoil():
        certs = os.path.dirname(SNAKEOIL[0])
        for name in os.listdir(certs):
            path = os.path.join(certs, name)
            if os.path.islink(path) and \
                    os.readlink(path) == os.path.basename(SNAKEOIL[0]):
                os.unlink(path)
        for path in SNAKEOIL:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def machine_lock(deadline=1200):
    """Serializes test runs that install the package: two at once would
    fight over dpkg and take each other's user for one found installed."""
    lock = open("/tmp/postern-packaging-test.lock", "w")
    end = time.monotonic() + deadline
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() > end:
                lock.close()
                pytest.fail("another test run kept the package lock for "
                            "%d s" % deadline)
            time.sleep(1)


def untouched_machine():
    """Refuses to go on where the purge would remove what is not ours."""
    if package_known():
        # Only a killed earlier run of this module leaves postern here.
        run(["dpkg", "--purge", "postern"], check=True, timeout=300)
    for path in ("/etc/postern", "/var/log/postern", STATE_DIR,
                 "/etc/syslog-ng/conf.d/postern.conf"):
        if os.path.lexists(path):
            pytest.skip("%s exists without the package: the purge would "
                        "remove it" % path)


@pytest.fixture(scope="module")
def machine(deb):
    if os.geteuid() != 0:
        pytest.skip("installing the .deb needs root")
    need("dpkg", "adduser")
    with machine_lock():
        untouched_machine()
        m = Machine()
        try:
            r = run(m.dpkg_i + [deb], timeout=300)
            assert r.returncode == 0, "dpkg -i failed (missing Depends? " \
                "see the packages .ci/run installs)\n%s%s" % (r.stdout,
                                                             r.stderr)
            yield m
        finally:
            m.restore()


def test_installed_files(machine):
    files = set(run(["dpkg", "-L", "postern"], check=True).stdout.split())
    expected = {
        "/usr/sbin/posternd", "/usr/sbin/postern",
        "/etc/postern/postern.conf", "/etc/postern/users",
        "/usr/share/doc/postern/copyright",
    } | {page + ".gz" for page in man_pages()}
    if os.path.exists(SYSLOG_SNIPPET):
        expected.add("/etc/syslog-ng/conf.d/postern.conf")
    assert expected <= files, sorted(expected - files)
    assert files & {"/lib/systemd/system/posternd.service",
                    "/usr/lib/systemd/system/posternd.service"}
    # Neither the state directory nor the mail store belongs to dpkg:
    # dpkg would remove an empty mail store with the package.
    assert STATE_DIR not in files and MAIL_STORE not in files
    for prog in ("/usr/sbin/posternd", "/usr/sbin/postern"):
        assert os.access(prog, os.X_OK)
    r = run(["/usr/sbin/posternd", "-V"], check=True)
    assert "posternd" in r.stdout


def test_conffiles(machine):
    r = run(["dpkg-query", "-W", "-f=${Conffiles}", "postern"], check=True)
    conffiles = {line.split()[0] for line in r.stdout.splitlines()
                 if line.strip()}
    expected = {"/etc/postern/postern.conf", "/etc/postern/users"}
    if os.path.exists(SYSLOG_SNIPPET):
        expected.add("/etc/syslog-ng/conf.d/postern.conf")
    assert conffiles == expected
    with open("/etc/postern/postern.conf") as a, open(SHIPPED_CONF) as b:
        assert a.read() == b.read()
    assert os.path.getsize("/etc/postern/users") == 0
    assert mode_owner("/etc/postern/users") == (0o640, "root", "postern")


def test_service_user(machine):
    pw = pwd.getpwnam("postern")
    assert pw.pw_uid < 1000, "not a system user: uid %d" % pw.pw_uid
    assert pw.pw_dir == STATE_DIR
    assert pw.pw_shell in ("/usr/sbin/nologin", "/sbin/nologin",
                           "/bin/false")
    assert grp.getgrgid(pw.pw_gid).gr_name == "postern"


def test_state_directories(machine):
    assert mode_owner(STATE_DIR) == (0o750, "postern", "postern")
    assert mode_owner(MAIL_STORE) == (0o700, "postern", "postern")


def test_systemd_unit(machine):
    unit = next(p for p in ("/lib/systemd/system/posternd.service",
                            "/usr/lib/systemd/system/posternd.service")
                if os.path.exists(p))
    with open(unit) as f:
        text = f.read()
    assert "ExecStartPre=/usr/sbin/posternd -t -c /etc/postern/postern.conf" \
        in text
    assert "ExecStart=/usr/sbin/posternd -f " in text
    assert "Type=simple" in text
    # dh_installsystemd enabled it (policy-rc.d keeps it from starting).
    assert os.path.islink(
        "/etc/systemd/system/multi-user.target.wants/posternd.service")
    if shutil.which("systemd-analyze"):
        r = run(["systemd-analyze", "verify", unit])
        # man(1) may be missing on a build machine; the rest must be clean.
        problems = [l for l in r.stderr.splitlines()
                    if l.strip() and "man " not in l]
        assert not problems, r.stderr


def test_syslog_ng_accepts_snippet(machine):
    """The installed snippet leaves syslog-ng's configuration valid."""
    if not os.path.exists(SYSLOG_SNIPPET):
        pytest.skip("packaging/syslog-ng/postern.conf not written yet")
    need("syslog-ng")
    r = run(["syslog-ng", "--syntax-only",
             "--cfgfile", "/etc/syslog-ng/syslog-ng.conf"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_shipped_config_checks(machine):
    """posternd -t passes on the installed default config (postinst made
    the snakeoil pair if the image lacked it)."""
    for path in SNAKEOIL:
        assert os.path.exists(path), path
    r = run(["/usr/sbin/posternd", "-t", "-c", "/etc/postern/postern.conf"])
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout


def test_shipped_config_trusts_nobody(machine):
    """First boot is safe: no uncommented key opens cleartext logins."""
    with open("/etc/postern/postern.conf") as f:
        keys = {}
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                key, value = (x.strip() for x in line.split("=", 1))
                keys.setdefault(key, []).append(value)
    assert "trusted_networks" not in keys
    assert "allow_cleartext_without_tls" not in keys
    assert sorted(v.split()[0] for v in keys["listen"]) == ["pop3", "pop3s"]
    assert keys["tls_cert"] == [SNAKEOIL[0]]
    assert keys["tls_key"] == [SNAKEOIL[1]]


COMMENTED = re.compile(r"^#([a-z][a-z0-9_]*)\s*=\s*(.*)$")
# Examples naming files that this machine does not have.
NEEDS_FILES = {"listen", "krb5_keytab", "ldap_ca_file",
               "ldap_bind_password_file"}


def test_shipped_config_comments_are_valid(machine, tmp_path):
    """Every commented "#key = value" of the shipped config names a key
    posternd knows and a value it accepts: uncommented all at once, the
    file still passes posternd -t.  Catches keys renamed in conf.c."""
    os.chmod(tmp_path, 0o755)
    _, cert, key = make_pki(str(tmp_path))
    with open(SHIPPED_CONF) as f:
        shipped = f.read()
    lines, seen = [], set()
    for line in shipped.splitlines():
        m = COMMENTED.match(line)
        if m and m.group(1) not in NEEDS_FILES and \
                not m.group(2).startswith("("):
            assert m.group(1) not in seen, "#%s shown twice" % m.group(1)
            seen.add(m.group(1))
            line = line[1:]
        lines.append(line)
    assert len(seen) > 40
    text = derive_config("\n".join(lines), {"tls_cert": cert,
                                            "tls_key": key},
                         [("pop3", free_port())])
    path = os.path.join(str(tmp_path), "all-keys.conf")
    with open(path, "w") as f:
        f.write(text)
    r = run(["/usr/sbin/posternd", "-t", "-c", path])
    assert r.returncode == 0, r.stderr


# -- the installed daemon serving mail ---------------------------------------

MESSAGE = (b"From: Bob <bob@example.org>\nTo: alice@example.org\n"
           b"Subject: packaged\nMessage-ID: <pkg1@postern.test>\n\n"
           b"Delivered by the packaging test.\n")


def make_pki(root):
    """A CA and a server certificate for localhost, made with openssl."""
    ca_key, ca = os.path.join(root, "ca.key"), os.path.join(root, "ca.pem")
    key, cert = os.path.join(root, "key.pem"), os.path.join(root, "cert.pem")
    csr, ext = os.path.join(root, "srv.csr"), os.path.join(root, "ext.cnf")
    with open(ext, "w") as f:
        f.write("basicConstraints = critical, CA:FALSE\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectAltName = DNS:localhost, IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    for argv in (
            ["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca,
             "-days", "2", "-subj", "/CN=Postern Packaging Test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["openssl", "req", "-new", *ec, "-keyout", key, "-out", csr,
             "-subj", "/CN=localhost"],
            ["openssl", "x509", "-req", "-in", csr, "-CA", ca,
             "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
             "-days", "2", "-extfile", ext]):
        run(argv, check=True)
    return ca, cert, key


def derive_config(shipped, settings, listeners):
    """The shipped config with its listeners replaced and settings
    overridden (a repeated key would be an error)."""
    out = []
    for line in shipped.splitlines():
        key = line.split("#", 1)[0].split("=", 1)[0].strip()
        if key == "listen" or key in settings:
            continue
        out.append(line)
    out += ["listen = %s 127.0.0.1:%d" % l for l in listeners]
    out += ["%s = %s" % kv for kv in settings.items()]
    return "\n".join(out) + "\n"


class Served:
    """The installed posternd -f on loopback ports, with the shipped
    settings except paths, as the service user postern."""

    def __init__(self, root):
        self.root = root
        self.ca, cert, key = make_pki(root)
        self.pop3, self.pop3s = free_port(), free_port()
        state = os.path.join(root, "state")
        self.store = os.path.join(root, "store")
        os.makedirs(state)
        os.makedirs(self.store)
        self.users = os.path.join(root, "users")
        settings = {
            "pid_file": os.path.join(root, "posternd.pid"),
            "state_dir": state,
            "users_file": self.users,
            "store_root": self.store,
            "tls_cert": cert,
            "tls_key": key,
            "hostname": "localhost",
            "min_spare_workers": "1",
            "max_spare_workers": "2",
            "max_workers": "4",
            "sasl_mechanisms": "SCRAM-SHA-256 PLAIN",
        }
        with open(SHIPPED_CONF) as f:
            text = derive_config(f.read(), settings,
                                 [("pop3", self.pop3), ("pop3s", self.pop3s)])
        self.config = os.path.join(root, "posternd.conf")
        with open(self.config, "w") as f:
            f.write(text)
        self.log = os.path.join(root, "posternd.log")
        self.proc = None

    def add_user(self, name, password):
        r = run(["/usr/sbin/postern", "-c", self.config, "user", "add", name],
                input=password + "\n", stdin=None)
        assert r.returncode == 0, r.stdout + r.stderr
        maildir = os.path.join(self.store, name)
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        with open(os.path.join(maildir, "new", "1700000001.M1P1.pkg"),
                  "wb") as f:
            f.write(MESSAGE)

    def give_to_service_user(self):
        """The layout of the package: state and store belong to postern,
        the users file is root:postern 0640, the key stays root's."""
        pw = pwd.getpwnam("postern")
        for top in (os.path.join(self.root, "state"), self.store):
            for d, dirs, files in os.walk(top):
                for name in [d] + [os.path.join(d, x) for x in dirs + files]:
                    os.lchown(name, pw.pw_uid, pw.pw_gid)
        os.chmod(os.path.join(self.root, "state"), 0o750)
        os.chown(self.users, 0, pw.pw_gid)
        os.chmod(self.users, 0o640)

    def start(self):
        """Starts the daemon under the capability bounding set of the
        systemd unit, so that the unit's list is known to be enough."""
        argv = ["/usr/sbin/posternd", "-f", "-c", self.config]
        if shutil.which("setpriv"):
            argv = ["setpriv", "--no-new-privs", "--bounding-set",
                    "-all,+net_bind_service,+setuid,+setgid,+kill,"
                    "+dac_override", "--"] + argv
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     start_new_session=True)
        end = time.monotonic() + 30
        for port in (self.pop3, self.pop3s):
            while not accepts(port):
                assert self.proc.poll() is None, \
                    "posternd exited with %s\n%s" % (self.proc.returncode,
                                                     tail(self.log))
                assert time.monotonic() < end, "posternd never listened\n" + \
                    tail(self.log)
                time.sleep(0.05)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc and self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            return "killed"
        finally:
            self.logf.close()

    def workers(self):
        out = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/status" % pid) as f:
                    status = dict(l.split(":", 1) for l in f if ":" in l)
            except OSError:
                continue
            if status.get("PPid", "").strip() == str(self.proc.pid):
                out.append(int(status["Uid"].split()[0]))
        return out


@pytest.fixture(scope="module")
def served(machine):
    need("curl", "openssl")
    root = tempfile.mkdtemp(prefix="postern-pkg-", dir="/tmp")
    os.chmod(root, 0o755)
    s = Served(root)
    try:
        s.add_user("alice", "alice-Pkg-Secret1")
        s.give_to_service_user()
        s.start()
        yield s
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_served_over_pop3s(served):
    r = run(["curl", "-sS", "--max-time", "30", "--cacert", served.ca,
             "-u", "alice:alice-Pkg-Secret1",
             "pop3s://localhost:%d/1" % served.pop3s])
    assert r.returncode == 0, r.stderr + "\n" + tail(served.log)
    assert r.stdout.replace("\r\n", "\n").encode() == MESSAGE
    uid = pwd.getpwnam("postern").pw_uid
    workers = served.workers()
    assert workers and all(u == uid for u in workers), workers
    assert os.path.exists(os.path.join(served.root, "state", "scoreboard"))


def test_served_stls_and_no_cleartext(served):
    """The shipped policy: on the plain port USER is neither offered nor
    accepted before STLS; after STLS curl logs in."""
    with socket.create_connection(("127.0.0.1", served.pop3), 10) as s:
        f = s.makefile("rwb")
        assert f.readline().startswith(b"+OK")
        f.write(b"CAPA\r\n")
        f.flush()
        assert f.readline().startswith(b"+OK")
        caps = []
        while True:
            line = f.readline().rstrip(b"\r\n")
            if line == b".":
                break
            caps.append(line.split()[0].upper())
        assert b"STLS" in caps and b"USER" not in caps
        f.write(b"USER alice\r\n")
        f.flush()
        first = f.readline()
        if first.startswith(b"+OK"):
            f.write(b"PASS alice-Pkg-Secret1\r\n")
            f.flush()
            first = f.readline()
        assert first.startswith(b"-ERR"), first
    r = run(["curl", "-sS", "--max-time", "30", "--ssl-reqd", "--cacert",
             served.ca, "-u", "alice:alice-Pkg-Secret1",
             "pop3://localhost:%d/1" % served.pop3])
    assert r.returncode == 0, r.stderr + "\n" + tail(served.log)
    assert b"Subject: packaged" in r.stdout.encode()


def test_served_stops_cleanly(served):
    assert served.stop() == 0, tail(served.log)


# -- upgrade and purge (keep these last: they change the installation) -------

def test_admin_tool_keeps_users_file_private(machine):
    """postern user add on the installed layout rewrites the users file
    (temp file, rename) and keeps it root:postern 0640."""
    r = run(["/usr/sbin/postern", "user", "add", "bob"],
            input="bob-Pkg-Secret2\n", stdin=None)
    assert r.returncode == 0, r.stdout + r.stderr
    with open("/etc/postern/users") as f:
        assert re.search(r"^bob\b", f.read(), re.M)
    assert mode_owner("/etc/postern/users") == (0o640, "root", "postern")


def test_reinstall_keeps_users(machine, deb):
    with open("/etc/postern/users") as f:
        before = f.read()
    assert before, "the previous test added bob"
    r = run(machine.dpkg_i + [deb], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    with open("/etc/postern/users") as f:
        assert f.read() == before
    assert mode_owner("/etc/postern/users") == (0o640, "root", "postern")


def test_purge(machine):
    machine.canary = os.path.join(MAIL_STORE, "canary")
    with open(machine.canary, "w") as f:
        f.write("mail survives a purge\n")
    os.makedirs(os.path.join(STATE_DIR, "sub"), exist_ok=True)
    r = run(["dpkg", "--purge", "postern"], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not package_known()
    for gone in ("/usr/sbin/posternd", "/usr/sbin/postern", "/etc/postern",
                 STATE_DIR, "/lib/systemd/system/posternd.service",
                 "/usr/lib/systemd/system/posternd.service",
                 "/etc/systemd/system/multi-user.target.wants/"
                 "posternd.service",
                 "/etc/syslog-ng/conf.d/postern.conf", "/var/log/postern"):
        assert not os.path.lexists(gone), gone + " left after purge"
    # Policy keeps the system user and the users' mail.
    pwd.getpwnam("postern")
    assert os.path.exists(machine.canary)


# -- the RPM -------------------------------------------------------------------

@pytest.fixture(scope="module")
def rpm():
    need("rpmbuild", "rpm")
    out = tempfile.mkdtemp(prefix="postern-rpm-test-", dir="/tmp")
    build("build-rpm", out, os.path.join(out, "build-rpm.log"), {})
    rpms = [f for f in os.listdir(out)
            if re.match(r"postern-\d.*\.rpm$", f) and "debug" not in f]
    assert len(rpms) == 1, os.listdir(out)
    yield os.path.join(out, rpms[0])
    shutil.rmtree(out, ignore_errors=True)


def test_rpm_files(rpm):
    files = set(run(["rpm", "-qlp", rpm], check=True).stdout.split())
    expected = {
        "/usr/sbin/posternd", "/usr/sbin/postern",
        "/etc/postern/postern.conf", "/etc/postern/users",
        "/usr/lib/systemd/system/posternd.service",
        "/usr/lib/sysusers.d/postern.conf", STATE_DIR,
    } | man_pages()
    if os.path.exists(SYSLOG_SNIPPET):
        expected.add("/etc/syslog-ng/conf.d/postern.conf")
    # Fedora's rpm compresses man pages, Debian's does not.
    plain = {re.sub(r"\.gz$", "", f) for f in files}
    missing = {f for f in expected if re.sub(r"\.gz$", "", f) not in plain}
    assert not missing, sorted(missing)
    assert MAIL_STORE not in files


def test_rpm_config_and_attrs(rpm):
    r = run(["rpm", "-qp", "--qf",
             "[%{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME}:"
             "%{FILEGROUPNAME} %{FILENAMES}\n]", rpm], check=True)
    rows = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:          # no flags
            parts.insert(0, "")
        flags, perms, owner, name = parts
        rows[name] = (flags, perms, owner)
    for conf in ("/etc/postern/postern.conf", "/etc/postern/users"):
        assert "c" in rows[conf][0] and "n" in rows[conf][0], rows[conf]
    assert rows["/etc/postern/users"][1:] == ("-rw-r-----", "root:postern")
    assert rows[STATE_DIR][1:] == ("drwxr-x---", "postern:postern")


def test_rpm_scripts(rpm):
    scripts = run(["rpm", "-qp", "--scripts", rpm], check=True).stdout
    assert re.search(r"preinstall scriptlet.*\n(.*\n)*.*useradd -r", scripts)
    assert "systemctl" in scripts or "systemd-update-helper" in scripts
    assert MAIL_STORE in scripts
    with open(os.path.join(PKG, "rpm", "postern.spec")) as f:
        m = re.search(r"^Version:\s*(\S+)", f.read(), re.M)
    with open(os.path.join(REPO, "configure.ac")) as f:
        assert "[%s]" % m.group(1) in f.read()
