#ifndef POSTERN_RESP_H
#define POSTERN_RESP_H

/* RFC 2449 / RFC 3206 response codes. Errors travel as these values; the
 * session turns them into "-ERR [CODE] text". */
enum resp_code {
	RC_NONE = 0,
	RC_AUTH,        /* the credentials were at fault */
	RC_SYS_TEMP,    /* transient server problem: retry later */
	RC_SYS_PERM,    /* needs an administrator */
	RC_IN_USE,      /* maildrop locked by another session */
	RC_LOGIN_DELAY, /* too soon after the last login */
};

static inline const char *
resp_code_tag(enum resp_code rc)
{
	switch (rc) {
	case RC_AUTH: return "[AUTH] ";
	case RC_SYS_TEMP: return "[SYS/TEMP] ";
	case RC_SYS_PERM: return "[SYS/PERM] ";
	case RC_IN_USE: return "[IN-USE] ";
	case RC_LOGIN_DELAY: return "[LOGIN-DELAY] ";
	default: return "";
	}
}

#endif
