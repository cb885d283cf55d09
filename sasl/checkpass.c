#include "config.h"

/* Cleartext password checks (PLAIN, USER/PASS) and the directory lookups
 * done on behalf of libsasl2. Runs in the workers; checkpass_init() runs in
 * the master before fork. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "directory/verifier.h"
#include "sasl/checkpass.h"

static struct directory *checkpass_dir;
/* A crypt hash of a random password nobody knows: checking an unknown
 * user's password against it costs what a real check costs, so the time
 * taken does not tell whether the user exists. */
static char *checkpass_decoy;

void
checkpass_init(struct directory *dir)
{
	unsigned char rnd[16];
	char pw[sizeof(rnd) * 2 + 1];
	size_t i;

	checkpass_dir = dir;
	if (checkpass_decoy != NULL)
		return;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		fatal("checkpass: getrandom failed");
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
	checkpass_decoy = crypt_hash_make(pw);
	explicit_bzero(rnd, sizeof(rnd));
	explicit_bzero(pw, sizeof(pw));
	if (checkpass_decoy == NULL)
		fatal("checkpass: cannot make the decoy password hash");
}

void
checkpass_set_directory(struct directory *dir)
{
	checkpass_dir = dir;
}

void
checkpass_done(void)
{
	free(checkpass_decoy);
	checkpass_decoy = NULL;
	checkpass_dir = NULL;
}

enum dir_result
checkpass_lookup(struct psasl_conn_state *st, const char *name,
    struct user_record **u)
{
	enum dir_result r;

	*u = NULL;
	if (checkpass_dir == NULL) {
		log_err("sasl: no user directory configured");
		r = DIR_TEMPFAIL;
	} else
		r = directory_lookup(checkpass_dir, name, u);
	if (r == DIR_TEMPFAIL && st != NULL)
		st->tempfail = true;
	if (r != DIR_OK)
		*u = NULL;
	return r;
}

struct psasl_conn_state *
checkpass_state(const sasl_utils_t *utils)
{
	sasl_callback_ft proc = NULL;
	void *ctx = NULL;

	if (utils == NULL || utils->getcallback == NULL || utils->conn == NULL)
		return NULL;
	if (utils->getcallback(utils->conn, SASL_CB_SERVER_USERDB_CHECKPASS,
	    &proc, &ctx) != SASL_OK)
		return NULL;
	if (proc != PSASL_CB(checkpass_cb))
		return NULL;
	return ctx;
}

/* 1: password right, 0: wrong or no such user, -1: directory down. */
static int
checkpass_check(struct psasl_conn_state *st, const char *user,
    const char *pw)
{
	struct user_record *u;
	enum dir_result r;
	bool ok = false;

	switch (checkpass_lookup(st, user, &u)) {
	case DIR_OK:
		/* A disabled account is checked like any other: the session
		 * looks at "enabled" only after the password is proven, so
		 * that a guesser learns nothing about the account. */
		r = directory_check_password(checkpass_dir, u, pw, &ok);
		user_record_free(u);
		if (r == DIR_TEMPFAIL) {
			if (st != NULL)
				st->tempfail = true;
			return -1;
		}
		break;
	case DIR_NOTFOUND:
		if (checkpass_decoy != NULL)
			(void)crypt_hash_check(checkpass_decoy, pw);
		break;
	case DIR_TEMPFAIL:
		return -1;
	}
	return ok ? 1 : 0;
}

int
checkpass_cb(sasl_conn_t *conn, void *context, const char *user,
    const char *pass, unsigned passlen, struct propctx *propctx)
{
	struct psasl_conn_state *st = context;
	char *pw;
	int r;

	(void)propctx;
	if (user == NULL || pass == NULL)
		return SASL_BADPARAM;
	/* pass need not be NUL-terminated, and a NUL inside it would make
	 * crypt(3) check a shorter password than the one sent. */
	if (passlen == 0 || memchr(pass, '\0', passlen) != NULL) {
		sasl_seterror(conn, 0, "empty or malformed password");
		return SASL_BADAUTH;
	}
	pw = xstrndup(pass, passlen);
	r = checkpass_check(st, user, pw);
	free_secret_str(pw);
	if (r < 0) {
		sasl_seterror(conn, 0, "user directory unavailable");
		return SASL_UNAVAIL;
	}
	if (r == 0) {
		sasl_seterror(conn, 0, "password check failed");
		return SASL_BADAUTH;
	}
	return SASL_OK;
}
