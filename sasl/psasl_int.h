#ifndef POSTERN_SASL_PSASL_INT_H
#define POSTERN_SASL_PSASL_INT_H

/* Private to psasl.c, psasl_global.c and psasl_gss.c: the handle, the
 * global options, and the few functions they share. The API is psasl.h. */

#include <stdbool.h>

#include <sasl/sasl.h>

#include "sasl/checkpass.h"
#include "sasl/psasl.h"

#define PSASL_MAXMECHS  16
#define PSASL_MAXREALMS 16
#define PSASL_MAXPROXIES 16
#define PSASL_DETAILLEN 256

struct psasl {
	struct psasl_conn_state st;     /* context of the checkpass callback */
	sasl_conn_t *conn;
	sasl_callback_t callbacks[5];
	bool cleartext_ok;
	bool has_cbind;
	sasl_channel_binding_t cbind;   /* libsasl2 keeps this pointer */
	char cbind_name[32];
	unsigned char cbind_data[64];
	char *mech_list;                /* libsasl2's mech_list option */
	char *offered;                  /* psasl_mechlist() */
	char mech[SASL_MECHNAMEMAX + 1];/* of the exchange under way */
	bool active;                    /* an exchange waits for psasl_step */
	bool want_p;                    /* -PLUS: client-first must bind */
	bool done;                      /* authenticated */
	char *username;
	char *authid;
	char detail[PSASL_DETAILLEN];   /* last failure, for the log */
	char claimed[256];              /* authid the client gave, or "" */
};

/* Set by psasl_global_init() (psasl_global.c), read-only afterwards. */
struct psasl_opt_state {
	bool inited;
	char *service;
	char *keytab;
	char *mechs[PSASL_MAXMECHS + 1];        /* upper case, no -PLUS */
	char *realms[PSASL_MAXREALMS + 1];
	char *proxy_users[PSASL_MAXPROXIES + 1];
	char *mech_list;                        /* the above, joined */
};
extern struct psasl_opt_state psasl_opt;

/* psasl_global.c */
bool psasl_is_plus(const char *m);
/* The configured mechanisms joined by spaces, filtered by keep() (all of
 * them if NULL). */
char *psasl_mechs_join(bool (*keep)(const struct psasl *, const char *),
    const struct psasl *s);
/* SASL_CB_CANON_USER: trims, refuses control characters, strips listed
 * realms. */
int psasl_canon_user(sasl_conn_t *conn, void *context, const char *in,
    unsigned inlen, unsigned flags, const char *user_realm, char *out,
    unsigned out_max, unsigned *out_len);
/* SASL_CB_LOG; context: the struct psasl, or NULL for the global one. */
int psasl_log_cb(void *context, int level, const char *msg);

/* psasl_gss.c */
/* GSSAPI's checks before libsasl2 sees the first token; false with *rc
 * and s->detail set. */
bool psasl_gss_ready(struct psasl *s, bool has_initial, size_t inlen,
    enum resp_code *rc);
/* Releases the acceptor credentials, if acquired. */
void psasl_gss_done(void);

#endif
