#ifndef POSTERN_USER_CMD_H
#define POSTERN_USER_CMD_H

#include <sys/types.h>

#include <stdbool.h>

#include "directory/directory.h"

/* "postern user ...": edits the users file (directory/dir_file.c); "show"
 * also reads an LDAP directory. */

/* Exit statuses of the admin tool. */
#define ADMIN_EXIT_OK    0
#define ADMIN_EXIT_ERROR 1
#define ADMIN_EXIT_USAGE 2

/* What the subcommands work on, from -u/-s or the config file. */
struct directory;

struct admin_ctx {
	const char *users_file;
	/* directory = ldap: the configured directory, for "user show" only
	 * (the other commands edit a users file); NULL otherwise. */
	struct directory *dir;
	const char *store_root;   /* NULL: only absolute maildrops */
	/* Running as root and the config names an existing service user:
	 * new maildirs go to it, a new users file to its group. */
	bool chown_new;
	uid_t service_uid;
	gid_t service_gid;
};

/* NAME's record, from the configured directory when there is one (LDAP),
 * else from the users file; free it with user_record_free(). */
enum dir_result user_lookup(const struct admin_ctx *ctx, const char *name,
    struct user_record **u);

/* argv[0] is "user"; returns an ADMIN_EXIT_* status. */
int user_cmd(const struct admin_ctx *ctx, int argc, char **argv);
/* One line per subcommand, for postern --help. */
extern const char user_cmd_usage[];

#endif
