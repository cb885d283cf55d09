/*
 * popload: a POP3 load generator for bench/run.
 *
 *	popload logins  [opts] -c CLIENTS -d SECONDS
 *	popload retr    [opts] [-b BATCH] [-r RUNS]
 *	popload listing [opts] [-r RUNS]
 *	popload hold    [opts] -n SESSIONS [-c PROCS]
 *
 * Not part of the autotools build (bench/Makefile or bench/run builds it
 * with one gcc line), so there is no config.h.  It talks to any POP3
 * server: bench/run points it at posternd and at Dovecot in turn, with the
 * same flags, so the two sets of figures are comparable.
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

#include <openssl/err.h>
#include <openssl/evp.h>
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
enum auth_mode { AUTH_USERPASS, AUTH_PLAIN };

struct opts {
	const char *host;
	int port;
	enum tls_mode tls;
	enum auth_mode auth;
	const char *user;	/* a name, or a prefix when nusers > 0 */
	int nusers;		/* names are user0 .. user(nusers-1) */
	const char *pass;
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
	    "\t[-m plain|stls|tls] [-a user|plain] -u USER [-U NUSERS]"
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

	while ((ch = getopt(argc, argv, "a:b:c:d:h:m:n:p:r:t:u:U:w:")) != -1) {
		switch (ch) {
		case 'a':
			if (strcmp(optarg, "user") && strcmp(optarg, "plain"))
				usage();
			o->auth = strcmp(optarg, "plain") == 0 ?
			    AUTH_PLAIN : AUTH_USERPASS;
			break;
		case 'b': o->batch = parse_int(optarg, 1, 64); break;
		case 'c': o->clients = parse_int(optarg, 1, 4096); break;
		case 'd': o->duration = parse_int(optarg, 1, 3600); break;
		case 'h': o->host = optarg; break;
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
