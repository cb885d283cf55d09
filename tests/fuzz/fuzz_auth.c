#include "config.h"

/* libFuzzer target: the AUTH path. Each input is used three ways:
 * - as bytes: base64_decode(base64_encode(x)) == x;
 * - as an AUTH argument: strict base64_decode() of the text, which a
 *   second encode and decode must not change;
 * - as a SASL exchange through sasl/psasl.c and the real libsasl2 plugins
 *   against a users file: byte 0 picks the mechanism and the connection's
 *   flags, the rest, split at '\n', are the client's decoded messages
 *   (initial response, then each step).
 * No network: libsasl2 only loads its plugins and calls our callbacks.
 *
 * checkpass_init() makes a yescrypt decoy hash, and every PLAIN attempt for
 * an unknown user is checked against it: tens of milliseconds each. The
 * build links this target with -Wl,--wrap=crypt_hash_make so the decoy is
 * a cheap SHA-512 one, like the users' hashes here.
 *
 * LOGIN is not configured: Debian's LOGIN plugin (cyrus-sasl 2.1.28)
 * leaks its copy of the password, unwiped, whenever the user name sent is
 * empty, and the leak checks that follow such inputs slow the run
 * fourfold. It checks the password through the same callback as PLAIN;
 * asking for it here tests the "not offered" path. */

#include <crypt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/xmalloc.h"
#include "directory/directory.h"
#include "directory/verifier.h"
#include "sasl/psasl.h"
#include "tests/fuzz/fuzz.h"

char *__wrap_crypt_hash_make(const char *password);

/* Few rounds: the hash is checked once per input. */
#define FUZZ_CRYPT_SETTING	"$6$rounds=1000$fuzzsalt$"
#define FUZZ_SCRAM_ITER		16
#define FUZZ_MAX_STEPS		4

static char users_path[256];
static struct directory *dir;

static const char *const mechs[] = {
	"PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-1",
	"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "GSSAPI", "plain",
};
static const char *const users[] = { "fuzz", "alice", "bob", NULL };

static const struct psasl_cbind cbind = {
	"tls-exporter",
	{ 0xf0, 0x0d, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	  15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30 },
	32,
};

char *
__wrap_crypt_hash_make(const char *password)
{
	struct crypt_data cd;
	char *h;

	memset(&cd, 0, sizeof(cd));
	h = crypt_r(password, FUZZ_CRYPT_SETTING, &cd);
	if (h == NULL || h[0] == '*')
		return NULL;
	return xstrdup(h);
}

static void
cleanup(void)
{
	psasl_global_done();
	directory_close(dir);
	unlink(users_path);
}

/* fuzz: crypt "secret"; alice: SCRAM verifiers of "alice pw" only (PLAIN
 * checks those); bob: disabled, crypt "bobpw". */
static void
write_users(const char *base)
{
	char *fz = __wrap_crypt_hash_make("secret");
	char *bob = __wrap_crypt_hash_make("bobpw");
	char *a256 = scram_verifier_make("SCRAM-SHA-256", "alice pw",
	    FUZZ_SCRAM_ITER);
	char *a1 = scram_verifier_make("SCRAM-SHA-1", "alice pw",
	    FUZZ_SCRAM_ITER);
	FILE *fp;
	int fd;

	snprintf(users_path, sizeof(users_path), "%s/fuzz_users.XXXXXX", base);
	if (!fz || !bob || !a256 || !a1 || (fd = mkstemp(users_path)) == -1 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		perror("fuzz users file");
		exit(1);
	}
	fprintf(fp, "fuzz crypt=%s\n", fz);
	fprintf(fp, "alice scram-sha-256=%s scram-sha-1=%s\n", a256, a1);
	fprintf(fp, "bob status=disabled crypt=%s\n", bob);
	fclose(fp);
	free(fz);
	free(bob);
	free(a256);
	free(a1);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = fuzz_tmpdir();
	struct directory_file_options fo;
	struct psasl_global_options go = {
		.service = "pop",
		.mechanisms = "SCRAM-SHA-256 SCRAM-SHA-1 GSSAPI PLAIN",
		.keytab = NULL,
		.realms = "EXAMPLE.ORG",
	};

	(void)argc;
	(void)argv;
	write_users(base);
	fo.path = users_path;
	fo.store_root = "/nonexistent/fuzz";
	if ((dir = directory_file_open(&fo)) == NULL ||
	    !psasl_global_init(&go, dir)) {
		fprintf(stderr, "fuzz_auth: cannot set up SASL\n");
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

static void
check_roundtrip(const uint8_t *data, size_t size)
{
	char *text = xmalloc(base64_encoded_len(size) + 1);
	unsigned char *back = xmalloc(size + 3);
	size_t n = base64_encoded_len(size);

	base64_encode(data, size, text);
	if (strlen(text) != n ||
	    base64_decode(text, n, back) != (long)size ||
	    memcmp(back, data, size) != 0)
		abort();
	free(text);
	free(back);
}

/* Whatever the strict decoder accepts is canonical after one pass. */
static void
check_decode(const uint8_t *data, size_t size)
{
	unsigned char *out = xmalloc(size / 4 * 3 + 1), *again;
	char *text;
	long n, m;

	if ((n = base64_decode((const char *)data, size, out)) < 0) {
		free(out);
		return;
	}
	if ((size_t)n > size / 4 * 3 || (size_t)n + 2 < size / 4 * 3)
		abort();
	text = xmalloc(base64_encoded_len((size_t)n) + 1);
	base64_encode(out, (size_t)n, text);
	if (strlen(text) != size)
		abort();
	again = xmalloc((size_t)n + 3);
	m = base64_decode(text, size, again);
	if (m != n || memcmp(again, out, (size_t)n) != 0)
		abort();
	free(out);
	free(text);
	free(again);
}

/* A success names one of our users, and is never a password sent in
 * the clear when the policy refuses that: anything else is a way in. */
static void
check_login(struct psasl *s, bool cleartext_ok)
{
	const char *u = psasl_username(s), *m = psasl_mechname(s);
	size_t i;

	if (u == NULL || m == NULL)
		abort();
	if (!cleartext_ok && strcmp(m, "PLAIN") == 0) {
		fprintf(stderr, "PLAIN accepted with cleartext refused\n");
		abort();
	}
	for (i = 0; users[i] != NULL && strcmp(users[i], u) != 0; i++)
		;
	if (users[i] == NULL) {
		fprintf(stderr, "logged in as unknown user \"%s\"\n", u);
		abort();
	}
}

/* The next message: up to the next '\n' of data[*pos..size). */
static const uint8_t *
next_msg(const uint8_t *data, size_t size, size_t *pos, size_t *len)
{
	const uint8_t *p, *nl;

	if (*pos > size)
		return NULL;
	p = data + *pos;
	nl = memchr(p, '\n', size - *pos);
	*len = nl != NULL ? (size_t)(nl - p) : size - *pos;
	*pos += *len + 1;
	return p;
}

static void
run_sasl(const uint8_t *data, size_t size)
{
	struct psasl_conn_options co = {
		.fqdn = "pop.example.org",
		.local_ipport = "192.0.2.1;110",
		.remote_ipport = "198.51.100.7;40000",
	};
	const unsigned char *out, *msg;
	size_t outlen, len, pos = 1;
	enum psasl_status st;
	enum resp_code rc;
	struct psasl *s;
	uint8_t sel;

	if (size == 0)
		return;
	sel = data[0];
	co.tls_ssf = sel & 0x08 ? 0 : 256;
	co.cleartext_ok = !(sel & 0x10);
	co.cbind = sel & 0x20 ? NULL : &cbind;
	if ((s = psasl_new(&co)) == NULL)
		abort();
	msg = next_msg(data, size, &pos, &len);
	st = psasl_start(s, mechs[sel & 7], msg, sel & 0x40 ? 0 : len,
	    !(sel & 0x40), &out, &outlen, &rc);
	for (int i = 0; st == PSASL_CONTINUE && i < FUZZ_MAX_STEPS; i++) {
		if (outlen > 0 && out == NULL)
			abort();
		if ((msg = next_msg(data, size, &pos, &len)) == NULL)
			len = 0, msg = (const unsigned char *)"";
		st = psasl_step(s, msg, len, &out, &outlen, &rc);
	}
	if (st == PSASL_OK)
		check_login(s, co.cleartext_ok);
	else if (st == PSASL_FAIL && rc != RC_AUTH)
		abort();	/* a local users file never fails: [SYS/TEMP]
				 * here would blame the server for bad input */
	psasl_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_roundtrip(data, size);
	check_decode(data, size);
	run_sasl(data, size);
	return 0;
}
