#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "common/log.h"

bool log_verbose;
static bool log_stderr;
static const char *log_ident = "postern";
static char log_prefix[128];

void
log_open(const char *ident, int facility, bool to_stderr)
{
	log_ident = ident;
	log_stderr = to_stderr;
	openlog(ident, LOG_PID | LOG_NDELAY, facility);
}

/* A per-session prefix ("session 1a2b: ") so that every line of a session
 * can be found with one grep. */
void
log_set_prefix(const char *prefix)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix ? prefix : "");
}

static void
log_emit(int prio, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Never let a control character from the network split a log line. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	syslog(prio, "%s%s", log_prefix, msg);
	if (log_stderr)
		fprintf(stderr, "%s[%ld]: %s%s\n", log_ident, (long)getpid(),
		    log_prefix, msg);
}

#define LOG_FN(name, prio)                     \
	void name(const char *fmt, ...)        \
	{                                      \
		va_list ap;                    \
		va_start(ap, fmt);             \
		log_emit(prio, fmt, ap);       \
		va_end(ap);                    \
	}

LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warn, LOG_WARNING)
LOG_FN(log_err, LOG_ERR)

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
