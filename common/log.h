#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdnoreturn.h>

/* Diagnostics go to syslog; with to_stderr they are copied to stderr too
 * (foreground mode, tests, the admin tool). */
void log_open(const char *ident, int facility, bool to_stderr);
void log_set_prefix(const char *prefix);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

extern bool log_verbose;

#endif
