#ifndef POSTERN_COMMANDS_H
#define POSTERN_COMMANDS_H

#include <stdbool.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "common/resp.h"
#include "daemon/io.h"
#include "daemon/master.h"
#include "daemon/scoreboard.h"
#include "sasl/psasl.h"

struct listener;
struct maildrop;
struct user_record;

/* Internal to the POP3 state machine: session.c drives, cmd_auth.c and
 * cmd_trans.c hold the handlers. */

enum pop_state {
	POP_AUTHORIZATION = 1,
	POP_TRANSACTION = 2,
};

/* What a handler tells the loop. */
enum cmd_result {
	CMD_DONE,   /* answered */
	CMD_BAD,    /* answered -ERR; counts toward bad_command_limit */
	CMD_CLOSE,  /* end the session after flushing */
};

struct session {
	struct server *srv;
	const struct config *cfg;
	const struct listener *listener;
	struct sb_slot *slot;
	struct io io;
	SSL *ssl;
	struct psasl_cbind cbind;
	bool have_cbind;
	struct psasl *sasl;
	enum pop_state state;
	char id[17];
	struct sockaddr_storage peer, local;
	char peer_addr[64], local_addr[64];
	char proxy_addr[64];     /* the load balancer, when behind one */
	int peer_port, local_port;
	char *pending_user;      /* from USER, waiting for PASS */
	char auth_mech[32];      /* of the attempt in progress, for audit */
	char *auth_login;        /* name the client gave, for audit */
	const char *end_reason;  /* why the session ended, for audit */
	const char *md_fail_reason;
	char *kpop_principal;    /* KPOP: authenticated by the handshake */
	char *kpop_user;         /* ... and the login name it maps to */
	struct user_record *user;
	struct maildrop *md;
	unsigned char *retrieved_flags; /* per message: RETR'd (for EXPIRE 0) */
	int bad_commands;
	unsigned retrieved, deleted_committed;
};

struct command {
	const char *name;
	int states;              /* mask of enum pop_state */
	enum cmd_result (*handler)(struct session *s, char *args);
};

void reply_ok(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void reply_err(struct session *s, enum resp_code rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const struct command *command_find(const char *keyword);

/* Connection facts that auth decisions need. */
bool session_cleartext_ok(const struct session *s);
void session_sasl_reset(struct session *s);
/* After a successful authentication as name: directory checks, lock.
 * s->auth_mech and s->auth_login describe the attempt. */
enum cmd_result session_login(struct session *s, const char *name);
/* The authenticated identity of the current attempt, for audit. */
const char *session_authid(const struct session *s);
/* Records the attempt (mech, login) that the next outcome belongs to. */
void session_auth_attempt(struct session *s, const char *mech,
    const char *login);

/* EXPIRE in days for this session's user: -1 never. */
int session_expire_days(const struct session *s);

/* Throttling of credential checks (gate.c). */
bool gate_open(struct session *s, const char *user);
void gate_failed(struct session *s, const char *user);
void gate_passed(struct session *s, const char *user);

/* AUTHORIZATION */
enum cmd_result cmd_capa(struct session *s, char *args);
enum cmd_result cmd_stls(struct session *s, char *args);
enum cmd_result cmd_user(struct session *s, char *args);
enum cmd_result cmd_pass(struct session *s, char *args);
enum cmd_result cmd_auth(struct session *s, char *args);
enum cmd_result cmd_quit(struct session *s, char *args);
/* TRANSACTION */
enum cmd_result cmd_stat(struct session *s, char *args);
enum cmd_result cmd_list(struct session *s, char *args);
enum cmd_result cmd_uidl(struct session *s, char *args);
enum cmd_result cmd_retr(struct session *s, char *args);
enum cmd_result cmd_top(struct session *s, char *args);
enum cmd_result cmd_dele(struct session *s, char *args);
enum cmd_result cmd_rset(struct session *s, char *args);
enum cmd_result cmd_noop(struct session *s, char *args);

#endif
