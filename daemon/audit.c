/*
 * audit.c: the audit trail; the event schema is doc/postern-audit.7.
 *
 * Each event is one RFC 5424 message whose facts sit in one SD-ELEMENT,
 * [postern@32473 key="value" ...], sent as one datagram on a unix socket
 * of its own (audit_socket), apart from the diagnostics of log.c.  A
 * collector then needs no regular expression, and an event that cannot
 * be written is noticed (audit_required) instead of vanishing inside
 * syslog(3).
 *
 * Values come from clients (login names, SASL identities, the mechanism
 * name), so every value goes through value_put(), which makes it
 * printable UTF-8 and keeps it reversible: "\" becomes "\\", and every
 * byte that is not part of a printable UTF-8 character becomes "\xNN".
 * Only then is the RFC 5424 escaping (\" \\ \]) applied, so no value can
 * end its parameter, the element or the line.
 *
 * Runs in the workers, unprivileged: the socket is connected at the first
 * event and again after any error, so a restarted logger is found again.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "common/clock.h"
#include "common/log.h"
#include "daemon/audit.h"
#include "daemon/commands.h"
#include "daemon/listener.h"
#include "daemon/metrics.h"
#include "directory/directory.h"

/* Our private enterprise number's SD-ID (RFC 5424 section 7.2.2). */
#define AUDIT_SDID	"postern@32473"
#define AUDIT_APP	"posternd"
/* Input bytes kept of one value: a SASL identity may be 64 KB long. */
#define AUDIT_VALUE_MAX	256
/* Every parameter at its longest, each input byte escaped as "\\xNN",
 * still fits: about 12 values of 5 * AUDIT_VALUE_MAX. */
#define AUDIT_MSG_MAX	16384
/* How long one event may wait for the logger's queue to drain. */
#define AUDIT_WAIT_MS	1000

struct rec {
	char buf[AUDIT_MSG_MAX];
	size_t len;
	bool overflow;
};

static struct {
	const struct config *cfg;	/* the settings below come from it */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fac_auth, fac;
	bool required;
	int fd;
	unsigned long lost;		/* events lost since the last success */
} audit = { .fd = -1 };

static const struct {
	const char *name;
	int code;
} facilities[] = {
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
	{ "daemon", LOG_DAEMON }, { "mail", LOG_MAIL }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

/*
 * Settings and the socket.
 */

static int
facility_code(const char *name, int def)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (name != NULL && strcmp(facilities[i].name, name) == 0)
			return facilities[i].code;
	return def;
}

static void
sink_close(void)
{
	if (audit.fd != -1)
		close(audit.fd);
	audit.fd = -1;
}

static void
audit_use(const struct config *cfg, bool force)
{
	if (cfg == NULL || (cfg == audit.cfg && !force))
		return;
	audit.cfg = cfg;
	snprintf(audit.path, sizeof(audit.path), "%s",
	    cfg->audit_socket ? cfg->audit_socket : "/dev/log");
	audit.fac_auth = facility_code(cfg->audit_facility_auth, LOG_AUTHPRIV);
	audit.fac = facility_code(cfg->audit_facility, LOG_MAIL);
	audit.required = cfg->audit_required;
	sink_close();
}

/* While the logger is absent, try again at most this often: every RETR
 * would otherwise pay a socket() and a failed connect(). */
#define AUDIT_RETRY_MS 250

static bool
sink_connect(void)
{
	static long long retry_at;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	/* With audit_required a login waits on this: always try. */
	if (!audit.required && clock_ms() < retry_at) {
		errno = ECONNREFUSED;
		return false;
	}
	retry_at = 0;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", audit.path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return false;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		e = errno;
		close(fd);
		retry_at = clock_ms() + AUDIT_RETRY_MS;
		errno = e;
		return false;
	}
	audit.fd = fd;
	return true;
}

/* The socket is non-blocking so that a stuck logger holds a session up
 * for AUDIT_WAIT_MS at most. A datagram goes whole or not at all. */
static bool
sink_write(const char *buf, size_t len)
{
	struct pollfd pfd = { .fd = audit.fd, .events = POLLOUT };
	bool waited = false;
	ssize_t n;

	for (;;) {
		if ((n = send(audit.fd, buf, len, MSG_NOSIGNAL)) == (ssize_t)len)
			return true;
		if (n >= 0)
			errno = EMSGSIZE;
		if (n >= 0 || (errno != EAGAIN && errno != EINTR) || waited)
			return false;
		waited = true;
		if (poll(&pfd, 1, AUDIT_WAIT_MS) == 0) {
			errno = EAGAIN;
			return false;
		}
	}
}

/* A restarted logger leaves the old connection refusing: one reconnect. */
static bool
sink_send(const char *buf, size_t len)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (audit.fd == -1 && !sink_connect())
			return false;
		if (sink_write(buf, len))
			return true;
		if (errno == EAGAIN || errno == EMSGSIZE)
			return false;
		sink_close();
	}
	return false;
}

/* Loss is reported when it starts and when it ends, not per event. */
static bool
audit_send(const struct rec *r)
{
	int e;

	if (!r->overflow && sink_send(r->buf, r->len)) {
		if (audit.lost > 0)
			log_info("audit: %s works again; %lu events were lost",
			    audit.path, audit.lost);
		audit.lost = 0;
		return true;
	}
	e = r->overflow ? EMSGSIZE : errno;
	if (audit.lost++ == 0)
		log_warn("audit: cannot write to %s: %s; events are lost%s",
		    audit.path, strerror(e),
		    audit.required ? " and logins refused" : "");
	return false;
}

/*
 * Building an event.
 */

static void
rec_putc(struct rec *r, char c)
{
	if (r->len + 1 < sizeof(r->buf))
		r->buf[r->len++] = c;
	else
		r->overflow = true;
}

static void rec_printf(struct rec *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
rec_printf(struct rec *r, const char *fmt, ...)
{
	size_t room = sizeof(r->buf) - r->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		r->overflow = true;
	else
		r->len += (size_t)n;
}

/* RFC 5424 section 6.3.3: the three characters a PARAM-VALUE escapes. */
static void
sd_putn(struct rec *r, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\' || s[i] == ']')
			rec_putc(r, '\\');
		rec_putc(r, s[i]);
	}
}

/* Characters that would let a value move text around on a screen or
 * split a line: C1 controls, bidirectional controls, line separators. */
static bool
unsafe_codepoint(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	    (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	    cp == 0xfeff;
}

/* Length of the character at s (n bytes left) if it is printable,
 * well-formed UTF-8 (shortest form, no surrogate); else 0. */
static size_t
utf8_printable(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return s[0] >= 0x20 && s[0] != 0x7f;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    unsafe_codepoint(cp))
		return 0;
	return len;
}

/* The value as postern-audit(7) defines it, then SD-escaped. A value cut
 * at AUDIT_VALUE_MAX ends in "\...", which no input can produce. */
static void
value_put(struct rec *r, const char *v)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t n = strlen(v), i, cl;
	char hex[8];

	for (i = 0; i < n; i += cl) {
		cl = utf8_printable(s + i, n - i);
		if (i + (cl ? cl : 1) > AUDIT_VALUE_MAX)
			break;
		if (cl == 0) {
			snprintf(hex, sizeof(hex), "\\x%02x", s[i]);
			sd_putn(r, hex, strlen(hex));
			cl = 1;
		} else if (s[i] == '\\')
			sd_putn(r, "\\\\", 2);
		else
			sd_putn(r, v + i, cl);
	}
	if (i < n)
		sd_putn(r, "\\...", 4);
}

/* Unknown and empty values are left out rather than sent as "". */
static void
param(struct rec *r, const char *name, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	rec_printf(r, " %s=\"", name);
	value_put(r, value);
	rec_putc(r, '"');
}

static void
param_num(struct rec *r, const char *name, unsigned long long n)
{
	rec_printf(r, " %s=\"%llu\"", name, n);
}

/* HOSTNAME and MSGID are PRINTUSASCII words in RFC 5424, or "-". */
static const char *
header_word(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return "-";
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return "-";
	return s;
}

/* getpid() is a system call (glibc >= 2.25) and every RETR is an event:
 * keep the answer, and drop it in a forked child. */
static pid_t audit_pid;

static void
forget_pid(void)
{
	audit_pid = 0;
}

static pid_t
own_pid(void)
{
	static bool hooked;

	if (!hooked && pthread_atfork(NULL, NULL, forget_pid) == 0)
		hooked = true;
	if (audit_pid == 0 || !hooked)
		audit_pid = getpid();
	return audit_pid;
}

static void
rec_begin(struct rec *r, const struct session *s, int pri, const char *event)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	r->len = 0;
	r->overflow = false;
	rec_printf(r, "<%d>1 %s.%06ldZ %s %s %ld %s [%s", pri, stamp,
	    ts.tv_nsec / 1000, header_word(s->cfg->hostname, 255), AUDIT_APP,
	    (long)own_pid(), header_word(event, 32), AUDIT_SDID);
	param(r, "event", event);
	param(r, "session", s->id);
}

/* The MSG part repeats the outcome in words for people reading a plain
 * log; it holds only our own words, never a client's. */
static void
rec_end(struct rec *r, const char *event, const char *result,
    const char *reason)
{
	rec_printf(r, "] %s %s %s", header_word(event, 32),
	    header_word(result, 32), header_word(reason, 70));
}

/* A -PLUS mechanism bound the exchange to the TLS channel. */
static void
param_cbind(struct rec *r, const struct session *s, const char *mech)
{
	size_t n = mech ? strlen(mech) : 0;

	if (s->have_cbind && n > 5 && strcasecmp(mech + n - 5, "-PLUS") == 0)
		param(r, "cbind", s->cbind.name);
}

static void
params_conn(struct rec *r, const struct session *s)
{
	param(r, "listener", s->listener ? s->listener->name : NULL);
	param(r, "client", s->peer_addr);
	param_num(r, "client_port", (unsigned long long)s->peer_port);
	param(r, "local", s->local_addr);
	param_num(r, "local_port", (unsigned long long)s->local_port);
	if (s->proxy_addr[0])
		param(r, "via", s->proxy_addr);
	if (s->ssl != NULL) {
		param(r, "tls", SSL_get_version(s->ssl));
		param(r, "tls_cipher", SSL_get_cipher_name(s->ssl));
	}
}

/* Who the session is logged in as, once it is. */
static void
params_login(struct rec *r, const struct session *s)
{
	if (s->state != POP_TRANSACTION)
		return;
	param(r, "mech", s->auth_mech);
	param_cbind(r, s, s->auth_mech);
	param(r, "user", s->user ? s->user->name : NULL);
}

/*
 * Public interface.
 */

void
audit_configure(const struct config *cfg)
{
	struct stat st;

	audit_use(cfg, true);
	if (stat(audit.path, &st) == -1)
		log_warn("audit_socket %s: %s; until it appears, audit events "
		    "are lost%s", audit.path, strerror(errno),
		    audit.required ? " and logins refused" : "");
	else if (!S_ISSOCK(st.st_mode))
		log_warn("audit_socket %s is not a socket", audit.path);
}

bool
audit_auth(const struct session *s, const char *mech, const char *login,
    const char *authid, const char *authzid, bool ok, const char *reason)
{
	const char *result = ok ? "ok" : "fail";
	struct rec r;

	metrics_auth(mech, reason);
	audit_use(s->cfg, false);
	rec_begin(&r, s, audit.fac_auth | (ok ? LOG_INFO : LOG_NOTICE), "auth");
	param(&r, "result", result);
	param(&r, "reason", reason);
	param(&r, "mech", mech);
	param_cbind(&r, s, mech);
	param(&r, "login", login);
	param(&r, "authid", authid);
	param(&r, "authzid", authzid);
	param(&r, "user", s->user ? s->user->name : NULL);
	if (!ok && s->sasl != NULL)
		param(&r, "detail", psasl_errdetail(s->sasl));
	params_conn(&r, s);
	rec_end(&r, "auth", result, reason);
	return audit_send(&r) || !audit.required;
}

void
audit_message(const struct session *s, const char *action, const char *uidl,
    off_t size)
{
	struct rec r;

	metrics_message(action, size > 0 ? (uint64_t)size : 0);
	audit_use(s->cfg, false);
	rec_begin(&r, s, audit.fac | LOG_INFO, action);
	param(&r, "result", "ok");
	params_login(&r, s);
	param(&r, "uidl", uidl);
	param_num(&r, "size", size > 0 ? (unsigned long long)size : 0);
	params_conn(&r, s);
	rec_end(&r, action, "ok", uidl);
	audit_send(&r);
}

/* A pop3s session without TLS cannot have sent QUIT: its handshake
 * failed, whatever default reason the caller passed. */
static const char *
end_reason(const struct session *s, const char *reason)
{
	if (reason == NULL || *reason == '\0')
		reason = "error";
	if (strcmp(reason, "quit") == 0 && s->ssl == NULL &&
	    s->listener != NULL && s->listener->mode == LISTEN_POP3S)
		return "tls-handshake";
	return reason;
}

void
audit_session_end(const struct session *s, const char *reason)
{
	const char *result;
	struct rec r;

	reason = end_reason(s, reason);
	metrics_session_end(reason, s->io.bytes_in, s->io.bytes_out);
	result = strcmp(reason, "quit") == 0 ? "ok" : "fail";
	audit_use(s->cfg, false);
	rec_begin(&r, s, audit.fac | LOG_INFO, "logout");
	param(&r, "result", result);
	param(&r, "reason", reason);
	params_login(&r, s);
	param_num(&r, "bytes_in", s->io.bytes_in);
	param_num(&r, "bytes_out", s->io.bytes_out);
	param_num(&r, "retrieved", s->retrieved);
	param_num(&r, "deleted", s->deleted_committed);
	params_conn(&r, s);
	rec_end(&r, "logout", result, reason);
	audit_send(&r);
}
