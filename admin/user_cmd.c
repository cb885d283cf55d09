#include "config.h"

/*
 * "postern user ...": adds, changes and removes users in the users file
 * (format: directory/dir_file.c, postern(8)).  The safe rewriting is in
 * users_file.c, reading the password in password.c; this file holds the
 * commands and the creation of maildirs.  "show" also reads the LDAP
 * directory when the config names one (ctx->dir).
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/password.h"
#include "admin/user_cmd.h"
#include "admin/users_file.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "directory/dir_file.h"
#include "directory/verifier.h"

const char user_cmd_usage[] =
    "  user add NAME [--maildrop PATH] [--disabled]\n"
    "  user passwd NAME\n"
    "  user del NAME\n"
    "  user enable NAME | user disable NAME\n"
    "  user list\n"
    "  user show NAME                (also with directory = ldap)\n";

/* Sets the three verifiers of a line from a new password. */
static char *
line_set_password(char *line, const char *pw)
{
	static const struct {
		const char *key, *mech;
	} scram[] = {
		{ "scram-sha-256", "SCRAM-SHA-256" },
		{ "scram-sha-1", "SCRAM-SHA-1" },
	};
	char *v, *nline;

	for (size_t i = 0; i < 2 && line != NULL; i++) {
		v = scram_verifier_make(scram[i].mech, pw, 0);
		nline = v ? dir_file_line_set(line, scram[i].key, v) : NULL;
		free_secret_str(v);
		free_secret_str(line);
		line = nline;
	}
	if (line != NULL) {
		v = crypt_hash_make(pw);
		nline = v ? dir_file_line_set(line, "crypt", v) : NULL;
		free_secret_str(v);
		free_secret_str(line);
		line = nline;
	}
	if (line == NULL)
		log_err("cannot compute password verifiers");
	return line;
}

/* Edits. */

static int
edit_add(struct users_lines *l, const char *name, void *arg)
{
	if (users_line_find(l, name, 0) >= 0) {
		log_err("user %s already exists", name);
		return ADMIN_EXIT_ERROR;
	}
	users_line_insert(l, l->n, xstrdup(arg));
	return ADMIN_EXIT_OK;
}

static int
edit_missing(const char *name)
{
	log_err("no such user: %s", name);
	return ADMIN_EXIT_ERROR;
}

static int
edit_password(struct users_lines *l, const char *name, void *arg)
{
	long i = users_line_find(l, name, 0);
	char *line;

	if (i < 0)
		return edit_missing(name);
	if ((line = line_set_password(xstrdup(l->v[i]), arg)) == NULL)
		return ADMIN_EXIT_ERROR;
	users_line_replace(l, (size_t)i, line);
	return ADMIN_EXIT_OK;
}

/* Every line of the name goes, so that a duplicate cannot take over. */
static int
edit_del(struct users_lines *l, const char *name, void *arg)
{
	long i = users_line_find(l, name, 0);

	(void)arg;
	if (i < 0)
		return edit_missing(name);
	for (; i >= 0; i = users_line_find(l, name, (size_t)i))
		users_line_remove(l, (size_t)i);
	return ADMIN_EXIT_OK;
}

/* arg is the new status value; NULL (enabled, the default) drops it. */
static int
edit_status(struct users_lines *l, const char *name, void *arg)
{
	long i = users_line_find(l, name, 0);
	char *line;

	if (i < 0)
		return edit_missing(name);
	line = dir_file_line_set(l->v[i], "status", arg);
	users_line_replace(l, (size_t)i, line);
	return ADMIN_EXIT_OK;
}

/* Maildir creation. */

/* mkdir at dirfd, chowning only what this call created.  1: created,
 * 0: already there, -1: error. */
static int
mkdir_owned(int dirfd, const char *name, bool chown_it, uid_t uid, gid_t gid)
{
	if (mkdirat(dirfd, name, 0700) == -1)
		return errno == EEXIST ? 0 : -1;
	if (chown_it && fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW))
		return -1;
	return 1;
}

/* new/ cur/ tmp/ in the open maildir, owned like the maildir itself. */
static int
maildir_subdirs(int fd, const char *path)
{
	static const char *const subdirs[] = { "new", "cur", "tmp" };
	struct stat st;

	if (fstat(fd, &st) == -1) {
		log_err("maildir %s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < 3; i++)
		if (mkdir_owned(fd, subdirs[i], geteuid() == 0, st.st_uid,
		    st.st_gid) == -1) {
			log_err("maildir %s/%s: %s", path, subdirs[i],
			    strerror(errno));
			return -1;
		}
	return 0;
}

/* PATH with new/ cur/ tmp/, mode 0700; the parent must exist.  A new
 * maildir goes to the service user; an existing one (or a symlink to one)
 * is completed, not chowned. */
static int
maildir_create(const struct admin_ctx *ctx, const char *path)
{
	int fd, made, r;

	if ((made = mkdir_owned(AT_FDCWD, path, ctx->chown_new,
	    ctx->service_uid, ctx->service_gid)) == -1 ||
	    (fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
		(made ? O_NOFOLLOW : 0))) == -1) {
		log_err("maildir %s: %s", path, strerror(errno));
		return -1;
	}
	r = maildir_subdirs(fd, path);
	close(fd);
	return r;
}

/* Where the maildrop of a new user is, by the rules of dir_file.c. */
static char *
maildrop_resolve(const struct admin_ctx *ctx, const char *name,
    const char *maildrop)
{
	const char *rel = maildrop ? maildrop : name;
	size_t n;

	if (rel[0] == '/')
		return xstrdup(rel);
	if (ctx->store_root == NULL) {
		log_err("no store_root: give -s, --maildrop with an absolute "
		    "path, or set store_root in the config");
		return NULL;
	}
	n = strlen(ctx->store_root);
	return xasprintf("%s%s%s", ctx->store_root,
	    n > 0 && ctx->store_root[n - 1] == '/' ? "" : "/", rel);
}

/* The commands. */

static bool
name_ok(const char *name)
{
	if (dir_file_name_valid(name))
		return true;
	log_err("invalid user name \"%s\": 1-%d characters of "
	    "A-Z a-z 0-9 . _ @ + -", name, DIR_NAME_MAX);
	return false;
}

static int
usage_error(const char *what)
{
	fprintf(stderr, "usage: postern [options] user %s\n", what);
	return ADMIN_EXIT_USAGE;
}

/* The new user's line, verifiers included; NULL after saying why. */
static char *
add_line(const char *name, const char *maildrop, bool disabled)
{
	char *line = xstrdup(name), *pw, *nline;

	if (maildrop != NULL) {
		nline = dir_file_line_set(line, "maildrop", maildrop);
		free(line);
		line = nline;
	}
	if (disabled) {
		nline = dir_file_line_set(line, "status", "disabled");
		free(line);
		line = nline;
	}
	if ((pw = password_read()) == NULL) {
		free(line);
		return NULL;
	}
	line = line_set_password(line, pw);
	free_secret_str(pw);
	return line;
}

static int
add_parse(int argc, char **argv, const char **maildrop, bool *disabled)
{
	static const struct option longopts[] = {
		{ "maildrop", required_argument, NULL, 'm' },
		{ "disabled", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0;             /* glibc: start over on this argv */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'm')
			*maildrop = optarg;
		else if (ch == 'd')
			*disabled = true;
		else
			return -1;
	}
	return argc - optind == 1 ? optind : -1;
}

static int
cmd_add(const struct admin_ctx *ctx, int argc, char **argv)
{
	const char *maildrop = NULL, *name, *err;
	char *path, *line;
	bool disabled = false;
	int i, r;

	if ((i = add_parse(argc, argv, &maildrop, &disabled)) < 0)
		return usage_error("add NAME [--maildrop PATH] [--disabled]");
	if (!name_ok(name = argv[i]))
		return ADMIN_EXIT_ERROR;
	if (maildrop != NULL &&
	    (err = dir_file_maildrop_check(maildrop, ctx->store_root)) != NULL) {
		log_err("--maildrop %s: %s", maildrop, err);
		return ADMIN_EXIT_ERROR;
	}
	/* Checked again under the lock; this spares typing a password. */
	if (users_file_has(ctx, name)) {
		log_err("user %s already exists", name);
		return ADMIN_EXIT_ERROR;
	}
	if ((path = maildrop_resolve(ctx, name, maildrop)) == NULL)
		return ADMIN_EXIT_ERROR;
	if ((line = add_line(name, maildrop, disabled)) == NULL)
		r = ADMIN_EXIT_ERROR;
	else if (maildir_create(ctx, path) != 0)
		r = ADMIN_EXIT_ERROR;
	else if ((r = users_file_edit(ctx, edit_add, name, line)) == ADMIN_EXIT_OK)
		log_info("user %s added (maildrop %s) by uid %ld", name, path,
		    (long)getuid());
	free_secret_str(line);
	free(path);
	return r;
}

static int
cmd_passwd(const struct admin_ctx *ctx, int argc, char **argv)
{
	char *pw;
	int r;

	if (argc != 2)
		return usage_error("passwd NAME");
	if (!name_ok(argv[1]))
		return ADMIN_EXIT_ERROR;
	if (!users_file_has(ctx, argv[1]))
		return edit_missing(argv[1]);
	if ((pw = password_read()) == NULL)
		return ADMIN_EXIT_ERROR;
	if ((r = users_file_edit(ctx, edit_password, argv[1], pw)) == ADMIN_EXIT_OK)
		log_info("user %s: password changed by uid %ld", argv[1],
		    (long)getuid());
	free_secret_str(pw);
	return r;
}

static int
cmd_del(const struct admin_ctx *ctx, int argc, char **argv)
{
	int r;

	if (argc != 2)
		return usage_error("del NAME");
	if (!name_ok(argv[1]))
		return ADMIN_EXIT_ERROR;
	if ((r = users_file_edit(ctx, edit_del, argv[1], NULL)) == ADMIN_EXIT_OK)
		log_info("user %s deleted by uid %ld (maildrop kept)", argv[1],
		    (long)getuid());
	return r;
}

static int
cmd_status(const struct admin_ctx *ctx, int argc, char **argv)
{
	bool enable = strcmp(argv[0], "enable") == 0;
	int r;

	if (argc != 2)
		return usage_error(enable ? "enable NAME" : "disable NAME");
	if (!name_ok(argv[1]))
		return ADMIN_EXIT_ERROR;
	r = users_file_edit(ctx, edit_status, argv[1], enable ? NULL : "disabled");
	if (r == ADMIN_EXIT_OK)
		log_info("user %s %s by uid %ld", argv[1],
		    enable ? "enabled" : "disabled", (long)getuid());
	return r;
}

static struct dir_file *
users_open(const struct admin_ctx *ctx)
{
	struct directory_file_options o = { ctx->users_file, ctx->store_root };

	return dir_file_open(&o);
}

static void
list_one(const struct user_record *u, void *arg)
{
	(void)arg;
	printf("%s\n", u->name);
}

static int
cmd_list(const struct admin_ctx *ctx, int argc, char **argv)
{
	struct dir_file *df;
	enum dir_result r;

	(void)argv;
	if (argc != 1)
		return usage_error("list");
	df = users_open(ctx);
	r = dir_file_foreach(df, list_one, NULL);
	dir_file_close(df);
	return r == DIR_OK ? ADMIN_EXIT_OK : ADMIN_EXIT_ERROR;
}

static void
show_number(const char *label, int v)
{
	if (v == -1)
		printf("%s: default\n", label);
	else if (v == USER_EXPIRE_NEVER)
		printf("%s: never\n", label);
	else
		printf("%s: %d\n", label, v);
}

/* What can log the user in, judged by the secrets the record holds:
 * PLAIN and USER/PASS need a crypt hash, a SCRAM verifier or an LDAP bind;
 * GSSAPI and KPOP need nothing here. */
static void
show_mechanisms(const struct user_record *u)
{
	bool cleartext = u->bind_dn || u->crypt_hash || u->scram_sha256 ||
	    u->scram_sha1;

	if (u->bind_dn)
		printf("password check: bind as %s\n", u->bind_dn);
	else
		printf("password check: verifiers\n");
	printf("mechanisms:%s%s%s%s\n", u->scram_sha256 ? " SCRAM-SHA-256" : "",
	    u->scram_sha1 ? " SCRAM-SHA-1" : "", cleartext ? " PLAIN USER" : "",
	    !cleartext ? " none but GSSAPI/KPOP" : "");
}

/* Which verifiers exist, never their values. */
static void
show_record(const struct user_record *u)
{
	printf("name: %s\n", u->name);
	printf("source: %s\n", u->source);
	printf("maildrop: %s\n", u->maildrop);
	printf("status: %s\n", u->enabled ? "enabled" : "disabled");
	printf("access: %s\n", u->no_access ? "no" : "yes");
	printf("scram-sha-256: %s\n", u->scram_sha256 ? "yes" : "no");
	printf("scram-sha-1: %s\n", u->scram_sha1 ? "yes" : "no");
	printf("crypt: %s\n", u->crypt_hash ? "yes" : "no");
	show_mechanisms(u);
	show_number("login_delay", u->login_delay);
	show_number("expire", u->expire_days);
}

enum dir_result
user_lookup(const struct admin_ctx *ctx, const char *name,
    struct user_record **u)
{
	struct dir_file *df;
	enum dir_result r;

	if (ctx->dir != NULL)
		return directory_lookup(ctx->dir, name, u);
	df = users_open(ctx);
	r = dir_file_lookup(df, name, u);
	dir_file_close(df);
	return r;
}

static int
cmd_show(const struct admin_ctx *ctx, int argc, char **argv)
{
	struct user_record *u = NULL;
	enum dir_result r;

	if (argc != 2)
		return usage_error("show NAME");
	if (!name_ok(argv[1]))
		return ADMIN_EXIT_ERROR;
	if ((r = user_lookup(ctx, argv[1], &u)) == DIR_OK)
		show_record(u);
	else if (r == DIR_NOTFOUND)
		log_err("no such user: %s", argv[1]);
	else
		log_err("cannot look %s up: the directory is unavailable",
		    argv[1]);
	user_record_free(u);
	return r == DIR_OK ? ADMIN_EXIT_OK : ADMIN_EXIT_ERROR;
}

static const struct user_sub {
	const char *name;
	int (*run)(const struct admin_ctx *ctx, int argc, char **argv);
} user_subs[] = {
	{ "add", cmd_add },
	{ "passwd", cmd_passwd },
	{ "del", cmd_del },
	{ "enable", cmd_status },
	{ "disable", cmd_status },
	{ "list", cmd_list },
	{ "show", cmd_show },
};

int
user_cmd(const struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; i < sizeof(user_subs) / sizeof(user_subs[0]);
		    i++)
			if (strcmp(user_subs[i].name, argv[1]) == 0)
				return user_subs[i].run(ctx, argc - 1, argv + 1);
	fprintf(stderr, "usage: postern [options] user COMMAND ...\n%s",
	    user_cmd_usage);
	return ADMIN_EXIT_USAGE;
}
