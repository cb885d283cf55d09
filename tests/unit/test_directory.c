#include "config.h"

/* Password verifiers and the users-file backend. */

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/base64.h"
#include "common/log.h"
#include "directory/dir_file.h"
#include "directory/directory.h"
#include "directory/verifier.h"
#include "tests/unit/check.h"

static char tmpdir[] = "/tmp/test_directory.XXXXXX";
static char users_path[256];
static char store_root[256];

/* Verifiers. */

static void
test_roundtrip(void)
{
	static const char *const mechs[] = { "SCRAM-SHA-256", "SCRAM-SHA-1" };
	char *v, *v2, *h;

	for (size_t i = 0; i < 2; i++) {
		v = scram_verifier_make(mechs[i], "s3cret pass", 0);
		CHECK(v != NULL);
		CHECK(strncmp(v, mechs[i], strlen(mechs[i])) == 0);
		CHECK(strstr(v, "$4096:") != NULL);
		CHECK(scram_verifier_valid(v));
		CHECK(scram_verifier_check(v, "s3cret pass"));
		CHECK(!scram_verifier_check(v, "s3cret pasS"));
		CHECK(!scram_verifier_check(v, "s3cret pass "));
		CHECK(!scram_verifier_check(v, ""));
		CHECK(!scram_verifier_check(v, NULL));
		/* A fresh salt every time. */
		v2 = scram_verifier_make(mechs[i], "s3cret pass", 0);
		CHECK(v2 != NULL && strcmp(v, v2) != 0);
		free(v);
		free(v2);
	}
	v = scram_verifier_make("SCRAM-SHA-256", "x", 5000);
	CHECK(v != NULL && strstr(v, "$5000:") != NULL);
	CHECK(scram_verifier_check(v, "x"));
	free(v);
	CHECK(scram_verifier_make("SCRAM-MD5", "x", 0) == NULL);
	CHECK(scram_verifier_make("SCRAM-SHA-256", "x",
	    SCRAM_MAX_ITERATIONS + 1) == NULL);

	h = crypt_hash_make("s3cret pass");
	CHECK(h != NULL && (strncmp(h, "$y$", 3) == 0 ||
	    strncmp(h, "$6$", 3) == 0));
	CHECK(crypt_hash_check(h, "s3cret pass"));
	CHECK(!crypt_hash_check(h, "s3cret pasS"));
	CHECK(!crypt_hash_check(h, ""));
	CHECK(!crypt_hash_check("", "s3cret pass"));
	CHECK(!crypt_hash_check("*", "s3cret pass"));
	CHECK(!crypt_hash_check("!locked", "s3cret pass"));
	free(h);
	/* glibc's published SHA-crypt vector. */
	CHECK(crypt_hash_check("$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHW"
	    "jl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	    "Hello world!"));
}

static void
test_valid(void)
{
	static const char *const bad[] = {
		"",
		"SCRAM-SHA-256",
		"SCRAM-SHA-256$",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$",
		/* unknown mechanism */
		"SCRAM-SHA-512$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		/* iteration count 0, leading zero, too large */
		"SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$04096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$99999999:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		/* a SHA-1-sized key under SHA-256 */
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"6dlGYMOdZcOPutkcNY8U2g7vK9Y=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		/* bad base64, extra field */
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=:x",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(!scram_verifier_valid(bad[i]));
		CHECK(!scram_verifier_check(bad[i], "pencil"));
	}
	CHECK(!scram_verifier_valid(NULL));
}

static void
b64dec(const char *s, unsigned char *out, size_t want)
{
	long n = base64_decode(s, strlen(s), out);

	CHECK(n == (long)want);
}

/* Splits a verifier into its decoded StoredKey and ServerKey. */
static void
verifier_keys(const char *v, unsigned char *stored, unsigned char *server,
    size_t klen)
{
	char buf[512], *d, *c;

	snprintf(buf, sizeof(buf), "%s", v);
	d = strrchr(buf, '$');
	CHECK(d != NULL);
	if (d == NULL)
		return;
	c = strchr(d, ':');
	CHECK(c != NULL);
	if (c == NULL)
		return;
	*c = '\0';
	b64dec(d + 1, stored, klen);
	b64dec(c + 1, server, klen);
}

/*
 * Runs the RFC's exchange against our verifier: the ServerSignature must be
 * the RFC's, and ClientProof XOR ClientSignature must hash to StoredKey.
 */
static void
check_rfc_exchange(const EVP_MD *md, const char *v, const char *authmsg,
    const char *proof_b64, const char *sig_b64)
{
	unsigned char stored[64], server[64], proof[64], sig[64], mac[64];
	unsigned char h[64];
	size_t klen = (size_t)EVP_MD_get_size(md);
	unsigned int maclen;

	verifier_keys(v, stored, server, klen);
	b64dec(proof_b64, proof, klen);
	b64dec(sig_b64, sig, klen);
	HMAC(md, server, (int)klen, (const unsigned char *)authmsg,
	    strlen(authmsg), mac, &maclen);
	CHECK(maclen == klen && memcmp(mac, sig, klen) == 0);
	HMAC(md, stored, (int)klen, (const unsigned char *)authmsg,
	    strlen(authmsg), mac, &maclen);
	for (size_t i = 0; i < klen; i++)
		proof[i] ^= mac[i];
	EVP_Digest(proof, klen, h, NULL, md, NULL);
	CHECK(memcmp(h, stored, klen) == 0);
}

/* StoredKey and ServerKey derived here with OpenSSL alone. */
static void
check_independent(const EVP_MD *md, const char *v, const char *salt_b64)
{
	unsigned char salt[32], sp[64], ck[64], sk[64], svk[64];
	unsigned char stored[64], server[64];
	size_t klen = (size_t)EVP_MD_get_size(md);
	long saltlen = base64_decode(salt_b64, strlen(salt_b64), salt);
	unsigned int n;

	PKCS5_PBKDF2_HMAC("pencil", 6, salt, (int)saltlen, 4096, md,
	    (int)klen, sp);
	HMAC(md, sp, (int)klen, (const unsigned char *)"Client Key", 10, ck, &n);
	EVP_Digest(ck, klen, sk, NULL, md, NULL);
	HMAC(md, sp, (int)klen, (const unsigned char *)"Server Key", 10, svk,
	    &n);
	verifier_keys(v, stored, server, klen);
	CHECK(memcmp(stored, sk, klen) == 0);
	CHECK(memcmp(server, svk, klen) == 0);
}

static void
test_rfc_vectors(void)
{
	unsigned char salt[32];
	char *v;

	/* RFC 7677 section 3. */
	b64dec("W22ZaJ0SNY7soEsUEjb6gQ==", salt, 16);
	v = scram_verifier_from_salt("SCRAM-SHA-256", "pencil", 4096, salt, 16);
	CHECK(v != NULL);
	CHECK(strncmp(v, "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$",
	    44) == 0);
	check_independent(EVP_sha256(), v, "W22ZaJ0SNY7soEsUEjb6gQ==");
	check_rfc_exchange(EVP_sha256(), v,
	    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
	    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
	    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	    "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	CHECK(scram_verifier_check(v, "pencil"));
	CHECK(!scram_verifier_check(v, "Pencil"));
	free(v);

	/* RFC 5802 section 5. */
	b64dec("QSXCR+Q6sek8bf92", salt, 12);
	v = scram_verifier_from_salt("SCRAM-SHA-1", "pencil", 4096, salt, 12);
	CHECK(v != NULL);
	check_independent(EVP_sha1(), v, "QSXCR+Q6sek8bf92");
	check_rfc_exchange(EVP_sha1(), v,
	    "n=user,r=fyko+d2lbbFgONRv9qkxdawL,"
	    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "s=QSXCR+Q6sek8bf92,i=4096,"
	    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
	    "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	    "rmF9pqV8S7suAoZWja4dJRkFsKQ=");
	CHECK(scram_verifier_check(v, "pencil"));
	free(v);
}

static void
test_fake(void)
{
	static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
	static const unsigned char secret2[] = "fedcba9876543210fedcba9876543210";
	char *a1, *a2, *b, *c, *s1;

	a1 = scram_fake_verifier("SCRAM-SHA-256", "nobody", secret, 32);
	a2 = scram_fake_verifier("SCRAM-SHA-256", "nobody", secret, 32);
	b = scram_fake_verifier("SCRAM-SHA-256", "nobody2", secret, 32);
	c = scram_fake_verifier("SCRAM-SHA-256", "nobody", secret2, 32);
	s1 = scram_fake_verifier("SCRAM-SHA-1", "nobody", secret, 32);
	CHECK(a1 != NULL && a2 != NULL && b != NULL && c != NULL && s1 != NULL);
	CHECK_STR(a1, a2);
	CHECK(a1 && b && strcmp(a1, b) != 0);
	CHECK(a1 && c && strcmp(a1, c) != 0);
	CHECK(scram_verifier_valid(a1) && scram_verifier_valid(s1));
	CHECK(a1 && strncmp(a1, "SCRAM-SHA-256$4096:", 19) == 0);
	CHECK(s1 && strncmp(s1, "SCRAM-SHA-1$4096:", 17) == 0);
	/* Salt (16 bytes: 24 base64 chars) differs between mechanisms. */
	CHECK(a1 && s1 && strncmp(a1 + 19, s1 + 17, 24) != 0);
	CHECK(a1 && strlen(a1) == 19 + 24 + 1 + 44 + 1 + 44);
	CHECK(!scram_verifier_check(a1, "nobody"));
	CHECK(!scram_verifier_check(a1, "x"));
	CHECK(scram_fake_verifier("SCRAM-FOO", "nobody", secret, 32) == NULL);
	free(a1);
	free(a2);
	free(b);
	free(c);
	free(s1);
}

static void
test_password_check(void)
{
	struct user_record u;

	memset(&u, 0, sizeof(u));
	CHECK(!user_password_check(&u, "a"));
	CHECK(!user_password_check(NULL, "a"));
	u.scram_sha1 = scram_verifier_make("SCRAM-SHA-1", "one", 0);
	CHECK(user_password_check(&u, "one"));
	u.scram_sha256 = scram_verifier_make("SCRAM-SHA-256", "two", 0);
	CHECK(user_password_check(&u, "two"));
	CHECK(!user_password_check(&u, "one"));
	u.crypt_hash = crypt_hash_make("three");
	CHECK(user_password_check(&u, "three"));
	CHECK(!user_password_check(&u, "two"));
	CHECK(!user_password_check(&u, ""));
	free(u.scram_sha1);
	free(u.scram_sha256);
	free(u.crypt_hash);
}

/* Users file. */

/* Replaces the users file by rename, as "postern user" does. */
static void
write_users(const char *text)
{
	char tmp[300];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", users_path);
	fp = fopen(tmp, "w");
	CHECK(fp != NULL);
	if (fp == NULL)
		return;
	fputs(text, fp);
	fclose(fp);
	CHECK(rename(tmp, users_path) == 0);
}

/* Runs a lookup with stderr captured, so warnings can be checked. */
static enum dir_result
lookup_capture(struct directory *d, const char *name,
    struct user_record **u, char *log, size_t logsize)
{
	char path[300];
	enum dir_result r;
	int saved, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	r = directory_lookup(d, name, u);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, log, logsize - 1);
	log[n > 0 ? n : 0] = '\0';
	close(fd);
	return r;
}

static const char users_text[] =
    "# test users\n"
    "\n"
    "   # indented comment\n"
    "alice scram-sha-256=SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\tcrypt=$6$x$y\n"
    "bob maildrop=/var/mail/bob status=disabled\n"
    "carol maildrop=rel/carol login_delay=300 expire=never\r\n"
    "dave@example.com status=enabled expire=30\n"
    "bad name here\n"                           /* 8 */
    "eve status=maybe\n"                        /* 9 */
    "frank unknown=1\n"                         /* 10 */
    "grace crypt=\n"                            /* 11 */
    "heidi status=enabled status=disabled\n"    /* 12 */
    "alice status=disabled\n"                   /* 13 */
    "..\n"                                      /* 14 */
    "ivan maildrop=../escape\n"                 /* 15 */
    "judy login_delay=-1\n"                     /* 16 */
    "mallory scram-sha-1=SCRAM-SHA-256$1:AA==$AA==:AA==\n" /* 17 */
    "x\001y\n"                                  /* 18 */
    "nonl expire=0";                            /* last, no newline */

static void
test_users_parse(struct directory *d)
{
	static const char *const skipped[] = { "bad", "eve", "frank", "grace",
	    "heidi", "..", "ivan", "judy", "mallory", "Alice", "ALICE", "" };
	struct user_record *u;
	char log[8192], want[300];

	write_users(users_text);
	CHECK(lookup_capture(d, "alice", &u, log, sizeof(log)) == DIR_OK);
	for (int line = 8; line <= 18; line++) {
		snprintf(want, sizeof(want), "%s:%d: ", users_path, line);
		CHECK(strstr(log, want) != NULL);
	}
	snprintf(want, sizeof(want), "%s:7: ", users_path);
	CHECK(strstr(log, want) == NULL);
	CHECK(u != NULL);
	if (u == NULL)
		return;
	CHECK_STR(u->name, "alice");
	snprintf(want, sizeof(want), "%s/alice", store_root);
	CHECK_STR(u->maildrop, want);
	CHECK(u->enabled);
	CHECK(u->scram_sha256 != NULL && u->scram_sha1 == NULL);
	CHECK_STR(u->crypt_hash, "$6$x$y");
	CHECK(u->login_delay == -1 && u->expire_days == -1);
	snprintf(want, sizeof(want), "file:%s", users_path);
	CHECK_STR(u->source, want);
	CHECK(scram_verifier_check(u->scram_sha256, "pencil"));
	user_record_free(u);

	CHECK(directory_lookup(d, "bob", &u) == DIR_OK);
	CHECK(u && !u->enabled);
	CHECK(u && strcmp(u->maildrop, "/var/mail/bob") == 0);
	user_record_free(u);

	CHECK(directory_lookup(d, "carol", &u) == DIR_OK);
	snprintf(want, sizeof(want), "%s/rel/carol", store_root);
	CHECK(u && strcmp(u->maildrop, want) == 0);
	CHECK(u && u->login_delay == 300 && u->expire_days == USER_EXPIRE_NEVER);
	user_record_free(u);

	CHECK(directory_lookup(d, "dave@example.com", &u) == DIR_OK);
	CHECK(u && u->enabled && u->expire_days == 30);
	user_record_free(u);

	CHECK(directory_lookup(d, "nonl", &u) == DIR_OK);
	CHECK(u && u->expire_days == 0);
	user_record_free(u);

	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
		CHECK(directory_lookup(d, skipped[i], &u) == DIR_NOTFOUND);
		CHECK(u == NULL);
	}
}

static void
test_users_reload(struct directory *d)
{
	struct user_record *u;
	FILE *fp;

	/* Replaced by rename. */
	write_users("zoe\nalice status=disabled\n");
	CHECK(directory_lookup(d, "zoe", &u) == DIR_OK);
	user_record_free(u);
	CHECK(directory_lookup(d, "bob", &u) == DIR_NOTFOUND);
	CHECK(directory_lookup(d, "alice", &u) == DIR_OK);
	CHECK(u && !u->enabled);
	user_record_free(u);

	/* Appended in place (an editor or "echo >>"). */
	fp = fopen(users_path, "a");
	CHECK(fp != NULL);
	if (fp != NULL) {
		fputs("yann maildrop=/srv/y\n", fp);
		fclose(fp);
	}
	CHECK(directory_lookup(d, "yann", &u) == DIR_OK);
	CHECK(u && strcmp(u->maildrop, "/srv/y") == 0);
	user_record_free(u);

	/* Gone: a temporary failure, never "no such user". */
	CHECK(unlink(users_path) == 0);
	CHECK(directory_lookup(d, "zoe", &u) == DIR_TEMPFAIL);
	CHECK(u == NULL);
	write_users("zoe\n");
	CHECK(directory_lookup(d, "zoe", &u) == DIR_OK);
	user_record_free(u);

	/* Unreadable. */
	if (geteuid() != 0) {
		chmod(users_path, 0);
		write_users("zoe\n");
		chmod(users_path, 0);
		CHECK(directory_lookup(d, "zoe", &u) == DIR_TEMPFAIL);
		chmod(users_path, 0600);
	}
}

static void
count_user(const struct user_record *u, void *arg)
{
	(void)u;
	(*(size_t *)arg)++;
}

static void
test_users_large(void)
{
	struct directory_file_options o = { users_path, "/srv/mail/" };
	struct dir_file *df;
	struct user_record *u;
	struct timespec t0, t1;
	size_t n = 0;
	FILE *fp;
	char *v;

	v = scram_verifier_make("SCRAM-SHA-256", "pw", 0);
	fp = fopen(users_path, "w");
	CHECK(fp != NULL && v != NULL);
	if (fp == NULL || v == NULL)
		return;
	/* Written in reverse order: the parser must sort. */
	for (int i = 100000; i > 0; i--)
		fprintf(fp, "user%06d scram-sha-256=%s crypt=$y$x\n", i, v);
	fclose(fp);
	free(v);
	df = dir_file_open(&o);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(dir_file_lookup(df, "user050000", &u) == DIR_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(u && strcmp(u->maildrop, "/srv/mail/user050000") == 0);
	user_record_free(u);
	printf("100000 users loaded in %.0f ms\n",
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	CHECK(dir_file_lookup(df, "user000001", &u) == DIR_OK);
	user_record_free(u);
	CHECK(dir_file_lookup(df, "user100000", &u) == DIR_OK);
	user_record_free(u);
	CHECK(dir_file_lookup(df, "user100001", &u) == DIR_NOTFOUND);
	CHECK(dir_file_foreach(df, count_user, &n) == DIR_OK && n == 100000);
	dir_file_close(df);
}

static void
test_no_store_root(void)
{
	struct directory_file_options o = { users_path, NULL };
	struct directory *d;
	struct user_record *u;

	write_users("abs maildrop=/m/abs\nrel maildrop=r\ndefault\n");
	d = directory_file_open(&o);
	CHECK(directory_lookup(d, "abs", &u) == DIR_OK);
	user_record_free(u);
	CHECK(directory_lookup(d, "rel", &u) == DIR_NOTFOUND);
	CHECK(directory_lookup(d, "default", &u) == DIR_NOTFOUND);
	directory_close(d);
	o.path = NULL;
	CHECK(directory_file_open(&o) == NULL);
}

static void
test_line_helpers(void)
{
	char name[DIR_NAME_MAX + 1], *s;

	CHECK(dir_file_name_valid("a"));
	CHECK(dir_file_name_valid("A.b_c@d+e-f"));
	CHECK(!dir_file_name_valid(""));
	CHECK(!dir_file_name_valid("."));
	CHECK(!dir_file_name_valid(".."));
	CHECK(dir_file_name_valid("..."));
	CHECK(!dir_file_name_valid("a/b"));
	CHECK(!dir_file_name_valid("a b"));
	CHECK(dir_file_name_valid(
	    "1234567890123456789012345678901234567890123456789012345678901234"));
	CHECK(!dir_file_name_valid(
	    "12345678901234567890123456789012345678901234567890123456789012345"));

	CHECK(dir_file_maildrop_check("/a/b", NULL) == NULL);
	CHECK(dir_file_maildrop_check("a/b", "/r") == NULL);
	CHECK(dir_file_maildrop_check("a/b", NULL) != NULL);
	CHECK(dir_file_maildrop_check("a/../b", "/r") != NULL);
	CHECK(dir_file_maildrop_check("/a/..", "/r") != NULL);
	CHECK(dir_file_maildrop_check("/a/..b", "/r") == NULL);
	CHECK(dir_file_maildrop_check("a b", "/r") != NULL);
	CHECK(dir_file_maildrop_check("", "/r") != NULL);

	CHECK(dir_file_line_name("alice x=y\n", name, sizeof(name)));
	CHECK_STR(name, "alice");
	CHECK(dir_file_line_name("\tbob", name, sizeof(name)));
	CHECK_STR(name, "bob");
	CHECK(!dir_file_line_name("# alice", name, sizeof(name)));
	CHECK(!dir_file_line_name("  \n", name, sizeof(name)));
	CHECK(!dir_file_line_name("toolong", name, 4));

	s = dir_file_line_set("alice  status=enabled\tcrypt=a\n", "status",
	    "disabled");
	CHECK_STR(s, "alice status=disabled crypt=a");
	free(s);
	s = dir_file_line_set("alice crypt=a", "status", "disabled");
	CHECK_STR(s, "alice crypt=a status=disabled");
	free(s);
	s = dir_file_line_set("alice crypt=a status=x crypt=b", "crypt", "c");
	CHECK_STR(s, "alice crypt=c status=x");
	free(s);
	s = dir_file_line_set("alice crypt=a status=x", "crypt", NULL);
	CHECK_STR(s, "alice status=x");
	free(s);
	/* A name that looks like a key is still the name. */
	s = dir_file_line_set("crypt=a", "crypt", "b");
	CHECK_STR(s, "crypt=a crypt=b");
	free(s);
	s = dir_file_line_set("alice", "maildrop", "/m");
	CHECK_STR(s, "alice maildrop=/m");
	free(s);
}

static void
cleanup(void)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	unlink(path);
	unlink(users_path);
	rmdir(tmpdir);
}

int
main(void)
{
	struct directory_file_options o;
	struct directory *d;

	log_open("test_directory", LOG_USER, true);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(users_path, sizeof(users_path), "%s/users", tmpdir);
	snprintf(store_root, sizeof(store_root), "%s/store", tmpdir);

	test_roundtrip();
	test_valid();
	test_rfc_vectors();
	test_fake();
	test_password_check();
	test_line_helpers();

	o.path = users_path;
	o.store_root = store_root;
	d = directory_file_open(&o);
	CHECK(d != NULL);
	test_users_parse(d);
	test_users_reload(d);
	directory_close(d);
	test_no_store_root();
	test_users_large();

	cleanup();
	return check_done("test_directory");
}
