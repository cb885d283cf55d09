/* Unit tests for common/conf.c: every key, the grammar and each error. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/xmalloc.h"
#include "tests/unit/check.h"

static char cert_path[64], key_path[64], keytab_path[64];
static char tls_lines[256];	/* appended to configs that need TLS */
static char conf_path[64];
static char err[512];

/* A new empty file; its name in buf. */
static void
make_temp(char *buf, size_t len, const char *text)
{
	int fd;

	snprintf(buf, len, "/tmp/test_conf.XXXXXX");
	if ((fd = mkstemp(buf)) == -1 ||
	    write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    close(fd) == -1) {
		perror("mkstemp");
		exit(2);
	}
}

static struct config *
load(const char *text)
{
	struct config *cfg;

	make_temp(conf_path, sizeof(conf_path), text);
	err[0] = '\0';
	cfg = config_load(conf_path, err, sizeof(err));
	unlink(conf_path);
	return cfg;
}

/* text plus working tls_cert/tls_key lines, after the lines under test. */
static struct config *
load_tls(const char *text)
{
	char *full = xasprintf("%s%s", text, tls_lines);
	struct config *cfg = load(full);

	free(full);
	return cfg;
}

/* Loading must fail with "PATH" followed by want (":LINE: msg" or ": msg"). */
#define CHECK_ERR(text, want) do { \
	struct config *c_ = load_tls(text); \
	char *w_ = xasprintf("%s%s", conf_path, want); \
	CHECK(c_ == NULL); \
	CHECK_STR(err, w_); \
	free(w_); \
	config_free(c_); \
} while (0)

static void
test_defaults(void)
{
	struct config *c = config_defaults();

	CHECK(c->nlisteners == 0 && c->listeners == NULL);
	CHECK_STR(c->user, "postern");
	CHECK(c->group == NULL);
	CHECK_STR(c->pid_file, "/run/postern/posternd.pid");
	CHECK_STR(c->state_dir, "/var/lib/postern");
	CHECK(c->min_spare_workers == 2 && c->max_spare_workers == 8);
	CHECK(c->max_workers == 64 && c->max_sessions_per_worker == 1000);
	CHECK(c->shutdown_timeout == 30);
	CHECK(c->hostname == NULL);
	CHECK_STR(c->greeting, "Postern POP3 server ready");
	CHECK(c->idle_timeout == 600 && c->bad_command_limit == 10);
	CHECK(c->login_delay == 0 && c->expire_days == -1);
	CHECK(c->tls_cert == NULL && c->tls_key == NULL);
	CHECK_STR(c->tls_min_version, "TLSv1.2");
	CHECK(c->tls_ciphers == NULL && c->tls_ciphersuites == NULL);
	CHECK(c->trusted_networks == NULL && c->ntrusted_networks == 0);
	CHECK(!c->allow_cleartext_without_tls);
	CHECK_STR(c->directory, "file");
	CHECK_STR(c->users_file, "/etc/postern/users");
	CHECK_STR(c->store_root, "/var/mail/postern");
	CHECK_STR(c->sasl_mechanisms, "SCRAM-SHA-256 SCRAM-SHA-1 GSSAPI PLAIN");
	CHECK(c->krb5_keytab == NULL && c->krb5_realms == NULL);
	CHECK_STR(c->krb5_service, "pop");
	CHECK(c->path == NULL);
	config_free(c);
}

static char *
full_config(void)
{
	return xasprintf(
	    "# every key\n"
	    "listen = pop3 *:110\n"
	    "listen = pop3s [::]:995\n"
	    "listen = kpop 192.0.2.10:1109\n"
	    "user = mail\ngroup = mail\n"
	    "pid_file = /tmp/p.pid\nstate_dir = /tmp/state\n"
	    "min_spare_workers = 4\nmax_spare_workers = 16\n"
	    "max_workers = 200\nmax_sessions_per_worker = 50\n"
	    "shutdown_timeout = 5\nhostname = pop.example.org\n"
	    "greeting = \"Example  POP3 # ready\"\n"
	    "idle_timeout = 1800\nbad_command_limit = 3\nlogin_delay = 300\n"
	    "expire_days = 30\n"
	    "tls_cert = %s\ntls_key = %s\ntls_min_version = TLSv1.3\n"
	    "tls_ciphers = HIGH:!aNULL\ntls_ciphersuites = TLS_AES_256_GCM_SHA384\n"
	    "trusted_networks = 10.0.0.0/8, 2001:db8::/32 192.0.2.1\n"
	    "allow_cleartext_without_tls = yes\ndirectory = ldap\n"
	    "ldap_uris = ldap://192.0.2.20 ldaps://192.0.2.21\nldap_base = dc=example,dc=org\n"
	    "users_file = /tmp/users\nstore_root = /srv/mail\n"
	    "sasl_mechanisms = SCRAM-SHA-256 PLAIN\n"
	    "krb5_keytab = FILE:%s\nkrb5_service = pop3\n"
	    "krb5_realms = EXAMPLE.ORG AD.EXAMPLE.ORG\n",
	    cert_path, key_path, keytab_path);
}

static void
check_full_listeners(const struct config *c)
{
	CHECK(c->nlisteners == 3);
	if (c->nlisteners != 3)
		return;
	CHECK(c->listeners[0].mode == LISTEN_POP3);
	CHECK_STR(c->listeners[0].host, "*");
	CHECK_STR(c->listeners[0].port, "110");
	CHECK(c->listeners[0].line == 2);
	CHECK(c->listeners[1].mode == LISTEN_POP3S);
	CHECK_STR(c->listeners[1].host, "::");
	CHECK_STR(c->listeners[1].port, "995");
	CHECK(c->listeners[2].mode == LISTEN_KPOP);
	CHECK_STR(c->listeners[2].host, "192.0.2.10");
	CHECK_STR(c->listeners[2].port, "1109");
	CHECK(c->listeners[2].line == 4);
}

static void
check_full_values(const struct config *c)
{
	CHECK_STR(c->user, "mail");
	CHECK_STR(c->group, "mail");
	CHECK_STR(c->pid_file, "/tmp/p.pid");
	CHECK_STR(c->state_dir, "/tmp/state");
	CHECK(c->min_spare_workers == 4 && c->max_spare_workers == 16);
	CHECK(c->max_workers == 200 && c->max_sessions_per_worker == 50);
	CHECK(c->shutdown_timeout == 5);
	CHECK_STR(c->hostname, "pop.example.org");
	CHECK_STR(c->greeting, "Example  POP3 # ready");
	CHECK(c->idle_timeout == 1800 && c->bad_command_limit == 3);
	CHECK(c->login_delay == 300 && c->expire_days == 30);
	CHECK_STR(c->tls_cert, cert_path);
	CHECK_STR(c->tls_key, key_path);
	CHECK_STR(c->tls_min_version, "TLSv1.3");
	CHECK_STR(c->tls_ciphers, "HIGH:!aNULL");
	CHECK_STR(c->tls_ciphersuites, "TLS_AES_256_GCM_SHA384");
	CHECK(c->ntrusted_networks == 3);
	CHECK(c->allow_cleartext_without_tls);
	CHECK_STR(c->directory, "ldap");
	CHECK_STR(c->ldap_uris, "ldap://192.0.2.20 ldaps://192.0.2.21");
	CHECK_STR(c->ldap_base, "dc=example,dc=org");
	CHECK_STR(c->ldap_scope, "sub");
	CHECK_STR(c->ldap_attr_secret, "authPassword");
	CHECK_STR(c->users_file, "/tmp/users");
	CHECK_STR(c->store_root, "/srv/mail");
	CHECK_STR(c->sasl_mechanisms, "SCRAM-SHA-256 PLAIN");
	CHECK(c->krb5_keytab != NULL && strncmp(c->krb5_keytab, "FILE:", 5) == 0);
	CHECK_STR(c->krb5_service, "pop3");
	CHECK_STR(c->krb5_realms, "EXAMPLE.ORG AD.EXAMPLE.ORG");
}

/* directory = ldap without its two required keys is refused. */
static void
test_ldap_required(void)
{
	struct config *c = load("listen = pop3s 127.0.0.1:995\n"
	    "tls_cert = /dev/null\ntls_key = /dev/null\ndirectory = ldap\n");

	CHECK(c == NULL);
	CHECK(strstr(err, "ldap_uris and ldap_base") != NULL);
	config_free(c);
}

static void
test_full(void)
{
	char *text = full_config();
	struct config *c = load(text);

	CHECK(c != NULL);
	if (c == NULL) {
		fprintf(stderr, "  %s\n", err);
		free(text);
		return;
	}
	CHECK_STR(c->path, conf_path);
	check_full_listeners(c);
	check_full_values(c);
	config_free(c);
	free(text);
}

static char *
dump(const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	config_dump(c, fp);
	fclose(fp);
	return buf;
}

/* What config_dump writes, config_load reads back to the same config. */
static void
test_dump_roundtrip(void)
{
	char *text = full_config(), *d1, *d2;
	struct config *c1 = load(text), *c2;

	CHECK(c1 != NULL);
	if (c1 == NULL) {
		free(text);
		return;
	}
	d1 = dump(c1);
	c2 = load(d1);
	CHECK(c2 != NULL);
	d2 = c2 ? dump(c2) : xstrdup("");
	CHECK_STR(d1, d2);
	CHECK(strstr(d1, "listen = pop3s [::]:995\n") != NULL);
	CHECK(strstr(d1, "greeting = \"Example  POP3 # ready\"\n") != NULL);
	CHECK(strstr(d1, "trusted_networks = 10.0.0.0/8, 2001:db8::/32, "
	    "192.0.2.1/32\n") != NULL);
	config_free(c1);
	config_free(c2);
	free(d1);
	free(d2);
	free(text);
}

static void
test_listen_forms(void)
{
	struct config *c = load_tls(
	    "listen = pop3 0.0.0.0:0110\n"
	    "listen=pop3s [2001:DB8:0::1]:995\n"
	    "listen =   kpop\t[::ffff:192.0.2.1]:1109   \n"
	    "listen = \"pop3 127.0.0.1:1110\"\n"
	    "listen = pop3s *:65535\n"
	    "krb5_keytab = /nonexistent-is-fine-for-memory\n"
	    "krb5_realms = EXAMPLE.ORG\n");

	CHECK(c == NULL);	/* the keytab is not readable */
	CHECK(strstr(err, ":6: cannot read krb5_keytab") != NULL);
	config_free(c);
	c = load_tls("listen = pop3 0.0.0.0:0110\n"
	    "listen=pop3s [2001:DB8:0::1]:995\n"
	    "listen =   kpop\t[::ffff:192.0.2.1]:1109   \n"
	    "listen = \"pop3 127.0.0.1:1110\"\n"
	    "listen = pop3s *:65535\n"
	    "krb5_keytab = MEMORY:test\nkrb5_realms = EXAMPLE.ORG\n");
	CHECK(c != NULL && c->nlisteners == 5);
	if (c == NULL || c->nlisteners != 5)
		return;
	CHECK_STR(c->listeners[0].host, "0.0.0.0");
	CHECK_STR(c->listeners[0].port, "110");
	CHECK_STR(c->listeners[1].host, "2001:db8::1");
	CHECK_STR(c->listeners[2].host, "::ffff:192.0.2.1");
	CHECK(c->listeners[2].mode == LISTEN_KPOP);
	CHECK_STR(c->listeners[3].host, "127.0.0.1");
	CHECK_STR(c->listeners[4].host, "*");
	CHECK_STR(c->listeners[4].port, "65535");
	config_free(c);
}

static void
test_listen_errors(void)
{
	CHECK_ERR("listen = pop4 *:110\n",
	    ":1: unknown listener mode \"pop4\" (pop3, pop3s or kpop)");
	CHECK_ERR("listen = POP3 *:110\n",
	    ":1: unknown listener mode \"POP3\" (pop3, pop3s or kpop)");
	CHECK_ERR("listen = pop3 *:0\n", ":1: port 0 out of range (1-65535)");
	CHECK_ERR("listen = pop3 *:70000\n",
	    ":1: port 70000 out of range (1-65535)");
	CHECK_ERR("listen = pop3 *:99999999999999999999999\n",
	    ":1: port 99999999999999999999999 out of range (1-65535)");
	CHECK_ERR("listen = pop3 *:pop3\n",
	    ":1: port must be a number, not \"pop3\"");
	CHECK_ERR("listen = pop3 *:-1\n", ":1: port must be a number, not \"-1\"");
	CHECK_ERR("listen = pop3 *:\n", ":1: port must be a number, not \"\"");
	CHECK_ERR("listen = pop3 *\n", ":1: no port in \"*\"");
	CHECK_ERR("listen = pop3\n", ":1: listen needs \"MODE ADDRESS:PORT\"");
	CHECK_ERR("listen = pop3 *:110 x\n",
	    ":1: listen needs \"MODE ADDRESS:PORT\"");
	CHECK_ERR("listen = pop3 ::1:110\n",
	    ":1: IPv6 address \"::1\" must be in brackets");
	CHECK_ERR("listen = pop3 [::1]110\n",
	    ":1: bad address \"[::1]110\": expected [IPV6]:PORT");
	CHECK_ERR("listen = pop3 [::1\n",
	    ":1: bad address \"[::1\": expected [IPV6]:PORT");
	CHECK_ERR("listen = pop3 [192.0.2.1]:110\n",
	    ":1: invalid IPv6 address \"192.0.2.1\"");
	CHECK_ERR("listen = pop3 [*]:110\n", ":1: invalid IPv6 address \"*\"");
	CHECK_ERR("listen = pop3 300.1.2.3:110\n",
	    ":1: invalid IPv4 address \"300.1.2.3\"");
	CHECK_ERR("listen = pop3 localhost:110\n",
	    ":1: invalid IPv4 address \"localhost\"");
	CHECK_ERR("listen = pop3 :110\n", ":1: invalid IPv4 address \"\"");
	CHECK_ERR("listen = pop3 *:110\nlisten = pop3s *:110\n",
	    ":2: *:110 is already used by the listener on line 1");
	CHECK_ERR("listen = pop3 [::1]:110\nlisten = pop3 [0::1]:110\n",
	    ":2: [::1]:110 is already used by the listener on line 1");
}

static void
test_grammar(void)
{
	struct config *c = load_tls(
	    "# comment\n"
	    "   # indented comment\n"
	    "\n"
	    " \t \n"
	    "listen = pop3 *:110 # trailing comment\n"
	    "greeting = a#b  #c\n"
	    "\tuser=bob\t\n"
	    "hostname = \"pop.example.org\"   # quoted, then comment\n"
	    "krb5_realms = \"  A   B  \"\n"
	    "tls_ciphers = x \"y\" z\n");

	CHECK(c != NULL);
	if (c == NULL) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK_STR(c->greeting, "a#b");
	CHECK_STR(c->user, "bob");
	CHECK_STR(c->hostname, "pop.example.org");
	CHECK_STR(c->krb5_realms, "  A   B  ");
	CHECK_STR(c->tls_ciphers, "x \"y\" z");
	config_free(c);
}

static void
test_crlf(void)
{
	struct config *c = load_tls("listen = pop3 *:110\r\n\r\n"
	    "# dos\r\nuser = dos\r\n");

	CHECK(c != NULL);
	if (c != NULL)
		CHECK_STR(c->user, "dos");
	config_free(c);
}

static void
test_grammar_errors(void)
{
	CHECK_ERR("listen = pop3 *:110\nlistne = pop3 *:995\n",
	    ":2: unknown key \"listne\"");
	CHECK_ERR("Listen = pop3 *:110\n",
	    ":1: invalid key \"Listen\": keys are lowercase");
	CHECK_ERR("1user = x\n", ":1: invalid key \"1user\": keys are lowercase");
	CHECK_ERR("us-er = x\n", ":1: invalid key \"us-er\": keys are lowercase");
	CHECK_ERR("\xef\xbb\xbflisten = pop3 *:110\n",
	    ":1: invalid character in key");
	CHECK_ERR("us\x1b[2Jer = x\n", ":1: invalid character in key");
	CHECK_ERR("listen pop3 *:110\n", ":1: expected \"key = value\"");
	CHECK_ERR("= pop3\n", ":1: expected \"key = value\"");
	CHECK_ERR("user bob = x\n", ":1: expected \"key = value\"");
	CHECK_ERR("\n\nuser =\n", ":3: missing value for user");
	CHECK_ERR("user = # nobody\n", ":1: missing value for user");
	CHECK_ERR("user =# nobody\n", ":1: missing value for user");
	CHECK_ERR("user = \"\"\n", ":1: missing value for user");
	CHECK_ERR("greeting = \"hello\n", ":1: unterminated quote in greeting");
	CHECK_ERR("greeting = \"hello\" there\n",
	    ":1: unexpected text after the closing quote of greeting");
	CHECK_ERR("greeting = a\x01" "b\n",
	    ":1: control character in the value of greeting");
	CHECK_ERR("greeting = a\rb\n",
	    ":1: control character in the value of greeting");
	CHECK_ERR("user = a b\n", ":1: user must be a single word");
	CHECK_ERR("user = bob\nlisten = pop3 *:110\nuser = alice\n",
	    ":3: duplicate key \"user\" (first set on line 1)");
	CHECK_ERR("trusted_networks = 10.0.0.0/8\n"
	    "trusted_networks = 10.0.0.0/8\n",
	    ":2: duplicate key \"trusted_networks\" (first set on line 1)");
}

static void
test_raw_errors(void)
{
	static const char nul[] = "listen = pop3 *:110\nuser = a\0b\n";
	char *longline = xmalloc(5000);
	struct config *c;

	memset(longline, 'x', 4999);
	memcpy(longline, "greeting = ", 11);
	longline[4998] = '\n';
	longline[4999] = '\0';
	CHECK_ERR(longline, ":1: line longer than 4096 bytes");
	free(longline);

	make_temp(conf_path, sizeof(conf_path), "");
	{
		FILE *fp = fopen(conf_path, "w");

		fwrite(nul, 1, sizeof(nul) - 1, fp);
		fclose(fp);
	}
	c = config_load(conf_path, err, sizeof(err));
	unlink(conf_path);
	CHECK(c == NULL);
	CHECK(strstr(err, ":2: NUL byte in line") != NULL);

	c = config_load("/nonexistent/postern.conf", err, sizeof(err));
	CHECK(c == NULL);
	CHECK_STR(err, "/nonexistent/postern.conf: cannot open: "
	    "No such file or directory");
	CHECK(config_load("/nonexistent", NULL, 0) == NULL);
}

static void
test_numbers(void)
{
	CHECK_ERR("idle_timeout = 5\n", ":1: idle_timeout 5 out of range (10-86400)");
	CHECK_ERR("idle_timeout = 10m\n",
	    ":1: idle_timeout must be a number, not \"10m\"");
	CHECK_ERR("idle_timeout = +600\n",
	    ":1: idle_timeout must be a number, not \"+600\"");
	CHECK_ERR("idle_timeout = 0x258\n",
	    ":1: idle_timeout must be a number, not \"0x258\"");
	CHECK_ERR("max_workers = 0\n", ":1: max_workers 0 out of range (1-4096)");
	CHECK_ERR("login_delay = -1\n",
	    ":1: login_delay must be a number, not \"-1\"");
	CHECK_ERR("expire_days = soon\n",
	    ":1: expire_days must be a number, not \"soon\"");
	CHECK_ERR("expire_days = 10000\n",
	    ":1: expire_days 10000 out of range (0-9999)");
}

static void
test_values(void)
{
	struct config *c = load_tls("listen = pop3 *:110\nexpire_days = 0\n"
	    "allow_cleartext_without_tls = On\nidle_timeout = 10\n");

	CHECK(c != NULL && c->expire_days == 0);
	CHECK(c != NULL && c->allow_cleartext_without_tls);
	CHECK(c != NULL && c->idle_timeout == 10);
	config_free(c);
	c = load_tls("listen = pop3 *:110\nexpire_days = never\n"
	    "allow_cleartext_without_tls = 0\n");
	CHECK(c != NULL && c->expire_days == -1);
	CHECK(c != NULL && !c->allow_cleartext_without_tls);
	config_free(c);
	CHECK_ERR("allow_cleartext_without_tls = maybe\n",
	    ":1: allow_cleartext_without_tls must be yes or no, not \"maybe\"");
	CHECK_ERR("tls_min_version = TLSv1.1\n",
	    ":1: tls_min_version must be one of TLSv1.2, TLSv1.3, not \"TLSv1.1\"");
	CHECK_ERR("directory = sql\n",
	    ":1: directory must be one of file, ldap, not \"sql\"");
	CHECK_ERR("store_root = mail\n", ":1: store_root must be an absolute path");
	CHECK_ERR("pid_file = run/p.pid\n", ":1: pid_file must be an absolute path");
}

static void
test_trusted_networks(void)
{
	struct config *c = load_tls("listen = pop3 *:110\n"
	    "trusted_networks = 10.0.0.0/8,192.168.0.0/16 ,, 2001:db8::/32\t::1\n");
	struct sockaddr_in in = { .sin_family = AF_INET };

	CHECK(c != NULL && c->ntrusted_networks == 4);
	if (c == NULL || c->ntrusted_networks != 4)
		return;
	CHECK(c->trusted_networks[1].family == AF_INET);
	CHECK(c->trusted_networks[1].prefix == 16);
	CHECK(c->trusted_networks[3].family == AF_INET6);
	CHECK(c->trusted_networks[3].prefix == 128);
	inet_pton(AF_INET, "192.168.9.9", &in.sin_addr);
	CHECK(netblock_list_match(c->trusted_networks, c->ntrusted_networks,
	    (struct sockaddr *)&in));
	config_free(c);
	CHECK_ERR("trusted_networks = 10.0.0.0/8 10.0.0.0/33\n",
	    ":1: invalid network \"10.0.0.0/33\" in trusted_networks");
	CHECK_ERR("trusted_networks = 10.0.0.0/8 example.org\n",
	    ":1: invalid network \"example.org\" in trusted_networks");
	CHECK_ERR("trusted_networks = , ,\n",
	    ":1: trusted_networks lists no network");
}

static void
test_cross_checks(void)
{
	struct config *c;

	CHECK_ERR("user = x\n", ": no listener configured");
	CHECK_ERR("\n", ": no listener configured");
	CHECK_ERR("listen = pop3 *:110\nmin_spare_workers = 9\n",
	    ": min_spare_workers (9) exceeds max_spare_workers (8)");
	CHECK_ERR("listen = pop3 *:110\nmax_workers = 4\n",
	    ": max_spare_workers (8) exceeds max_workers (4)");
	CHECK_ERR("listen = pop3 *:110\nlisten = kpop *:1109\n",
	    ": the kpop listener on line 2 needs krb5_keytab");

	c = load("listen = pop3s *:995\n");
	CHECK(c == NULL);
	CHECK(strstr(err, ": the pop3s listener on line 1 needs tls_cert and "
	    "tls_key") != NULL);
	c = load("\nlisten = pop3 *:110\n");
	CHECK(c == NULL);
	CHECK(strstr(err, ": the pop3 listener on line 2 needs tls_cert and "
	    "tls_key (for STLS)") != NULL);
	c = load("listen = kpop *:1109\nkrb5_keytab = MEMORY:x\n"
	    "krb5_realms = EXAMPLE.ORG\n");
	CHECK(c != NULL && c->tls_cert == NULL);	/* kpop alone needs no TLS */
	config_free(c);
	c = load("listen = kpop *:1109\nkrb5_keytab = MEMORY:x\n");
	CHECK(c == NULL);	/* without realms every principal is refused */
	CHECK(strstr(err, "needs krb5_realms") != NULL);
	c = load("listen = pop3 *:110\ntls_cert = /nonexistent/cert.pem\n"
	    "tls_key = /nonexistent/key.pem\n");
	CHECK(c == NULL);
	CHECK(strstr(err, ":2: cannot read tls_cert \"/nonexistent/cert.pem\": "
	    "No such file or directory") != NULL);
}

static void
test_names(void)
{
	const char *p = conf_default_path();
	size_t n = strlen(p);

	CHECK(n > 21 && strcmp(p + n - 21, "/postern/postern.conf") == 0);
	CHECK(p[0] == '/');
	CHECK_STR(listener_mode_name(LISTEN_POP3), "pop3");
	CHECK_STR(listener_mode_name(LISTEN_POP3S), "pop3s");
	CHECK_STR(listener_mode_name(LISTEN_KPOP), "kpop");
	config_free(NULL);
}

static void
setup(void)
{
	make_temp(cert_path, sizeof(cert_path), "cert\n");
	make_temp(key_path, sizeof(key_path), "key\n");
	make_temp(keytab_path, sizeof(keytab_path), "keytab\n");
	snprintf(tls_lines, sizeof(tls_lines), "tls_cert = %s\ntls_key = %s\n",
	    cert_path, key_path);
}

int
main(void)
{
	setup();
	test_defaults();
	test_full();
	test_ldap_required();
	test_dump_roundtrip();
	test_listen_forms();
	test_listen_errors();
	test_grammar();
	test_crlf();
	test_grammar_errors();
	test_raw_errors();
	test_numbers();
	test_values();
	test_trusted_networks();
	test_cross_checks();
	test_names();
	unlink(cert_path);
	unlink(key_path);
	unlink(keytab_path);
	return check_done("test_conf");
}
