/*
 * popload: a POP3 load generator for bench/run.
 *
 *	popload logins  [opts] -c CLIENTS -d SECONDS
 *	popload retr    [opts] [-b BATCH] [-r RUNS]
 *	popload listing [opts] [-r RUNS]
 *	popload hold    [opts] -n SESSIONS [-c PROCS]
 *
 * Not part of the autotools build (bench/Makefile or bench/run builds it
 * with one gcc line, -lssl -lcrypto -lgssapi_krb5), so there is no
 * config.h.  It talks to any POP3
 * server: bench/run points it at posternd and at Dovecot in turn, with the
 * same flags, so the two sets of figures are comparable.
 *
 * Logins authenticate with USER/PASS, AUTH PLAIN, AUTH SCRAM-SHA-256
 * (-a scram) or AUTH GSSAPI (-a gssapi, tickets already in a ccache per
 * user under -k CCDIR).
 *
 * Results go to stdout as one line of key=value pairs that a script can
 * read; diagnostics (the first few errors of each client) go to stderr.
 * A benchmark reports, it never judges: the exit status says only whether
 * the tool itself could run (bad flags, no server at all).
 */

#define _GNU_SOURCE

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

/* One read buffer per connection; RETR streams through it line by line. */
#define RBUF_SIZE	65536
/* Latency histogram: 64 exact buckets, then 32 per power of two (~3%). */
#define HIST_EXACT	64
#define HIST_SUB	32
#define HIST_BUCKETS	(HIST_EXACT + 40 * HIST_SUB)
/* Errors printed per client: enough to see why, not a flood. */
#define ERR_PRINT_MAX	3
#define MAX_RUNS	1000

enum tls_mode { TLS_NONE, TLS_STLS, TLS_IMPLICIT };
enum auth_mode { AUTH_USERPASS, AUTH_PLAIN, AUTH_SCRAM, AUTH_GSSAPI };

struct opts {
	const char *host;
	int port;
	enum tls_mode tls;
	enum auth_mode auth;
	const char *user;	/* a name, or a prefix when nusers > 0 */
	int nusers;		/* names are user0 .. user(nusers-1) */
	const char *pass;
	const char *ccdir;	/* GSSAPI: ccache FILE:ccdir/USER per user */
	int clients;
	double duration;
	int runs;
	int batch;
	int sessions;
	int timeout;
	SSL_CTX *ctx;
	struct sockaddr_in addr;
};

struct conn {
	int fd;
	SSL *ssl;
	size_t off, len;
	char buf[RBUF_SIZE];
	char errmsg[160];
};

/* One per client process, in memory shared with the parent. */
struct stats {
	uint64_t ok;
	uint64_t err;
	uint32_t hist[HIST_BUCKETS];
};

static const char *progname = "popload";

static void
usage(void)
{
	fprintf(stderr,
	    "usage: %s logins|retr|listing|hold [-h HOST] -p PORT\n"
	    "\t[-m plain|stls|tls] [-a user|plain|scram|gssapi] [-k CCDIR] -u USER [-U NUSERS]"
	    " -w PASSWORD\n"
	    "\t[-c CLIENTS] [-d SECONDS] [-r RUNS] [-b BATCH] [-n SESSIONS]"
	    " [-t TIMEOUT]\n", progname);
	exit(2);
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- connection: TCP, optional TLS, buffered lines ---- */

static void
conn_fail(struct conn *c, const char *what, const char *detail)
{
	if (c->errmsg[0] == '\0')
		snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s", what,
		    detail);
}

static void
conn_close(struct conn *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

static int
conn_open(struct conn *c, const struct opts *o)
{
	struct timeval tv = { .tv_sec = o->timeout };
	int one = 1;

	c->ssl = NULL;
	c->off = c->len = 0;
	c->errmsg[0] = '\0';
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return conn_fail(c, "socket", strerror(errno)), -1;
	/* Commands are small and each waits for its reply: no Nagle. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (const struct sockaddr *)&o->addr,
	    sizeof(o->addr)) < 0) {
		conn_fail(c, "connect", strerror(errno));
		conn_close(c);
		return -1;
	}
	return 0;
}

static int
conn_starttls(struct conn *c, SSL_CTX *ctx)
{
	const char *why;

	if ((c->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, "localhost") != 1 ||
	    SSL_connect(c->ssl) != 1) {
		why = ERR_reason_error_string(ERR_peek_last_error());
		conn_fail(c, "TLS handshake", why ? why : "failed");
		ERR_clear_error();
		return -1;
	}
	c->off = c->len = 0;
	return 0;
}

static int
conn_write(struct conn *c, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if (c->ssl != NULL) {
			int r = SSL_write(c->ssl, data, (int)len);

			if (r <= 0)
				return conn_fail(c, "write", "TLS error"), -1;
			n = r;
		} else if ((n = write(c->fd, data, len)) < 0) {
			if (errno == EINTR)
				continue;
			return conn_fail(c, "write", strerror(errno)), -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Keeps the unread bytes, reads more behind them. 0: EOF, -1: error. */
static int
conn_fill(struct conn *c)
{
	ssize_t n;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == sizeof(c->buf))
		return conn_fail(c, "read", "line too long"), -1;
	if (c->ssl != NULL) {
		int r = SSL_read(c->ssl, c->buf + c->len,
		    (int)(sizeof(c->buf) - c->len));

		if (r <= 0)
			return SSL_get_error(c->ssl, r) ==
			    SSL_ERROR_ZERO_RETURN ? 0 : -1;
		n = r;
	} else {
		do
			n = read(c->fd, c->buf + c->len,
			    sizeof(c->buf) - c->len);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return n == 0 ? 0 : -1;
	}
	c->len += (size_t)n;
	return 1;
}

/* Next line without its CRLF, NUL-terminated in place; NULL on EOF/error. */
static char *
conn_line(struct conn *c)
{
	char *line, *nl;
	int r;

	while ((nl = memchr(c->buf + c->off, '\n', c->len - c->off)) ==
	    NULL) {
		if ((r = conn_fill(c)) <= 0) {
			conn_fail(c, "read", r == 0 ? "connection closed" :
			    "read error or timeout");
			return NULL;
		}
	}
	line = c->buf + c->off;
	c->off = (size_t)(nl - c->buf) + 1;
	if (nl > line && nl[-1] == '\r')
		nl--;
	*nl = '\0';
	return line;
}

/* 1: +OK (or a "+ " continuation), 0: -ERR, -1: I/O or protocol error. */
static int
conn_status(struct conn *c)
{
	char *line;

	if ((line = conn_line(c)) == NULL)
		return -1;
	if (strncmp(line, "+OK", 3) == 0 || strncmp(line, "+ ", 2) == 0)
		return 1;
	conn_fail(c, "server said", line);
	return strncmp(line, "-ERR", 4) == 0 ? 0 : -1;
}

static int
conn_cmd(struct conn *c, const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return conn_fail(c, "command", "too long"), -1;
	if (conn_write(c, cmd, (size_t)n) < 0)
		return -1;
	return conn_status(c);
}

/*
 * Reads a multi-line body up to its "." line, counting the octets.  Lines
 * are found with memchr, so the generator costs far less per byte than
 * the server it measures.
 */
static int
conn_body(struct conn *c, uint64_t *octets)
{
	bool bol = true;
	char *p, *nl;
	size_t n;
	int r;

	for (;;) {
		while (c->off < c->len) {
			p = c->buf + c->off;
			n = c->len - c->off;
			if (bol && p[0] == '.') {
				if (n < 3)
					break;
				if (p[1] == '\r' && p[2] == '\n') {
					c->off += 3;
					*octets += 3;
					return 0;
				}
			}
			if ((nl = memchr(p, '\n', n)) == NULL) {
				*octets += n;
				c->off = c->len;
				bol = false;
				break;
			}
			*octets += (size_t)(nl - p) + 1;
			c->off += (size_t)(nl - p) + 1;
			bol = true;
		}
		if ((r = conn_fill(c)) <= 0)
			return conn_fail(c, "read", r == 0 ?
			    "connection closed in a multi-line reply" :
			    "read error or timeout"), -1;
	}
}

static int
conn_cmd_body(struct conn *c, const char *cmd, uint64_t *octets)
{
	int r;

	if ((r = conn_cmd(c, "%s\r\n", cmd)) != 1)
		return r;
	return conn_body(c, octets) == 0 ? 1 : -1;
}

/* ---- one POP3 login ---- */

static void
user_name(const struct opts *o, long i, char *out, size_t outlen)
{
	if (o->nusers > 0)
		snprintf(out, outlen, "%s%ld", o->user, i % o->nusers);
	else
		snprintf(out, outlen, "%s", o->user);
}

static int
auth_plain(struct conn *c, const char *user, const char *pass)
{
	unsigned char raw[512];
	char b64[700];
	size_t ul = strlen(user), pl = strlen(pass);

	if (ul + pl + 2 > sizeof(raw))
		return conn_fail(c, "AUTH PLAIN", "credentials too long"), -1;
	/* authzid NUL authcid NUL password (RFC 4616), empty authzid. */
	raw[0] = '\0';
	memcpy(raw + 1, user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, pass, pl);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)(ul + pl + 2));
	OPENSSL_cleanse(raw, sizeof(raw));
	return conn_cmd(c, "AUTH PLAIN %s\r\n", b64);
}

/* ---- SCRAM-SHA-256 (RFC 5802, RFC 7677) over AUTH (RFC 5034) ---- */

#define SCRAM_MAX	1024

/* Base64 of len bytes into out (NUL-terminated); out needs 4/3 len + 1. */
static void
b64_enc(char *out, const unsigned char *in, size_t len)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* Strict enough for a benchmark: EVP_DecodeBlock, minus the padding. */
static int
b64_dec(unsigned char *out, size_t outlen, const char *in)
{
	size_t len = strlen(in);
	int n;

	if (len % 4 != 0 || len / 4 * 3 > outlen)
		return -1;
	if ((n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len)) < 0)
		return -1;
	while (len > 0 && in[--len] == '=')
		n--;
	out[n] = '\0';
	return n;
}

/* The "+ " challenge decoded into out; -1 (and errmsg) otherwise. */
static int
scram_challenge(struct conn *c, char *out, size_t outlen)
{
	char *line;

	if ((line = conn_line(c)) == NULL)
		return -1;
	if (strncmp(line, "+ ", 2) != 0) {
		conn_fail(c, "SCRAM: server said", line);
		return strncmp(line, "-ERR", 4) == 0 ? 0 : -1;
	}
	if (b64_dec((unsigned char *)out, outlen - 1, line + 2) < 0)
		return conn_fail(c, "SCRAM", "bad base64 challenge"), -1;
	return 1;
}

/* One base64 line of len bytes (an empty line if len is 0). */
static int
b64_send(struct conn *c, const void *data, size_t len)
{
	char *b64 = malloc(len / 3 * 4 + 8);
	int r;

	if (b64 == NULL)
		return conn_fail(c, "AUTH", "out of memory"), -1;
	b64_enc(b64, data, len);
	strcat(b64, "\r\n");
	r = conn_write(c, b64, strlen(b64));
	free(b64);
	return r;
}

static const char *
scram_attr(const char *msg, char name)
{
	for (const char *p = msg; p != NULL; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (p[0] == name && p[1] == '=')
			return p + 2;
	}
	return NULL;
}

static void
hmac256(const unsigned char *key, size_t klen, const void *data,
    size_t dlen, unsigned char *out)
{
	unsigned int n = SHA256_DIGEST_LENGTH;

	HMAC(EVP_sha256(), key, (int)klen, data, dlen, out, &n);
}

/* From server-first: the client-final message and the expected server
 * signature, or -1 if server-first is malformed. */
static int
scram_final(const struct opts *o, const char *cfirst_bare,
    const char *cnonce, const char *sfirst, char *cfinal, size_t cflen,
    unsigned char *ssig)
{
	unsigned char salt[256], sp[SHA256_DIGEST_LENGTH];
	unsigned char ck[SHA256_DIGEST_LENGTH], sk[SHA256_DIGEST_LENGTH];
	unsigned char stored[SHA256_DIGEST_LENGTH], csig[SHA256_DIGEST_LENGTH];
	char nonce[256], b64salt[400], auth[SCRAM_MAX * 3], proof_b64[64];
	const char *r = scram_attr(sfirst, 'r'), *s = scram_attr(sfirst, 's');
	const char *i = scram_attr(sfirst, 'i');
	int slen, iter;

	if (r == NULL || s == NULL || i == NULL ||
	    strncmp(r, cnonce, strlen(cnonce)) != 0 ||
	    strcspn(r, ",") >= sizeof(nonce) ||
	    strcspn(s, ",") >= sizeof(b64salt))
		return -1;
	snprintf(nonce, sizeof(nonce), "%.*s", (int)strcspn(r, ","), r);
	snprintf(b64salt, sizeof(b64salt), "%.*s", (int)strcspn(s, ","), s);
	if ((slen = b64_dec(salt, sizeof(salt) - 1, b64salt)) <= 0 ||
	    (iter = atoi(i)) < 1)
		return -1;
	if (PKCS5_PBKDF2_HMAC(o->pass, (int)strlen(o->pass), salt, slen,
	    iter, EVP_sha256(), sizeof(sp), sp) != 1)
		return -1;
	hmac256(sp, sizeof(sp), "Client Key", 10, ck);
	hmac256(sp, sizeof(sp), "Server Key", 10, sk);
	SHA256(ck, sizeof(ck), stored);
	/* c=biws is base64("n,,"): no channel binding, no authzid. */
	snprintf(auth, sizeof(auth), "%s,%s,c=biws,r=%s", cfirst_bare,
	    sfirst, nonce);
	hmac256(stored, sizeof(stored), auth, strlen(auth), csig);
	for (size_t k = 0; k < sizeof(ck); k++)
		ck[k] ^= csig[k];
	b64_enc(proof_b64, ck, sizeof(ck));
	hmac256(sk, sizeof(sk), auth, strlen(auth), ssig);
	OPENSSL_cleanse(sp, sizeof(sp));
	OPENSSL_cleanse(ck, sizeof(ck));
	if ((size_t)snprintf(cfinal, cflen, "c=biws,r=%s,p=%s", nonce,
	    proof_b64) >= cflen)
		return -1;
	return 0;
}

/* 1: +OK, 0: -ERR, -1: other error (server signature included). */
static int
auth_scram(struct conn *c, const struct opts *o, const char *user)
{
	unsigned char rnd[18], ssig[SHA256_DIGEST_LENGTH];
	char cnonce[32], cfirst[SCRAM_MAX], sfirst[SCRAM_MAX];
	char cfinal[SCRAM_MAX], sfinal[SCRAM_MAX], want[64];
	const char *v;
	int r;

	/* User names here have no ',' or '=', so no =2C/=3D escaping. */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return conn_fail(c, "SCRAM", "no random bytes"), -1;
	b64_enc(cnonce, rnd, sizeof(rnd));
	snprintf(cfirst, sizeof(cfirst), "n,,n=%s,r=%s", user, cnonce);
	if (conn_write(c, "AUTH SCRAM-SHA-256\r\n", 20) < 0)
		return -1;
	/* An empty first challenge, then the client-first message. */
	if ((r = scram_challenge(c, sfirst, sizeof(sfirst))) != 1)
		return r;
	if (b64_send(c, cfirst, strlen(cfirst)) < 0)
		return -1;
	if ((r = scram_challenge(c, sfirst, sizeof(sfirst))) != 1)
		return r;
	if (scram_final(o, cfirst + 3, cnonce, sfirst, cfinal,
	    sizeof(cfinal), ssig) < 0)
		return conn_fail(c, "SCRAM", "bad server-first message"), -1;
	if (b64_send(c, cfinal, strlen(cfinal)) < 0)
		return -1;
	if ((r = scram_challenge(c, sfinal, sizeof(sfinal))) != 1)
		return r;
	b64_enc(want, ssig, sizeof(ssig));
	if ((v = scram_attr(sfinal, 'v')) == NULL || strcmp(v, want) != 0)
		return conn_fail(c, "SCRAM", "wrong server signature"), -1;
	/* RFC 5034: no success data, so an empty answer to server-final. */
	if (conn_write(c, "\r\n", 2) < 0 || (v = conn_line(c)) == NULL)
		return -1;
	if (strncmp(v, "+OK", 3) == 0)
		return 1;
	conn_fail(c, "SCRAM: server said", v);
	return strncmp(v, "-ERR", 4) == 0 ? 0 : -1;
}

/* ---- GSSAPI (RFC 4752) over AUTH, with tickets already in a ccache ---- */

/* A "+ " challenge, decoded into a malloc'd buffer. */
static int
gss_challenge(struct conn *c, gss_buffer_desc *tok)
{
	char *line;
	size_t len;
	int n;

	if ((line = conn_line(c)) == NULL)
		return -1;
	if (strncmp(line, "+ ", 2) != 0) {
		conn_fail(c, "GSSAPI: server said", line);
		return strncmp(line, "-ERR", 4) == 0 ? 0 : -1;
	}
	len = strlen(line + 2);
	if ((tok->value = malloc(len / 4 * 3 + 1)) == NULL)
		return conn_fail(c, "GSSAPI", "out of memory"), -1;
	if ((n = b64_dec(tok->value, len / 4 * 3, line + 2)) < 0) {
		free(tok->value);
		tok->value = NULL;
		return conn_fail(c, "GSSAPI", "bad base64 challenge"), -1;
	}
	tok->length = (size_t)n;
	return 1;
}

static void
gss_fail(struct conn *c, const char *what, OM_uint32 major, OM_uint32 minor)
{
	OM_uint32 min2, ctx = 0;
	gss_buffer_desc msg = GSS_C_EMPTY_BUFFER;

	/* The minor (mechanism) status says more than the major one. */
	gss_display_status(&min2, minor ? minor : major,
	    minor ? GSS_C_MECH_CODE : GSS_C_GSS_CODE, GSS_C_NO_OID, &ctx,
	    &msg);
	conn_fail(c, what, msg.length ? (const char *)msg.value : "failed");
	gss_release_buffer(&min2, &msg);
}

/* The security layer step: unwrap the server's offer, answer "no layer"
 * with an empty authzid. */
static int
gss_layer(struct conn *c, gss_ctx_id_t ctx, gss_buffer_desc *in)
{
	unsigned char answer[4] = { 0x01, 0, 0, 0 };
	gss_buffer_desc plain = GSS_C_EMPTY_BUFFER, out = GSS_C_EMPTY_BUFFER;
	gss_buffer_desc ans = { sizeof(answer), answer };
	OM_uint32 major, minor;
	int r;

	major = gss_unwrap(&minor, ctx, in, &plain, NULL, NULL);
	if (GSS_ERROR(major) || plain.length != 4 ||
	    !(((unsigned char *)plain.value)[0] & 0x01)) {
		gss_release_buffer(&minor, &plain);
		return conn_fail(c, "GSSAPI", "bad security layer offer"), -1;
	}
	gss_release_buffer(&minor, &plain);
	major = gss_wrap(&minor, ctx, 0, GSS_C_QOP_DEFAULT, &ans, NULL, &out);
	if (GSS_ERROR(major))
		return gss_fail(c, "gss_wrap", major, minor), -1;
	r = b64_send(c, out.value, out.length);
	gss_release_buffer(&minor, &out);
	return r < 0 ? -1 : 1;
}

static int
gss_exchange(struct conn *c, gss_name_t target, gss_ctx_id_t *ctx)
{
	gss_buffer_desc in = GSS_C_EMPTY_BUFFER, out = GSS_C_EMPTY_BUFFER;
	OM_uint32 major = GSS_S_CONTINUE_NEEDED, minor;
	int r;

	if (conn_write(c, "AUTH GSSAPI\r\n", 13) < 0)
		return -1;
	if ((r = gss_challenge(c, &in)) != 1)
		return r;
	for (;;) {
		if (major == GSS_S_COMPLETE) {
			/* Context done: the next challenge is the layer offer. */
			r = gss_layer(c, *ctx, &in);
			break;
		}
		major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, ctx,
		    target, GSS_C_NO_OID, GSS_C_MUTUAL_FLAG |
		    GSS_C_SEQUENCE_FLAG, 0, GSS_C_NO_CHANNEL_BINDINGS,
		    in.length ? &in : GSS_C_NO_BUFFER, NULL, &out, NULL, NULL);
		free(in.value);
		in.value = NULL;
		in.length = 0;
		if (GSS_ERROR(major)) {
			gss_fail(c, "gss_init_sec_context", major, minor);
			r = -1;
			break;
		}
		r = b64_send(c, out.value, out.length);
		gss_release_buffer(&minor, &out);
		if (r < 0 || (r = gss_challenge(c, &in)) != 1)
			break;
	}
	free(in.value);
	return r;
}

/* 1: +OK, 0: -ERR, -1: other error. */
static int
auth_gssapi(struct conn *c, const struct opts *o, const char *user)
{
	static gss_name_t target = GSS_C_NO_NAME;
	gss_buffer_desc name = { 13, "pop@localhost" };
	gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
	OM_uint32 major, minor;
	char cc[512], *line;
	int r;

	if (target == GSS_C_NO_NAME) {
		major = gss_import_name(&minor, &name,
		    GSS_C_NT_HOSTBASED_SERVICE, &target);
		if (GSS_ERROR(major))
			return gss_fail(c, "gss_import_name", major, minor), -1;
	}
	/* Each user's tickets are in a ccache of its own. */
	if (o->ccdir != NULL) {
		snprintf(cc, sizeof(cc), "FILE:%s/%s", o->ccdir, user);
		major = gss_krb5_ccache_name(&minor, cc, NULL);
		if (GSS_ERROR(major))
			return gss_fail(c, "gss_krb5_ccache_name", major,
			    minor), -1;
	}
	r = gss_exchange(c, target, &ctx);
	gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
	if (r != 1)
		return r;
	if ((line = conn_line(c)) == NULL)
		return -1;
	if (strncmp(line, "+OK", 3) == 0)
		return 1;
	conn_fail(c, "GSSAPI: server said", line);
	return strncmp(line, "-ERR", 4) == 0 ? 0 : -1;
}

/* Connects and authenticates. 1: logged in, 0: -ERR, -1: other error. */
static int
pop_login(struct conn *c, const struct opts *o, const char *user)
{
	int r;

	if (conn_open(c, o) < 0)
		return -1;
	if (o->tls == TLS_IMPLICIT && conn_starttls(c, o->ctx) < 0)
		return -1;
	if ((r = conn_status(c)) != 1)
		return r;
	if (o->tls == TLS_STLS) {
		if ((r = conn_cmd(c, "STLS\r\n")) != 1)
			return r;
		if (conn_starttls(c, o->ctx) < 0)
			return -1;
	}
	if (o->auth == AUTH_PLAIN)
		return auth_plain(c, user, o->pass);
	if (o->auth == AUTH_SCRAM)
		return auth_scram(c, o, user);
	if (o->auth == AUTH_GSSAPI)
		return auth_gssapi(c, o, user);
	if ((r = conn_cmd(c, "USER %s\r\n", user)) != 1)
		return r;
	return conn_cmd(c, "PASS %s\r\n", o->pass);
}

/* QUIT, then wait for the server to close: the session is over only when
 * its UPDATE state is, and the server, closing first, keeps the
 * TIME_WAIT, which leaves the generator's ports free for reuse. */
static int
pop_quit(struct conn *c)
{
	int r = conn_cmd(c, "QUIT\r\n");

	if (r == 1)
		while (conn_fill(c) > 0)
			c->off = c->len;
	conn_close(c);
	return r;
}

/* ---- statistics ---- */

static unsigned
hist_bucket(uint64_t us)
{
	unsigned e;

	if (us < HIST_EXACT)
		return (unsigned)us;
	e = 63u - (unsigned)__builtin_clzll(us);	/* e >= 6 */
	if (e - 6 >= 40)
		return HIST_BUCKETS - 1;
	return HIST_EXACT + (e - 6) * HIST_SUB +
	    (unsigned)((us >> (e - 5)) & (HIST_SUB - 1));
}

static double
hist_value_ms(unsigned b)
{
	unsigned e, m;

	if (b < HIST_EXACT)
		return b / 1000.0;
	e = (b - HIST_EXACT) / HIST_SUB + 6;
	m = (b - HIST_EXACT) % HIST_SUB + HIST_SUB;
	/* The middle of the bucket. */
	return (((double)m + 0.5) * (double)(1ull << (e - 5))) / 1000.0;
}

static double
hist_percentile(const uint32_t *hist, uint64_t count, double p)
{
	uint64_t want = (uint64_t)(p * (double)count + 0.999999), seen = 0;

	if (count == 0)
		return 0;
	for (unsigned b = 0; b < HIST_BUCKETS; b++)
		if ((seen += hist[b]) >= want)
			return hist_value_ms(b);
	return hist_value_ms(HIST_BUCKETS - 1);
}

static void
stats_error(struct stats *st, const struct conn *c, int child)
{
	if (st->err++ < ERR_PRINT_MAX)
		fprintf(stderr, "%s: client %d: %s\n", progname, child,
		    c->errmsg[0] ? c->errmsg : "error");
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- child processes ---- */

/* Children block on a pipe until the parent closes it: a start gun that
 * fires for all of them at once. */
static void
gate_wait(int fd)
{
	char b;

	while (read(fd, &b, 1) < 0 && errno == EINTR)
		;
}

static struct stats *
stats_shared(int n)
{
	void *p = mmap(NULL, sizeof(struct stats) * (size_t)n,
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	return p;
}

/* The child closes the gate's write end, or the gate would never open. */
static pid_t
spawn(void (*fn)(const struct opts *, int, struct stats *, int, int),
    const struct opts *o, int id, struct stats *st, const int gate[2],
    int ready)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(gate[1]);
		fn(o, id, st, gate[0], ready);
		_exit(0);
	}
	return pid;
}

static void
reap(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
}

/* ---- logins ---- */

static void
login_client(const struct opts *o, int id, struct stats *st, int gate,
    int ready)
{
	struct conn *c = malloc(sizeof(*c));
	char user[128];
	double t0, t1, end;
	long i = id;
	int r;

	(void)ready;
	if (c == NULL)
		_exit(1);
	gate_wait(gate);
	end = now() + o->duration;
	while ((t0 = now()) < end) {
		user_name(o, i, user, sizeof(user));
		i += o->clients;
		r = pop_login(c, o, user);
		if (r == 1)
			r = pop_quit(c);
		else
			conn_close(c);
		t1 = now();
		if (r != 1) {
			stats_error(&st[id], c, id);
			/* Do not spin on a server that refuses at once. */
			usleep(1000);
			continue;
		}
		if (t1 <= end) {
			st[id].ok++;
			st[id].hist[hist_bucket((uint64_t)((t1 - t0) * 1e6))]++;
		}
	}
	free(c);
}

static void
mode_logins(const struct opts *o)
{
	struct stats *st = stats_shared(o->clients), sum = { 0 };
	pid_t *pids = calloc((size_t)o->clients, sizeof(*pids));
	struct rusage ru;
	int gate[2];
	double t0, t;

	if (pids == NULL || pipe(gate) < 0)
		die("out of resources");
	for (int i = 0; i < o->clients; i++)
		pids[i] = spawn(login_client, o, i, st, gate, -1);
	close(gate[0]);
	t0 = now();
	close(gate[1]);
	reap(pids, o->clients);
	t = now() - t0;
	getrusage(RUSAGE_CHILDREN, &ru);
	for (int i = 0; i < o->clients; i++) {
		sum.ok += st[i].ok;
		sum.err += st[i].err;
		for (int b = 0; b < HIST_BUCKETS; b++)
			sum.hist[b] += st[i].hist[b];
	}
	/* The generator's own CPU time: on a shared machine it is taken
	 * from the server, so it is worth knowing. */
	printf("mode=logins clients=%d seconds=%.2f logins=%" PRIu64
	    " errors=%" PRIu64 " logins_per_s=%.1f p50_ms=%.2f p99_ms=%.2f"
	    " client_cpu_s=%.2f\n",
	    o->clients, t, sum.ok, sum.err, (double)sum.ok / o->duration,
	    hist_percentile(sum.hist, sum.ok, 0.50),
	    hist_percentile(sum.hist, sum.ok, 0.99),
	    (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	free(pids);
}

/* ---- retr ---- */

static long
pop_stat(struct conn *c)
{
	char *line;
	long n;

	if (conn_write(c, "STAT\r\n", 6) < 0 || (line = conn_line(c)) == NULL)
		return -1;
	if (sscanf(line, "+OK %ld", &n) != 1 || n < 0)
		return conn_fail(c, "STAT", line), -1;
	return n;
}

/* Sends RETR first..first+n-1 in one write, then reads the n replies. */
static int
retr_batch(struct conn *c, long first, int n, uint64_t *octets)
{
	char cmds[64 * 32];
	size_t len = 0;
	int r;

	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(cmds + len, sizeof(cmds) - len,
		    "RETR %ld\r\n", first + i);
	if (conn_write(c, cmds, len) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if ((r = conn_status(c)) != 1)
			return r;
		if (conn_body(c, octets) < 0)
			return -1;
	}
	return 1;
}

/* One session: RETR of every message; returns MB/s or -1. */
static double
retr_run(const struct opts *o, uint64_t *octets_r, long *msgs_r)
{
	struct conn *c = malloc(sizeof(*c));
	double t0, t = -1;
	long n, i;
	int k = 1;

	if (c == NULL)
		die("out of memory");
	*octets_r = 0;
	if (pop_login(c, o, o->user) != 1 || (n = pop_stat(c)) < 0)
		goto out;
	t0 = now();
	for (i = 1; i <= n && k == 1; i += o->batch)
		k = retr_batch(c, i, (int)(n - i + 1 < o->batch ?
		    n - i + 1 : o->batch), octets_r);
	if (k == 1) {
		t = now() - t0;
		*msgs_r = n;
		if (pop_quit(c) != 1)
			t = -1;
	}
out:
	if (t < 0)
		fprintf(stderr, "%s: retr: %s\n", progname, c->errmsg);
	conn_close(c);
	free(c);
	return t < 0 ? -1 : (double)*octets_r / 1e6 / t;
}

static void
mode_retr(const struct opts *o)
{
	double mbs[MAX_RUNS];
	uint64_t octets = 0;
	long msgs = 0;
	int ok = 0;

	for (int i = 0; i < o->runs; i++) {
		double v = retr_run(o, &octets, &msgs);

		if (v >= 0)
			mbs[ok++] = v;
	}
	if (ok == 0) {
		printf("mode=retr errors=%d\n", o->runs);
		return;
	}
	printf("mode=retr runs=%d errors=%d messages=%ld octets=%" PRIu64
	    " batch=%d mb_per_s=%.1f\n", ok, o->runs - ok, msgs, octets,
	    o->batch, median(mbs, ok));
}

/* ---- listing ---- */

/* One session: login, then CAPA, UIDL, LIST one after the other, the way
 * a mail client opens a maildrop. Times in ms; -1 on error. */
static int
listing_run(const struct opts *o, double *login_ms, double *list_ms,
    uint64_t *octets)
{
	struct conn *c = malloc(sizeof(*c));
	double t0, t1;
	int r = -1;

	if (c == NULL)
		die("out of memory");
	*octets = 0;
	t0 = now();
	if (pop_login(c, o, o->user) != 1)
		goto out;
	t1 = now();
	if (conn_cmd_body(c, "CAPA", octets) == 1 &&
	    conn_cmd_body(c, "UIDL", octets) == 1 &&
	    conn_cmd_body(c, "LIST", octets) == 1) {
		*list_ms = (now() - t1) * 1e3;
		*login_ms = (t1 - t0) * 1e3;
		r = pop_quit(c) == 1 ? 0 : -1;
	}
out:
	if (r < 0)
		fprintf(stderr, "%s: listing: %s\n", progname, c->errmsg);
	conn_close(c);
	free(c);
	return r;
}

static void
mode_listing(const struct opts *o)
{
	double login[MAX_RUNS], list[MAX_RUNS];
	uint64_t octets = 0;
	int ok = 0;

	for (int i = 0; i < o->runs; i++)
		if (listing_run(o, &login[ok], &list[ok], &octets) == 0)
			ok++;
	if (ok == 0) {
		printf("mode=listing errors=%d\n", o->runs);
		return;
	}
	printf("mode=listing runs=%d errors=%d octets=%" PRIu64
	    " login_ms=%.2f list_ms=%.2f\n", ok, o->runs - ok, octets,
	    median(login, ok), median(list, ok));
}

/* ---- hold ---- */

/* Holds sessions id, id+procs, ... < o->sessions until the gate closes. */
static void
hold_client(const struct opts *o, int id, struct stats *st, int gate,
    int ready)
{
	int n = (o->sessions - id + o->clients - 1) / o->clients, k = 0;
	struct conn **cs = calloc((size_t)(n > 0 ? n : 1), sizeof(*cs));
	char user[128];

	if (cs == NULL)
		_exit(1);
	for (long i = id; i < o->sessions; i += o->clients) {
		if ((cs[k] = malloc(sizeof(**cs))) == NULL)
			_exit(1);
		user_name(o, i, user, sizeof(user));
		if (pop_login(cs[k], o, user) == 1) {
			st[id].ok++;
			k++;
			continue;
		}
		stats_error(&st[id], cs[k], id);
		conn_close(cs[k]);
		free(cs[k]);
	}
	(void)!write(ready, "r", 1);
	gate_wait(gate);
	for (int i = 0; i < k; i++) {
		pop_quit(cs[i]);
		free(cs[i]);
	}
	free(cs);
}

static void
mode_hold(const struct opts *o)
{
	struct stats *st = stats_shared(o->clients);
	pid_t *pids = calloc((size_t)o->clients, sizeof(*pids));
	uint64_t ok = 0, err = 0;
	int gate[2], ready[2];
	char b, line[64];
	double t0 = now();

	if (pids == NULL || pipe(gate) < 0 || pipe(ready) < 0)
		die("out of resources");
	for (int i = 0; i < o->clients; i++)
		pids[i] = spawn(hold_client, o, i, st, gate, ready[1]);
	close(gate[0]);
	close(ready[1]);
	for (int i = 0; i < o->clients; i++)
		if (read(ready[0], &b, 1) != 1)
			break;
	for (int i = 0; i < o->clients; i++) {
		ok += st[i].ok;
		err += st[i].err;
	}
	printf("mode=hold held=%" PRIu64 " errors=%" PRIu64
	    " seconds=%.2f\n", ok, err, now() - t0);
	fflush(stdout);
	/* Until a line or EOF on stdin, or SIGTERM (which ends us at once). */
	(void)!fgets(line, sizeof(line), stdin);
	close(gate[1]);
	reap(pids, o->clients);
	free(pids);
}

/* ---- main ---- */

static void
parse_mode(struct opts *o, const char *s)
{
	if (strcmp(s, "plain") == 0)
		o->tls = TLS_NONE;
	else if (strcmp(s, "stls") == 0)
		o->tls = TLS_STLS;
	else if (strcmp(s, "tls") == 0)
		o->tls = TLS_IMPLICIT;
	else
		usage();
}

static void
parse_auth(struct opts *o, const char *s)
{
	if (strcmp(s, "user") == 0)
		o->auth = AUTH_USERPASS;
	else if (strcmp(s, "plain") == 0)
		o->auth = AUTH_PLAIN;
	else if (strcmp(s, "scram") == 0)
		o->auth = AUTH_SCRAM;
	else if (strcmp(s, "gssapi") == 0)
		o->auth = AUTH_GSSAPI;
	else
		usage();
}

static int
parse_int(const char *s, int lo, int hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		die("bad number: %s (%d-%d)", s, lo, hi);
	return (int)v;
}

static void
parse_opts(struct opts *o, int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "a:b:c:d:h:k:m:n:p:r:t:u:U:w:")) != -1) {
		switch (ch) {
		case 'a':
			parse_auth(o, optarg);
			break;
		case 'b': o->batch = parse_int(optarg, 1, 64); break;
		case 'c': o->clients = parse_int(optarg, 1, 4096); break;
		case 'd': o->duration = parse_int(optarg, 1, 3600); break;
		case 'h': o->host = optarg; break;
		case 'k': o->ccdir = optarg; break;
		case 'm': parse_mode(o, optarg); break;
		case 'n': o->sessions = parse_int(optarg, 1, 100000); break;
		case 'p': o->port = parse_int(optarg, 1, 65535); break;
		case 'r': o->runs = parse_int(optarg, 1, MAX_RUNS); break;
		case 't': o->timeout = parse_int(optarg, 1, 3600); break;
		case 'u': o->user = optarg; break;
		case 'U': o->nusers = parse_int(optarg, 1, 1000000); break;
		case 'w': o->pass = optarg; break;
		default: usage();
		}
	}
	if (o->port == 0 || o->user == NULL || o->pass == NULL ||
	    optind != argc)
		usage();
	if (inet_pton(AF_INET, o->host, &o->addr.sin_addr) != 1)
		die("not an IPv4 address: %s", o->host);
	o->addr.sin_family = AF_INET;
	o->addr.sin_port = htons((uint16_t)o->port);
}

/* No certificate check: both servers get the same handshake, and the
 * client's share of the two cores stays small. */
static SSL_CTX *
client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		die("SSL_CTX_new failed");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Every login is a full handshake, as for a client started anew. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

static void
raise_fd_limit(int want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)want) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)want ? rl.rlim_max :
		    (rlim_t)want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	struct opts o = {
		.host = "127.0.0.1", .tls = TLS_NONE, .auth = AUTH_USERPASS,
		.clients = 1, .duration = 10, .runs = 3, .batch = 1,
		.sessions = 100, .timeout = 30,
	};
	const char *mode;

	if (argc < 2)
		usage();
	mode = argv[1];
	parse_opts(&o, argc - 1, argv + 1);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	o.ctx = client_ctx();
	if (strcmp(mode, "logins") == 0)
		mode_logins(&o);
	else if (strcmp(mode, "retr") == 0)
		mode_retr(&o);
	else if (strcmp(mode, "listing") == 0)
		mode_listing(&o);
	else if (strcmp(mode, "hold") == 0) {
		if (o.clients > o.sessions)
			o.clients = o.sessions;
		raise_fd_limit(o.sessions / o.clients + 64);
		mode_hold(&o);
	} else
		usage();
	SSL_CTX_free(o.ctx);
	return 0;
}
