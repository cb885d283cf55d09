#ifndef POSTERN_SASL_CHECKPASS_H
#define POSTERN_SASL_CHECKPASS_H

#include <stdbool.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "directory/directory.h"

/* The directory as Cyrus SASL sees it: user lookups on behalf of a SASL
 * connection, and the cleartext password check behind PLAIN and USER/PASS
 * (SASL_CB_SERVER_USERDB_CHECKPASS). */

/* What the callbacks learn about one connection. Each psasl handle holds
 * one and registers it as the context of its per-connection callbacks, so
 * that a directory failure deep inside libsasl2 can still be reported as
 * [SYS/TEMP] instead of looking like a wrong password. */
struct psasl_conn_state {
	bool tempfail;          /* the directory failed during this exchange */
};

/* Before fork: remembers the directory and prepares the decoy hash that
 * makes a check for an unknown user cost as much as a real one. */
void checkpass_init(struct directory *dir);
void checkpass_set_directory(struct directory *dir);
void checkpass_done(void);

/* directory_lookup() that notes DIR_TEMPFAIL in st (st may be NULL). */
enum dir_result checkpass_lookup(struct psasl_conn_state *st,
    const char *name, struct user_record **u);

/* The state of the connection a plugin works for, found through the
 * connection's callbacks; NULL for a connection psasl did not create. */
struct psasl_conn_state *checkpass_state(const sasl_utils_t *utils);

/* SASL_CB_SERVER_USERDB_CHECKPASS; context: struct psasl_conn_state * or
 * NULL. Unknown user and wrong password give the same answer. */
int checkpass_cb(sasl_conn_t *conn, void *context, const char *user,
    const char *pass, unsigned passlen, struct propctx *propctx);

/* Casts a callback to the type sasl_callback_t stores; the detour through
 * void (*)(void) keeps -Wcast-function-type quiet, as that type is the one
 * GCC accepts as "any function". */
#define PSASL_CB(fn) ((int (*)(void))(void (*)(void))(fn))

#endif
