#include "config.h"

/*
 * Password verifiers: SCRAM (RFC 5802, RFC 7677) in the RFC 5803 string
 * form, and crypt(3) hashes through libxcrypt.
 *
 * Passwords are used as the bytes the client sent (ASCII or UTF-8).  Full
 * SASLprep (RFC 4013) is not applied: a password with non-ASCII characters
 * that SASLprep would change will not match a verifier made by a tool that
 * applies it.  Cyrus SASL does not apply it either, so the two agree.
 *
 * Every buffer that held key material is wiped before it goes out of scope.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/base64.h"
#include "common/xmalloc.h"
#include "directory/directory.h"
#include "directory/verifier.h"

#define SCRAM_SALT_LEN          16      /* random salt of a new verifier */
#define SCRAM_MAX_SALT_LEN      64      /* longest salt we accept */
#define SCRAM_MAX_KEY_LEN       EVP_MAX_MD_SIZE

struct scram_mech {
	const char *name;
	const EVP_MD *(*md)(void);
};

static const struct scram_mech scram_mechs[] = {
	{ "SCRAM-SHA-256", EVP_sha256 },
	{ "SCRAM-SHA-1", EVP_sha1 },
};

/* A verifier taken apart; keys are raw bytes. */
struct scram_parts {
	const struct scram_mech *mech;
	unsigned iterations;
	unsigned char salt[SCRAM_MAX_SALT_LEN];
	size_t saltlen;
	unsigned char stored[SCRAM_MAX_KEY_LEN];
	unsigned char server[SCRAM_MAX_KEY_LEN];
	size_t keylen;
};

static const struct scram_mech *
scram_mech_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(scram_mechs) / sizeof(scram_mechs[0]); i++)
		if (strlen(scram_mechs[i].name) == len &&
		    strncmp(scram_mechs[i].name, name, len) == 0)
			return &scram_mechs[i];
	return NULL;
}

static bool
hmac(const EVP_MD *md, const void *key, size_t keylen, const void *data,
    size_t datalen, unsigned char *out)
{
	unsigned int outlen;

	if (keylen > INT_MAX)
		return false;
	return HMAC(md, key, (int)keylen, data, datalen, out, &outlen) != NULL;
}

/*
 * SaltedPassword = Hi(password, salt, i); ClientKey = HMAC(SP, "Client Key");
 * StoredKey = H(ClientKey); ServerKey = HMAC(SP, "Server Key").
 * With server == NULL only StoredKey is computed.
 */
static bool
scram_keys(const EVP_MD *md, const char *password, const unsigned char *salt,
    size_t saltlen, unsigned iterations, unsigned char *stored,
    unsigned char *server)
{
	unsigned char salted[SCRAM_MAX_KEY_LEN], client[SCRAM_MAX_KEY_LEN];
	size_t klen = (size_t)EVP_MD_get_size(md);
	bool ok;

	ok = iterations >= 1 && iterations <= INT_MAX &&
	    strlen(password) <= INT_MAX && saltlen <= INT_MAX &&
	    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt,
		(int)saltlen, (int)iterations, md, (int)klen, salted) == 1 &&
	    hmac(md, salted, klen, "Client Key", 10, client) &&
	    EVP_Digest(client, klen, stored, NULL, md, NULL) == 1 &&
	    (server == NULL ||
		hmac(md, salted, klen, "Server Key", 10, server));
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client, sizeof(client));
	return ok;
}

static char *
b64(const unsigned char *p, size_t n)
{
	char *s = xmalloc(base64_encoded_len(n) + 1);

	base64_encode(p, n, s);
	return s;
}

static char *
scram_format(const struct scram_parts *v)
{
	char *salt, *stored, *server, *out;

	salt = b64(v->salt, v->saltlen);
	stored = b64(v->stored, v->keylen);
	server = b64(v->server, v->keylen);
	out = xasprintf("%s$%u:%s$%s:%s", v->mech->name, v->iterations, salt,
	    stored, server);
	free(salt);
	free_secret_str(stored);
	free_secret_str(server);
	return out;
}

/* Decodes base64 in[0..n) into out; the result must be 1..max bytes. */
static bool
b64_field(const char *in, size_t n, unsigned char *out, size_t max,
    size_t *len_r)
{
	unsigned char buf[SCRAM_MAX_SALT_LEN > SCRAM_MAX_KEY_LEN ?
	    SCRAM_MAX_SALT_LEN : SCRAM_MAX_KEY_LEN];
	long len;

	if (n == 0 || n / 4 * 3 > sizeof(buf))
		return false;
	len = base64_decode(in, n, buf);
	if (len <= 0 || (size_t)len > max) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return false;
	}
	memcpy(out, buf, (size_t)len);
	*len_r = (size_t)len;
	OPENSSL_cleanse(buf, sizeof(buf));
	return true;
}

static bool
parse_iterations(const char *s, size_t n, unsigned *iter_r)
{
	unsigned long v = 0;

	if (n == 0 || n > 9 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > SCRAM_MAX_ITERATIONS)
		return false;
	*iter_r = (unsigned)v;
	return true;
}

/* "MECH$ITER:SALT$STORED:SERVER", every field checked. */
static bool
scram_parse(const char *s, struct scram_parts *v)
{
	const char *d1, *c1, *d2, *c2;
	size_t klen;

	if ((d1 = strchr(s, '$')) == NULL || (c1 = strchr(d1, ':')) == NULL ||
	    (d2 = strchr(c1, '$')) == NULL || (c2 = strchr(d2, ':')) == NULL ||
	    strchr(c2 + 1, ':') != NULL || strchr(c2 + 1, '$') != NULL)
		return false;
	if ((v->mech = scram_mech_find(s, (size_t)(d1 - s))) == NULL)
		return false;
	v->keylen = (size_t)EVP_MD_get_size(v->mech->md());
	if (!parse_iterations(d1 + 1, (size_t)(c1 - d1 - 1), &v->iterations) ||
	    !b64_field(c1 + 1, (size_t)(d2 - c1 - 1), v->salt,
		SCRAM_MAX_SALT_LEN, &v->saltlen) ||
	    !b64_field(d2 + 1, (size_t)(c2 - d2 - 1), v->stored,
		v->keylen, &klen) || klen != v->keylen ||
	    !b64_field(c2 + 1, strlen(c2 + 1), v->server,
		v->keylen, &klen) || klen != v->keylen)
		return false;
	return true;
}

bool
scram_verifier_valid(const char *verifier)
{
	struct scram_parts v;
	bool ok;

	ok = verifier != NULL && scram_parse(verifier, &v);
	OPENSSL_cleanse(&v, sizeof(v));
	return ok;
}

char *
scram_verifier_from_salt(const char *mech, const char *password,
    unsigned iterations, const unsigned char *salt, size_t saltlen)
{
	struct scram_parts v;
	char *out = NULL;

	if (mech == NULL || password == NULL || salt == NULL ||
	    saltlen == 0 || saltlen > SCRAM_MAX_SALT_LEN ||
	    (v.mech = scram_mech_find(mech, strlen(mech))) == NULL)
		return NULL;
	v.iterations = iterations ? iterations : SCRAM_DEFAULT_ITERATIONS;
	memcpy(v.salt, salt, saltlen);
	v.saltlen = saltlen;
	v.keylen = (size_t)EVP_MD_get_size(v.mech->md());
	if (v.iterations <= SCRAM_MAX_ITERATIONS &&
	    scram_keys(v.mech->md(), password, v.salt, v.saltlen,
		v.iterations, v.stored, v.server))
		out = scram_format(&v);
	OPENSSL_cleanse(&v, sizeof(v));
	return out;
}

char *
scram_verifier_make(const char *mech, const char *password,
    unsigned iterations)
{
	unsigned char salt[SCRAM_SALT_LEN];
	char *out = NULL;

	if (RAND_bytes(salt, sizeof(salt)) == 1)
		out = scram_verifier_from_salt(mech, password, iterations,
		    salt, sizeof(salt));
	OPENSSL_cleanse(salt, sizeof(salt));
	return out;
}

/* Only StoredKey is compared: it is what a SCRAM server checks a proof
 * against, and ServerKey adds nothing to the password check. */
bool
scram_verifier_check(const char *verifier, const char *password)
{
	struct scram_parts v;
	unsigned char stored[SCRAM_MAX_KEY_LEN];
	bool ok;

	if (verifier == NULL || password == NULL || *password == '\0')
		return false;
	ok = scram_parse(verifier, &v) &&
	    scram_keys(v.mech->md(), password, v.salt, v.saltlen,
		v.iterations, stored, NULL) &&
	    CRYPTO_memcmp(stored, v.stored, v.keylen) == 0;
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(&v, sizeof(v));
	return ok;
}

/* HMAC-SHA256(secret, label NUL mech NUL name), truncated to len bytes. */
static bool
fake_bytes(const unsigned char *secret, size_t secretlen, const char *label,
    const char *mech, const char *name, unsigned char *out, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	char *msg;
	size_t msglen;
	bool ok;

	msglen = strlen(label) + 1 + strlen(mech) + 1 + strlen(name);
	msg = xmalloc(msglen);
	memcpy(msg, label, strlen(label) + 1);
	memcpy(msg + strlen(label) + 1, mech, strlen(mech) + 1);
	memcpy(msg + strlen(label) + 1 + strlen(mech) + 1, name, strlen(name));
	ok = len <= 32 &&
	    hmac(EVP_sha256(), secret, secretlen, msg, msglen, mac);
	if (ok)
		memcpy(out, mac, len);
	OPENSSL_cleanse(mac, sizeof(mac));
	free(msg);
	return ok;
}

/*
 * The salt is HMAC(secret, "salt", mech, name), so repeated attempts on
 * one unknown name see one salt, as for a real user.  The mechanism is part
 * of the input because "postern user add" gives each real verifier its own
 * random salt: equal salts for -1 and -256 would mark a name as fake.
 * The keys come from the same HMAC with other labels, so no password
 * (not even an empty one) can match them.
 */
char *
scram_fake_verifier(const char *mech, const char *name,
    const unsigned char *secret, size_t secretlen)
{
	struct scram_parts v;
	char *out = NULL;

	if (mech == NULL || name == NULL || secret == NULL ||
	    (v.mech = scram_mech_find(mech, strlen(mech))) == NULL)
		return NULL;
	v.iterations = SCRAM_DEFAULT_ITERATIONS;
	v.saltlen = SCRAM_SALT_LEN;
	v.keylen = (size_t)EVP_MD_get_size(v.mech->md());
	if (fake_bytes(secret, secretlen, "salt", v.mech->name, name, v.salt,
		v.saltlen) &&
	    fake_bytes(secret, secretlen, "stored", v.mech->name, name,
		v.stored, v.keylen) &&
	    fake_bytes(secret, secretlen, "server", v.mech->name, name,
		v.server, v.keylen))
		out = scram_format(&v);
	OPENSSL_cleanse(&v, sizeof(v));
	return out;
}

/* crypt_r's state holds the hash it computed: wipe it before freeing. */
static char *
crypt_run(const char *password, const char *setting)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	char *h, *out = NULL;

	h = crypt_r(password, setting, cd);
	/* libxcrypt fails with NULL or a string starting with '*'. */
	if (h != NULL && h[0] != '*' && h[0] != '\0')
		out = xstrdup(h);
	freezero(cd, sizeof(*cd));
	return out;
}

char *
crypt_hash_make(const char *password)
{
	static const char *const prefixes[] = { "$y$", "$6$" };
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	char *out;

	if (password == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		/* NULL random bytes: libxcrypt reads the OS's own source. */
		if (crypt_gensalt_rn(prefixes[i], 0, NULL, 0, setting,
			sizeof(setting)) == NULL || setting[0] == '*')
			continue;
		if ((out = crypt_run(password, setting)) != NULL)
			return out;
	}
	return NULL;
}

bool
crypt_hash_check(const char *hash, const char *password)
{
	char *h;
	size_t len;
	bool ok;

	if (hash == NULL || password == NULL || *password == '\0' ||
	    *hash == '\0')
		return false;
	if ((h = crypt_run(password, hash)) == NULL)
		return false;
	len = strlen(h);
	ok = len == strlen(hash) && CRYPTO_memcmp(h, hash, len) == 0;
	free_secret_str(h);
	return ok;
}

bool
user_password_check(const struct user_record *u, const char *password)
{
	if (u == NULL || password == NULL || *password == '\0')
		return false;
	if (u->crypt_hash != NULL)
		return crypt_hash_check(u->crypt_hash, password);
	if (u->scram_sha256 != NULL)
		return scram_verifier_check(u->scram_sha256, password);
	if (u->scram_sha1 != NULL)
		return scram_verifier_check(u->scram_sha1, password);
	return false;
}
