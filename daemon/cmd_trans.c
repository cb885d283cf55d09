#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/audit.h"
#include "daemon/cmdline.h"
#include "daemon/commands.h"
#include "daemon/maildrop.h"
#include "daemon/msgsend.h"

/* Resolves a message-number argument to an index of a live message. */
static bool
message_arg(struct session *s, char *arg, size_t *idx)
{
	size_t n;

	if (!parse_msgnum(arg, s->md->count, &n)) {
		reply_err(s, RC_NONE, "No such message");
		return false;
	}
	if (s->md->msgs[n - 1].deleted) {
		reply_err(s, RC_NONE, "Message %zu is deleted", n);
		return false;
	}
	*idx = n - 1;
	return true;
}

enum cmd_result
cmd_stat(struct session *s, char *args)
{
	if (*args)
		return reply_err(s, RC_NONE, "STAT takes no argument"), CMD_BAD;
	reply_ok(s, "%zu %lld", s->md->live_count, (long long)s->md->live_size);
	return CMD_DONE;
}

/* LIST and UIDL share their shape: one message or all live ones. */
static enum cmd_result
scan_listing(struct session *s, char *args, bool uidl)
{
	char *arg = next_arg(&args);
	size_t i;

	if (*args)
		return reply_err(s, RC_NONE, "too many arguments"), CMD_BAD;
	if (arg) {
		if (!message_arg(s, arg, &i))
			return CMD_BAD;
		if (uidl)
			reply_ok(s, "%zu %s", i + 1, s->md->msgs[i].uidl);
		else
			reply_ok(s, "%zu %lld", i + 1, (long long)s->md->msgs[i].size);
		return CMD_DONE;
	}
	reply_ok(s, "%zu messages (%lld octets)", s->md->live_count,
	    (long long)s->md->live_size);
	for (i = 0; i < s->md->count; i++) {
		const struct message *m = &s->md->msgs[i];

		if (m->deleted)
			continue;
		if (uidl)
			io_printf(&s->io, "%zu %s\r\n", i + 1, m->uidl);
		else
			io_printf(&s->io, "%zu %lld\r\n", i + 1, (long long)m->size);
	}
	io_puts(&s->io, ".\r\n");
	return CMD_DONE;
}

enum cmd_result
cmd_list(struct session *s, char *args)
{
	return scan_listing(s, args, false);
}

enum cmd_result
cmd_uidl(struct session *s, char *args)
{
	return scan_listing(s, args, true);
}

static enum cmd_result
send_message(struct session *s, size_t i, long body_lines)
{
	enum resp_code rc = RC_NONE;
	off_t len;
	int fd = maildrop_open_message(s->md, i, &len, &rc);

	if (fd < 0) {
		if (rc == RC_NONE)
			reply_err(s, RC_NONE, "Message %zu no longer exists", i + 1);
		else
			reply_err(s, rc, "Cannot read message %zu now", i + 1);
		return CMD_DONE;
	}
	reply_ok(s, "%lld octets", (long long)s->md->msgs[i].size);
	if (!message_send(&s->io, fd, len, body_lines)) {
		log_warn("reading message %s: %s", s->md->msgs[i].name,
		    strerror(errno));
		close(fd);
		return CMD_CLOSE;
	}
	close(fd);
	if (body_lines < 0) {
		s->retrieved++;
		s->retrieved_flags[i] = 1;
	}
	audit_message(s, body_lines < 0 ? "retr" : "top", s->md->msgs[i].uidl,
	    s->md->msgs[i].size);
	return CMD_DONE;
}

enum cmd_result
cmd_retr(struct session *s, char *args)
{
	char *arg = next_arg(&args);
	size_t i;

	if (arg == NULL || *args)
		return reply_err(s, RC_NONE, "usage: RETR msg"), CMD_BAD;
	if (!message_arg(s, arg, &i))
		return CMD_BAD;
	return send_message(s, i, -1);
}

enum cmd_result
cmd_top(struct session *s, char *args)
{
	char *arg = next_arg(&args), *lines = next_arg(&args);
	long n;
	size_t i;

	if (arg == NULL || lines == NULL || *args || !parse_count(lines, &n))
		return reply_err(s, RC_NONE, "usage: TOP msg lines"), CMD_BAD;
	if (!message_arg(s, arg, &i))
		return CMD_BAD;
	return send_message(s, i, n);
}

enum cmd_result
cmd_dele(struct session *s, char *args)
{
	char *arg = next_arg(&args);
	size_t i;

	if (arg == NULL || *args)
		return reply_err(s, RC_NONE, "usage: DELE msg"), CMD_BAD;
	if (!message_arg(s, arg, &i))
		return CMD_BAD;
	maildrop_mark_deleted(s->md, i);
	reply_ok(s, "Message %zu deleted", i + 1);
	return CMD_DONE;
}

enum cmd_result
cmd_rset(struct session *s, char *args)
{
	if (*args)
		return reply_err(s, RC_NONE, "RSET takes no argument"), CMD_BAD;
	maildrop_reset(s->md);
	reply_ok(s, "Maildrop has %zu messages (%lld octets)", s->md->live_count,
	    (long long)s->md->live_size);
	return CMD_DONE;
}

enum cmd_result
cmd_noop(struct session *s, char *args)
{
	if (*args)
		return reply_err(s, RC_NONE, "NOOP takes no argument"), CMD_BAD;
	reply_ok(s, "%s", "");
	return CMD_DONE;
}
