#include "config.h"

/* The SASL glue against the real libsasl2 client, in one process: PLAIN,
 * SCRAM-SHA-256/-1 (-PLUS), USER/PASS, the mechanism list, RFC 5034
 * initial responses and the error codes, with a temporary users file;
 * GSSAPI too, against a throwaway MIT KDC when one is installed. */

#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <crypt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <gssapi/gssapi.h>
#include <sasl/sasl.h>

#include "common/log.h"
#include "directory/directory.h"
#include "directory/verifier.h"
#include "sasl/psasl.h"
#include "tests/unit/check.h"

#define CB(fn) ((int (*)(void))(void (*)(void))(fn))

static char tmpdir[] = "/tmp/test_sasl.XXXXXX";
static char users_path[300];
static char users_away[300];
static char keytab_path[300];
static char keytab_away[300];
static pid_t kdc_pid = -1;
static bool kdc_ready;

/* One libsasl2 client connection. */
struct client {
	sasl_conn_t *conn;
	const char *authname;
	const char *authzid;
	const char *pass;
	sasl_secret_t *secret;
	sasl_callback_t cb[4];
	sasl_channel_binding_t cbind;
	gss_cred_id_t gss;
	/* First message the client sent, to look at the GS2 header. */
	char first[256];
};

/* The outcome of one exchange. */
struct result {
	enum psasl_status st;
	enum resp_code rc;
	int server_msgs;        /* challenges the server sent */
	bool client_failed;     /* the client refused a server message */
};

static const struct psasl_cbind cb_tls = {
	"tls-exporter",
	{ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 },
	32,
};

static const unsigned char cb_other[32] = { 9, 9, 9 };

/* Test fixture: users file and global init */

/* SHA-512 crypt rather than the default yescrypt, which is slow by design
 * (and slower under ASan): the glue doesn't care which hash it is. */
static char *
sha512_crypt(const char *pw)
{
	struct crypt_data cd;
	char *h;

	memset(&cd, 0, sizeof(cd));
	h = crypt_r(pw, "$6$rounds=1000$postern.test$", &cd);
	return h != NULL && h[0] == '$' ? strdup(h) : NULL;
}

static void
write_users(void)
{
	char *a256, *a1, *acr, *b256, *b1, *ccr;
	FILE *f;

	a256 = scram_verifier_make("SCRAM-SHA-256", "alice pw", 0);
	a1 = scram_verifier_make("SCRAM-SHA-1", "alice pw", 0);
	acr = sha512_crypt("alice pw");
	b256 = scram_verifier_make("SCRAM-SHA-256", "bobpw", 0);
	b1 = scram_verifier_make("SCRAM-SHA-1", "bobpw", 0);
	ccr = sha512_crypt("carolpw");
	if (!a256 || !a1 || !acr || !b256 || !b1 || !ccr) {
		fprintf(stderr, "cannot make verifiers\n");
		exit(1);
	}
	snprintf(users_path, sizeof(users_path), "%s/users", tmpdir);
	snprintf(users_away, sizeof(users_away), "%s/users.away", tmpdir);
	if ((f = fopen(users_path, "w")) == NULL) {
		perror(users_path);
		exit(1);
	}
	fprintf(f, "alice maildrop=alice status=enabled scram-sha-256=%s "
	    "scram-sha-1=%s crypt=%s\n", a256, a1, acr);
	/* Disabled: SASL must treat it like any user (the session checks). */
	fprintf(f, "bob status=disabled scram-sha-256=%s scram-sha-1=%s\n",
	    b256, b1);
	/* No SCRAM verifier: SCRAM fails at the proof, PLAIN works. */
	fprintf(f, "carol crypt=%s\n", ccr);
	fclose(f);
	free(a256);
	free(a1);
	free(acr);
	free(b256);
	free(b1);
	free(ccr);
}

static int
client_confpath(void *ctx, const char **path)
{
	(void)ctx;
	*path = "/dev/null";
	return SASL_OK;
}

static int
client_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (log_verbose && level <= SASL_LOG_NOTE)
		fprintf(stderr, "client sasl: %s\n", msg);
	return SASL_OK;
}

/* Keep libsasl2's GS2 plugin out of the client too: it never frees what
 * it allocates at init, and ASan would blame us. */
static int
client_verifyfile(void *ctx, const char *file, sasl_verify_type_t type)
{
	(void)ctx;
	if (type == SASL_VRFY_PLUGIN && strstr(file, "/libgs2.") != NULL)
		return SASL_NOMECH;
	return SASL_OK;
}

static const sasl_callback_t client_global_cb[] = {
	{ SASL_CB_GETCONFPATH, CB(client_confpath), NULL },
	{ SASL_CB_VERIFYFILE, CB(client_verifyfile), NULL },
	{ SASL_CB_LOG, CB(client_log), NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

/* A throwaway MIT realm for GSSAPI (PROTOCOLS.md §6): KDC on a loopback
 * port, alice with a ticket in a private ccache, pop/localhost in a keytab.
 * Skipped, with a note, where the KDC tools are not installed. */

static bool
sh(const char *cmd)
{
	return system(cmd) == 0;
}

static bool
kadmin(const char *query)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "/usr/sbin/kadmin.local -r POSTERN.TEST "
	    "-q '%s' >/dev/null 2>&1", query);
	return sh(cmd);
}

static void
kdc_write_conf(unsigned port)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/krb5.conf", tmpdir);
	if ((f = fopen(path, "w")) == NULL)
		return;
	fprintf(f, "[libdefaults]\n default_realm = POSTERN.TEST\n"
	    " dns_lookup_kdc = false\n dns_lookup_realm = false\n"
	    " dns_canonicalize_hostname = false\n rdns = false\n"
	    " qualify_shortname = \"\"\n udp_preference_limit = 1\n"
	    "[realms]\n POSTERN.TEST = {\n  kdc = 127.0.0.1:%u\n }\n"
	    "[domain_realm]\n localhost = POSTERN.TEST\n", port);
	fclose(f);
	snprintf(path, sizeof(path), "%s/kdc.conf", tmpdir);
	if ((f = fopen(path, "w")) == NULL)
		return;
	fprintf(f, "[kdcdefaults]\n kdc_listen = 127.0.0.1:%u\n"
	    " kdc_tcp_listen = 127.0.0.1:%u\n[realms]\n POSTERN.TEST = {\n"
	    "  database_name = %s/principal\n  key_stash_file = %s/stash\n"
	    "  acl_file = %s/kadm5.acl\n  supported_enctypes = "
	    "aes256-cts-hmac-sha1-96:normal\n }\n"
	    "[logging]\n kdc = FILE:%s/kdc.log\n", port, port, tmpdir,
	    tmpdir, tmpdir, tmpdir);
	fclose(f);
}

static void
kdc_env(void)
{
	char v[300];

	snprintf(v, sizeof(v), "%s/krb5.conf", tmpdir);
	setenv("KRB5_CONFIG", v, 1);
	snprintf(v, sizeof(v), "%s/kdc.conf", tmpdir);
	setenv("KRB5_KDC_PROFILE", v, 1);
	snprintf(v, sizeof(v), "FILE:%s/ccache", tmpdir);
	setenv("KRB5CCNAME", v, 1);
	setenv("KRB5RCACHEDIR", tmpdir, 1);
}

static bool
kdc_run(void)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	int i;

	if ((kdc_pid = fork()) == -1)
		return false;
	if (kdc_pid == 0) {
		/* Don't outlive an interrupted test. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execl("/usr/sbin/krb5kdc", "krb5kdc", "-n", "-r",
		    "POSTERN.TEST", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 30; i++) {
		nanosleep(&ts, NULL);
		if (sh("echo alicepw | /usr/bin/kinit alice >/dev/null 2>&1"))
			return true;
	}
	kill(kdc_pid, SIGTERM);
	waitpid(kdc_pid, NULL, 0);
	kdc_pid = -1;
	return false;
}

static void
kdc_setup(void)
{
	unsigned port = 30000 + (unsigned)getpid() % 20000;
	char cmd[512], ktadd[400];
	int tries;

	snprintf(keytab_path, sizeof(keytab_path), "%s/pop.keytab", tmpdir);
	snprintf(keytab_away, sizeof(keytab_away), "%s/pop.away", tmpdir);
	kdc_env();
	if (access("/usr/sbin/krb5kdc", X_OK) != 0 ||
	    access("/usr/sbin/kdb5_util", X_OK) != 0) {
		printf("test_sasl: no MIT KDC, GSSAPI login skipped\n");
		return;
	}
	kdc_write_conf(port);
	snprintf(cmd, sizeof(cmd), "cd '%s' && touch kadm5.acl && "
	    "/usr/sbin/kdb5_util create -s -r POSTERN.TEST -P masterpw "
	    ">/dev/null 2>&1", tmpdir);
	snprintf(ktadd, sizeof(ktadd), "ktadd -k %s pop/localhost",
	    keytab_path);
	if (!sh(cmd) || !kadmin("addprinc -pw alicepw alice") ||
	    !kadmin("addprinc -randkey pop/localhost") || !kadmin(ktadd)) {
		printf("test_sasl: cannot create a test realm, GSSAPI login "
		    "skipped\n");
		return;
	}
	for (tries = 0; tries < 3 && !kdc_ready; tries++, port += 7) {
		kdc_write_conf(port);
		kdc_ready = kdc_run();
	}
	if (!kdc_ready)
		printf("test_sasl: KDC did not start, GSSAPI login skipped\n");
}

static void
kdc_stop(void)
{
	if (kdc_pid > 0) {
		kill(kdc_pid, SIGTERM);
		waitpid(kdc_pid, NULL, 0);
	}
}

/* libsasl2 client callbacks */

static int
client_simple(void *ctx, int id, const char **result, unsigned *len)
{
	struct client *c = ctx;

	if (id == SASL_CB_AUTHNAME)
		*result = c->authname;
	else if (id == SASL_CB_USER)
		*result = c->authzid != NULL ? c->authzid : "";
	else
		return SASL_BADPARAM;
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int
client_secret(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **psecret)
{
	struct client *c = ctx;
	size_t n = strlen(c->pass);

	(void)conn;
	if (id != SASL_CB_PASS)
		return SASL_BADPARAM;
	free(c->secret);
	c->secret = malloc(sizeof(sasl_secret_t) + n);
	c->secret->len = n;
	memcpy(c->secret->data, c->pass, n + 1);
	*psecret = c->secret;
	return SASL_OK;
}

static void
client_open(struct client *c, const char *authname, const char *authzid,
    const char *pass, const unsigned char *cbdata)
{
	sasl_security_properties_t sp;
	OM_uint32 minor;

	memset(c, 0, sizeof(*c));
	c->gss = GSS_C_NO_CREDENTIAL;
	c->authname = authname;
	c->authzid = authzid;
	c->pass = pass;
	c->cb[0] = (sasl_callback_t){ SASL_CB_AUTHNAME, CB(client_simple), c };
	c->cb[1] = (sasl_callback_t){ SASL_CB_USER, CB(client_simple), c };
	c->cb[2] = (sasl_callback_t){ SASL_CB_PASS, CB(client_secret), c };
	c->cb[3] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
	if (sasl_client_new("pop", "localhost", NULL, NULL, c->cb, 0,
	    &c->conn) != SASL_OK) {
		fprintf(stderr, "sasl_client_new failed\n");
		exit(1);
	}
	memset(&sp, 0, sizeof(sp));
	sasl_setprop(c->conn, SASL_SEC_PROPS, &sp);
	if (cbdata != NULL) {
		c->cbind = (sasl_channel_binding_t){ "tls-exporter", 0, 32,
		    cbdata };
		sasl_setprop(c->conn, SASL_CHANNEL_BINDING, &c->cbind);
	}
	/* libsasl2's GSSAPI client never releases credentials it acquires
	 * itself: hand it ours (and release them) to keep ASan quiet. */
	if (kdc_ready && gss_acquire_cred(&minor, GSS_C_NO_NAME,
	    GSS_C_INDEFINITE, GSS_C_NO_OID_SET, GSS_C_INITIATE, &c->gss,
	    NULL, NULL) == GSS_S_COMPLETE)
		sasl_setprop(c->conn, SASL_GSS_CREDS, c->gss);
}

static void
client_close(struct client *c)
{
	OM_uint32 minor;

	sasl_dispose(&c->conn);
	free(c->secret);
	if (c->gss != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&minor, &c->gss);
}

static struct psasl *
server_open(bool cleartext_ok, const struct psasl_cbind *cb)
{
	struct psasl_conn_options o = {
		.fqdn = "localhost",
		.local_ipport = "127.0.0.1;110",
		.remote_ipport = "127.0.0.1;40000",
		.tls_ssf = cb != NULL ? 256 : 0,
		.cleartext_ok = cleartext_ok,
		.cbind = cb,
	};
	struct psasl *s = psasl_new(&o);

	if (s == NULL) {
		fprintf(stderr, "psasl_new failed\n");
		exit(1);
	}
	return s;
}

/* Runs an exchange: the client picks from mechlist; ir says whether it
 * may send an initial response. */
static struct result
run(struct psasl *s, struct client *c, const char *mechlist, bool ir)
{
	struct result res = { PSASL_FAIL, RC_NONE, 0, false };
	const char *cout = NULL, *mech = NULL;
	const unsigned char *sout;
	unsigned coutlen = 0;
	size_t soutlen;
	int r;

	r = sasl_client_start(c->conn, mechlist, NULL, ir ? &cout : NULL,
	    ir ? &coutlen : NULL, &mech);
	if (r != SASL_OK && r != SASL_CONTINUE) {
		fprintf(stderr, "sasl_client_start(%s): %s\n", mechlist,
		    sasl_errdetail(c->conn));
		res.client_failed = true;
		return res;
	}
	if (cout != NULL)
		snprintf(c->first, sizeof(c->first), "%.*s", (int)coutlen,
		    cout);
	/* libsasl2's client names the base mechanism even when it binds:
	 * send what was asked for, as a POP3 client would. */
	if (strchr(mechlist, ' ') == NULL)
		mech = mechlist;
	res.st = psasl_start(s, mech, (const unsigned char *)cout, coutlen,
	    cout != NULL, &sout, &soutlen, &res.rc);
	while (res.st == PSASL_CONTINUE) {
		res.server_msgs++;
		r = sasl_client_step(c->conn, (const char *)sout,
		    (unsigned)soutlen, NULL, &cout, &coutlen);
		if (r != SASL_OK && r != SASL_CONTINUE) {
			res.client_failed = true;
			psasl_cancel(s);
			return res;
		}
		if (c->first[0] == '\0' && cout != NULL)
			snprintf(c->first, sizeof(c->first), "%.*s",
			    (int)coutlen, cout);
		res.st = psasl_step(s, (const unsigned char *)cout, coutlen,
		    &sout, &soutlen, &res.rc);
	}
	return res;
}

/* One fresh client and server connection, one exchange. */
static struct result
login(const char *mechlist, const char *user, const char *authzid,
    const char *pass, const struct psasl_cbind *scb,
    const unsigned char *ccb, char *username, size_t ulen)
{
	struct client c;
	struct psasl *s = server_open(true, scb);
	struct result res;

	client_open(&c, user, authzid, pass, ccb);
	res = run(s, &c, mechlist, true);
	if (username != NULL)
		snprintf(username, ulen, "%s", res.st == PSASL_OK ?
		    psasl_username(s) : "");
	client_close(&c);
	psasl_free(s);
	return res;
}

/* Tests */

static void
test_mechlist(void)
{
	struct psasl *s;
	enum resp_code rc;
	const unsigned char *out;
	size_t outlen;

	s = server_open(true, NULL);
	CHECK_STR(psasl_mechlist(s), "SCRAM-SHA-256 SCRAM-SHA-1 GSSAPI PLAIN");
	CHECK(psasl_start(s, "SCRAM-SHA-256-PLUS", NULL, 0, false, &out,
	    &outlen, &rc) == PSASL_NOMECH);
	CHECK(psasl_start(s, "CRAM-MD5", NULL, 0, false, &out, &outlen,
	    &rc) == PSASL_NOMECH);
	CHECK(psasl_start(s, "", NULL, 0, false, &out, &outlen, &rc) ==
	    PSASL_NOMECH);
	psasl_free(s);

	/* Before TLS: no PLAIN, no PLUS. */
	s = server_open(false, NULL);
	CHECK_STR(psasl_mechlist(s), "SCRAM-SHA-256 SCRAM-SHA-1 GSSAPI");
	CHECK(psasl_start(s, "PLAIN", NULL, 0, false, &out, &outlen, &rc) ==
	    PSASL_NOMECH);
	CHECK(psasl_start(s, "plain", NULL, 0, false, &out, &outlen, &rc) ==
	    PSASL_NOMECH);
	psasl_free(s);

	/* With a binding: -PLUS before each SCRAM, never GSSAPI-PLUS. */
	s = server_open(true, &cb_tls);
	CHECK_STR(psasl_mechlist(s), "SCRAM-SHA-256-PLUS SCRAM-SHA-256 "
	    "SCRAM-SHA-1-PLUS SCRAM-SHA-1 GSSAPI PLAIN");
	CHECK(psasl_start(s, "GSSAPI-PLUS", NULL, 0, false, &out, &outlen,
	    &rc) == PSASL_NOMECH);
	/* Mechanism names are case-insensitive. */
	CHECK(psasl_start(s, "scram-sha-256-plus", NULL, 0, false, &out,
	    &outlen, &rc) == PSASL_CONTINUE);
	CHECK(outlen == 0);
	/* -PLUS chosen, but no binding sent: refused. */
	CHECK(psasl_step(s, (const unsigned char *)"n,,n=alice,r=abcdef", 19,
	    &out, &outlen, &rc) == PSASL_FAIL && rc == RC_AUTH);
	psasl_free(s);

	/* TLS, but the policy still says no cleartext. */
	s = server_open(false, &cb_tls);
	CHECK_STR(psasl_mechlist(s), "SCRAM-SHA-256-PLUS SCRAM-SHA-256 "
	    "SCRAM-SHA-1-PLUS SCRAM-SHA-1 GSSAPI");
	psasl_free(s);
}

static void
test_plain(void)
{
	char user[64];
	struct result r;

	r = login("PLAIN", "alice", NULL, "alice pw", NULL, NULL, user,
	    sizeof(user));
	CHECK(r.st == PSASL_OK);
	CHECK_STR(user, "alice");
	r = login("PLAIN", "alice", NULL, "alice pW", NULL, NULL, NULL, 0);
	CHECK(r.st == PSASL_FAIL && r.rc == RC_AUTH);
	r = login("PLAIN", "nobody", NULL, "alice pw", NULL, NULL, NULL, 0);
	CHECK(r.st == PSASL_FAIL && r.rc == RC_AUTH);
	/* Crypt hash only. */
	r = login("PLAIN", "carol", NULL, "carolpw", NULL, NULL, NULL, 0);
	CHECK(r.st == PSASL_OK);
	/* Disabled accounts authenticate; the session refuses them. */
	r = login("PLAIN", "bob", NULL, "bobpw", NULL, NULL, NULL, 0);
	CHECK(r.st == PSASL_OK);
	/* Configured realm stripped, others kept. */
	r = login("PLAIN", "alice@POSTERN.TEST", NULL, "alice pw", NULL, NULL,
	    user, sizeof(user));
	CHECK(r.st == PSASL_OK);
	CHECK_STR(user, "alice");
	r = login("PLAIN", "alice@OTHER.TEST", NULL, "alice pw", NULL, NULL,
	    NULL, 0);
	CHECK(r.st == PSASL_FAIL && r.rc == RC_AUTH);
	/* Authorization identity: oneself only. */
	r = login("PLAIN", "alice", "alice", "alice pw", NULL, NULL, user,
	    sizeof(user));
	CHECK(r.st == PSASL_OK);
	r = login("PLAIN", "alice", "bob", "alice pw", NULL, NULL, NULL, 0);
	CHECK(r.st == PSASL_FAIL && r.rc == RC_AUTH);
}

static void
test_scram(void)
{
	static const char *const mechs[] = { "SCRAM-SHA-256", "SCRAM-SHA-1" };
	struct result r, unknown;
	char user[64];
	size_t i;

	for (i = 0; i < 2; i++) {
		r = login(mechs[i], "alice", NULL, "alice pw", NULL, NULL, user,
		    sizeof(user));
		CHECK(r.st == PSASL_OK);
		/* server-first, then server-final as a challenge. */
		CHECK(r.server_msgs == 2);
		CHECK_STR(user, "alice");
		r = login(mechs[i], "alice", NULL, "wrong", NULL, NULL, NULL,
		    0);
		CHECK(r.st == PSASL_FAIL && r.rc == RC_AUTH);
		CHECK(r.server_msgs == 1);
		/* Unknown user: a server-first message like anyone else's,
		 * failure only at the proof, with the same code. */
		unknown = login(mechs[i], "nobody", NULL, "wrong", NULL, NULL,
		    NULL, 0);
		CHECK(unknown.st == r.st && unknown.rc == r.rc);
		CHECK(unknown.server_msgs == r.server_msgs);
		CHECK(!unknown.client_failed);
		/* A user without SCRAM verifiers looks the same. */
		unknown = login(mechs[i], "carol", NULL, "carolpw", NULL, NULL,
		    NULL, 0);
		CHECK(unknown.st == r.st && unknown.rc == r.rc);
		CHECK(unknown.server_msgs == r.server_msgs);
		/* Disabled users get their real verifiers. */
		r = login(mechs[i], "bob", NULL, "bobpw", NULL, NULL, NULL, 0);
		CHECK(r.st == PSASL_OK);
	}
	/* The Cyrus client sends a=alice itself: allowed. a=bob is not. */
	r = login("SCRAM-SHA-256", "alice", "alice", "alice pw", NULL, NULL,
	    NULL, 0);
	CHECK(r.st == PSASL_OK);
	r = login("SCRAM-SHA-256", "alice", "bob", "alice pw", NULL, NULL,
	    NULL, 0);
	CHECK(r.st == PSASL_FAIL && r.rc == RC_AUTH);
}

static void
test_unknown_same_challenge(void)
{
	const unsigned char *out;
	size_t outlen;
	enum resp_code rc;
	struct psasl *s = server_open(true, NULL);
	const char *cf = "n,,n=nobody,r=abcdefghijklmnop";
	char first[256];

	/* The fake verifier's salt is stable: a second look at the same
	 * unknown name gives the same salt, as it would for a real user. */
	CHECK(psasl_start(s, "SCRAM-SHA-256", (const unsigned char *)cf,
	    strlen(cf), true, &out, &outlen, &rc) == PSASL_CONTINUE);
	CHECK(outlen > 0 && outlen < sizeof(first));
	snprintf(first, sizeof(first), "%.*s", (int)outlen, out);
	CHECK(strstr(first, ",s=") != NULL && strstr(first, ",i=4096") != NULL);
	psasl_cancel(s);
	CHECK(psasl_start(s, "SCRAM-SHA-256", (const unsigned char *)cf,
	    strlen(cf), true, &out, &outlen, &rc) == PSASL_CONTINUE);
	CHECK(outlen > 0 && strstr((const char *)out, ",s=") != NULL &&
	    strcmp(strstr((const char *)out, ",s="), strstr(first, ",s=")) ==
	    0);
	psasl_free(s);
}

static void
test_scram_plus(void)
{
	struct client c;
	struct psasl *s;
	struct result r;
	char user[64];

	r = login("SCRAM-SHA-256-PLUS", "alice", NULL, "alice pw", &cb_tls,
	    cb_tls.data, user, sizeof(user));
	CHECK(r.st == PSASL_OK);
	CHECK_STR(user, "alice");
	r = login("SCRAM-SHA-1-PLUS", "alice", NULL, "alice pw", &cb_tls,
	    cb_tls.data, NULL, 0);
	CHECK(r.st == PSASL_OK);
	/* Different binding data: a man in the middle. */
	r = login("SCRAM-SHA-256-PLUS", "alice", NULL, "alice pw", &cb_tls,
	    cb_other, NULL, 0);
	CHECK(r.st == PSASL_FAIL && r.rc == RC_AUTH);
	/* Client without binding data on a server with one: fine. */
	r = login("SCRAM-SHA-256", "alice", NULL, "alice pw", &cb_tls, NULL,
	    NULL, 0);
	CHECK(r.st == PSASL_OK);

	/* The client can bind but was offered no -PLUS: it sends "y", and a
	 * server that has a binding must refuse (downgrade). */
	s = server_open(true, &cb_tls);
	client_open(&c, "alice", NULL, "alice pw", cb_tls.data);
	r = run(s, &c, "SCRAM-SHA-256 SCRAM-SHA-1", true);
	CHECK(strncmp(c.first, "y,", 2) == 0);
	CHECK(r.st == PSASL_FAIL && r.rc == RC_AUTH);
	CHECK(psasl_username(s) == NULL);
	client_close(&c);
	psasl_free(s);

	/* The mechanism name is reported with its -PLUS. */
	s = server_open(true, &cb_tls);
	client_open(&c, "alice", NULL, "alice pw", cb_tls.data);
	r = run(s, &c, "SCRAM-SHA-256-PLUS", true);
	CHECK(r.st == PSASL_OK);
	CHECK_STR(psasl_mechname(s), "SCRAM-SHA-256-PLUS");
	CHECK_STR(psasl_authid(s), "alice");
	client_close(&c);
	psasl_free(s);
}

static void
test_initial_response(void)
{
	const unsigned char *out;
	size_t outlen;
	enum resp_code rc;
	struct psasl *s;
	struct client c;
	struct result r;
	static const char plain[] = "\0alice\0alice pw";

	/* PLAIN "=": an empty response is malformed. */
	s = server_open(true, NULL);
	CHECK(psasl_start(s, "PLAIN", (const unsigned char *)"", 0, true, &out,
	    &outlen, &rc) == PSASL_FAIL && rc == RC_AUTH);
	/* PLAIN without one: "+ " and then the credentials. */
	CHECK(psasl_start(s, "PLAIN", NULL, 0, false, &out, &outlen, &rc) ==
	    PSASL_CONTINUE && out != NULL && outlen == 0);
	CHECK(psasl_step(s, (const unsigned char *)plain, sizeof(plain) - 1,
	    &out, &outlen, &rc) == PSASL_OK);
	CHECK_STR(psasl_username(s), "alice");
	CHECK_STR(psasl_mechname(s), "PLAIN");
	/* Only one success per connection. */
	CHECK(psasl_start(s, "PLAIN", (const unsigned char *)plain,
	    sizeof(plain) - 1, true, &out, &outlen, &rc) == PSASL_FAIL &&
	    rc == RC_NONE);
	psasl_free(s);

	/* SCRAM "=": an empty challenge, then the client-first message. */
	s = server_open(true, NULL);
	client_open(&c, "alice", NULL, "alice pw", NULL);
	CHECK(psasl_start(s, "SCRAM-SHA-256", (const unsigned char *)"", 0,
	    true, &out, &outlen, &rc) == PSASL_CONTINUE && outlen == 0);
	psasl_cancel(s);
	r = run(s, &c, "SCRAM-SHA-256", false);
	CHECK(r.st == PSASL_OK && r.server_msgs == 3);
	client_close(&c);
	psasl_free(s);

	/* GSSAPI "=" is refused before libsasl2 sees it. */
	s = server_open(true, NULL);
	CHECK(psasl_start(s, "GSSAPI", (const unsigned char *)"", 0, true,
	    &out, &outlen, &rc) == PSASL_FAIL && rc == RC_AUTH);
	/* No exchange under way. */
	CHECK(psasl_step(s, (const unsigned char *)"x", 1, &out, &outlen,
	    &rc) == PSASL_FAIL && rc == RC_NONE);
	/* Failed attempts don't spoil the connection. */
	CHECK(psasl_start(s, "PLAIN", (const unsigned char *)plain,
	    sizeof(plain) - 1, true, &out, &outlen, &rc) == PSASL_OK);
	psasl_free(s);
}

static void
test_checkpass(void)
{
	enum resp_code rc;
	struct psasl *s;

	s = server_open(true, NULL);
	CHECK(psasl_checkpass(s, "alice", "wrong", &rc) == PSASL_FAIL &&
	    rc == RC_AUTH);
	CHECK(psasl_username(s) == NULL);
	CHECK(psasl_checkpass(s, "nobody", "alice pw", &rc) == PSASL_FAIL &&
	    rc == RC_AUTH);
	CHECK(psasl_checkpass(s, "alice", "", &rc) == PSASL_FAIL &&
	    rc == RC_AUTH);
	CHECK(psasl_checkpass(s, "", "alice pw", &rc) == PSASL_FAIL &&
	    rc == RC_AUTH);
	CHECK(psasl_checkpass(s, "  ", "alice pw", &rc) == PSASL_FAIL &&
	    rc == RC_AUTH);
	CHECK(psasl_checkpass(s, "ali\tce", "alice pw", &rc) == PSASL_FAIL &&
	    rc == RC_AUTH);
	CHECK(psasl_checkpass(s, "alice@POSTERN.TEST", "alice pw", &rc) ==
	    PSASL_OK);
	CHECK_STR(psasl_username(s), "alice");
	CHECK_STR(psasl_authid(s), "alice");
	CHECK_STR(psasl_mechname(s), "USER");
	CHECK(psasl_checkpass(s, "alice", "alice pw", &rc) == PSASL_FAIL &&
	    rc == RC_NONE);
	psasl_free(s);

	/* No SASL connection (psasl_new failed): [SYS/TEMP], no crash. */
	CHECK_STR(psasl_mechlist(NULL), "");
	CHECK(psasl_checkpass(NULL, "alice", "alice pw", &rc) == PSASL_FAIL &&
	    rc == RC_SYS_TEMP);
	CHECK(psasl_username(NULL) == NULL);

	/* Cleartext not allowed now: refused whatever the password. */
	s = server_open(false, NULL);
	CHECK(psasl_checkpass(s, "alice", "alice pw", &rc) == PSASL_FAIL &&
	    rc == RC_AUTH);
	psasl_free(s);
}

static void
test_gssapi(void)
{
	const unsigned char *out;
	size_t outlen;
	enum resp_code rc;
	struct psasl *s;
	struct result r;
	char user[64];

	/* No keytab: a server problem, [SYS/TEMP], logged. */
	(void)rename(keytab_path, keytab_away);
	s = server_open(true, NULL);
	CHECK(psasl_start(s, "GSSAPI", NULL, 0, false, &out, &outlen, &rc) ==
	    PSASL_FAIL && rc == RC_SYS_TEMP);
	psasl_free(s);
	if (!kdc_ready)
		return;
	CHECK(rename(keytab_away, keytab_path) == 0);

	r = login("GSSAPI", "", NULL, "", NULL, NULL, user, sizeof(user));
	CHECK(r.st == PSASL_OK && !r.client_failed);
	CHECK_STR(user, "alice");
	/* Again, with the credentials this worker now keeps. */
	r = login("GSSAPI", "", NULL, "", NULL, NULL, user, sizeof(user));
	CHECK(r.st == PSASL_OK && r.server_msgs == 2);
	/* Only acting as oneself. */
	r = login("GSSAPI", "", "bob", "", NULL, NULL, NULL, 0);
	CHECK(r.st == PSASL_FAIL && r.rc == RC_AUTH);
	/* A garbage token is the client's fault. */
	s = server_open(true, NULL);
	CHECK(psasl_start(s, "GSSAPI", (const unsigned char *)"\x60\x01x", 3,
	    true, &out, &outlen, &rc) == PSASL_FAIL && rc == RC_AUTH);
	psasl_free(s);
}

/* With the directory down, every path says [SYS/TEMP], never [AUTH]. */
static void
test_tempfail(void)
{
	const unsigned char *out;
	size_t outlen;
	enum resp_code rc;
	struct psasl *s;
	struct result r;
	static const char plain[] = "\0alice\0alice pw";
	const char *cf = "n,,n=alice,r=abcdefghijklmnop";

	if (rename(users_path, users_away) != 0) {
		perror("rename");
		CHECK(0);
		return;
	}
	s = server_open(true, NULL);
	CHECK(psasl_checkpass(s, "alice", "alice pw", &rc) == PSASL_FAIL &&
	    rc == RC_SYS_TEMP);
	CHECK(psasl_start(s, "PLAIN", (const unsigned char *)plain,
	    sizeof(plain) - 1, true, &out, &outlen, &rc) == PSASL_FAIL &&
	    rc == RC_SYS_TEMP);
	CHECK(psasl_start(s, "SCRAM-SHA-256", (const unsigned char *)cf,
	    strlen(cf), true, &out, &outlen, &rc) == PSASL_FAIL &&
	    rc == RC_SYS_TEMP);
	CHECK(psasl_errdetail(s)[0] != '\0');
	psasl_free(s);
	r = login("SCRAM-SHA-1", "nobody", NULL, "x", NULL, NULL, NULL, 0);
	CHECK(r.st == PSASL_FAIL && r.rc == RC_SYS_TEMP);
	if (rename(users_away, users_path) != 0)
		perror("rename");
	r = login("PLAIN", "alice", NULL, "alice pw", NULL, NULL, NULL, 0);
	CHECK(r.st == PSASL_OK);
}

int
main(void)
{
	struct psasl_global_options go = {
		.service = "pop",
		.mechanisms = "SCRAM-SHA-256 scram-sha-1, GSSAPI PLAIN "
		    "GSSAPI-PLUS",
		.keytab = keytab_path,
		.realms = "POSTERN.TEST",
	};
	struct directory_file_options fo;
	struct directory *dir;
	char cmd[400];
	int rc;

	log_verbose = getenv("TEST_VERBOSE") != NULL;
	log_open("test_sasl", LOG_USER, log_verbose);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	write_users();
	kdc_setup();
	fo = (struct directory_file_options){ users_path, tmpdir };
	if ((dir = directory_file_open(&fo)) == NULL) {
		fprintf(stderr, "directory_file_open failed\n");
		return 1;
	}
	CHECK(psasl_global_init(&go, dir));
	CHECK(sasl_client_init(client_global_cb) == SASL_OK);

	test_mechlist();
	test_plain();
	test_scram();
	test_unknown_same_challenge();
	test_scram_plus();
	test_initial_response();
	test_checkpass();
	test_gssapi();
	test_tempfail();

	psasl_global_done();
	sasl_client_done();
	directory_close(dir);
	kdc_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	sh(cmd);
	rc = check_done("test_sasl");
	return rc;
}
