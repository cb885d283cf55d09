#include "config.h"

/*
 * postern: the administration tool.  This file reads the global options
 * and the config file and hands the rest of the command line to a
 * subcommand ("user": user_cmd.c).  It runs as whoever invokes it, usually
 * root; it never reads a password from its arguments.  With directory =
 * ldap it opens the directory for "user show" only.
 */

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "admin/status_cmd.h"
#include "admin/uidl_cmd.h"
#include "admin/user_cmd.h"
#include "common/conf.h"
#include "common/log.h"
#include "directory/dir_ldap.h"
#include "directory/directory.h"

struct options {
	const char *config;     /* -c */
	const char *users_file; /* -u */
	const char *store_root; /* -s */
};

static const struct command {
	const char *name;
	int (*run)(const struct admin_ctx *ctx, int argc, char **argv);
	/* Or: a view of the running daemon, which needs only its config. */
	int (*view)(const struct config *cfg, int argc, char **argv);
} commands[] = {
	{ "user", user_cmd, NULL },
	{ "uidl", uidl_cmd, NULL },
	{ "status", NULL, status_cmd },
	{ "metrics", NULL, metrics_cmd },
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: postern [-c CONFIG] [-u USERSFILE] [-s STORE_ROOT] "
	    "COMMAND ...\n"
	    "       postern --help | --version\n"
	    "  -c CONFIG      configuration file (default %s)\n"
	    "  -u USERSFILE   users file (default: users_file of the config)\n"
	    "  -s STORE_ROOT  base of relative maildrops (default: store_root "
	    "of the config)\n"
	    "commands:\n%s%s"
	    "  status                        workers and sessions now\n"
	    "  metrics                       counters, OpenMetrics text format\n"
	    "The password is read from the terminal, or one line from stdin.\n",
	    conf_default_path(), user_cmd_usage, uidl_cmd_usage);
}

/* Returns the index of the first operand, or -1 after printing why not. */
static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	/* "+": stop at the command, whose options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:u:s:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'u':
			o->users_file = optarg;
			break;
		case 's':
			o->store_root = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(ADMIN_EXIT_OK);
		case 'V':
			printf("postern %s\n", PACKAGE_VERSION);
			exit(ADMIN_EXIT_OK);
		default:
			return -1;
		}
	}
	return optind;
}

/*
 * The config is needed unless -u names the users file; with -u, the
 * default config is still read if it exists, for store_root and the
 * service user, and a broken one only draws a warning.
 */
static int
load_config(const struct options *o, struct config **cfg_r)
{
	const char *path = o->config ? o->config : conf_default_path();
	bool required = o->config != NULL || o->users_file == NULL;
	char err[512];

	*cfg_r = NULL;
	if (!required && access(path, F_OK) != 0)
		return 0;
	if ((*cfg_r = config_load(path, err, sizeof(err))) != NULL)
		return 0;
	if (!required) {
		log_warn("%s; going on without it", err);
		return 0;
	}
	if (o->config == NULL)
		log_err("%s; give the users file with -u", err);
	else
		log_err("%s", err);
	return -1;
}

/* The ids new maildirs and a new users file are given, so that the
 * unprivileged workers can use them. */
static void
service_ids(const struct config *cfg, struct admin_ctx *ctx)
{
	struct passwd *pw;
	struct group *gr;

	if (cfg->user == NULL)
		return;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		log_warn("%s: service user %s not found: new maildirs will "
		    "belong to root", cfg->path, cfg->user);
		return;
	}
	ctx->chown_new = true;
	ctx->service_uid = pw->pw_uid;
	ctx->service_gid = pw->pw_gid;
	if (cfg->group == NULL)
		return;
	if ((gr = getgrnam(cfg->group)) == NULL)
		log_warn("%s: group %s not found: using %s's primary group",
		    cfg->path, cfg->group, cfg->user);
	else
		ctx->service_gid = gr->gr_gid;
}

/*
 * With directory = ldap there is no users file to edit, but "user show"
 * reads the directory the way the daemon does (the service bind password
 * comes from ldap_bind_password_file, so that needs root as well).
 */
static int
ldap_setup(const struct config *cfg, bool lookups_only, struct admin_ctx *ctx)
{
	char err[512];

	if (!lookups_only) {
		log_err("%s: directory is %s; postern edits only a users file "
		    "(give one with -u); \"user show\" and \"uidl import\" "
		    "read the directory", cfg->path, cfg->directory);
		return -1;
	}
	if ((ctx->dir = dir_ldap_open_config(cfg, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		return -1;
	}
	ctx->store_root = cfg->store_root;
	return 0;
}

/* cmd: the command; sub: the word after it ("add", "show", ...), or
 * NULL. */
static int
ctx_setup(const struct options *o, const struct config *cfg, const char *cmd,
    const char *sub, struct admin_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	if (cfg != NULL && o->users_file == NULL && cfg->directory != NULL &&
	    strcmp(cfg->directory, "file") != 0)
		return ldap_setup(cfg, strcmp(cmd, "uidl") == 0 ||
		    (sub != NULL && strcmp(sub, "show") == 0), ctx);
	ctx->users_file = o->users_file ? o->users_file :
	    cfg ? cfg->users_file : NULL;
	ctx->store_root = o->store_root ? o->store_root :
	    cfg ? cfg->store_root : NULL;
	if (cfg != NULL && geteuid() == 0)
		service_ids(cfg, ctx);
	if (ctx->users_file == NULL) {
		log_err("no users file: give -u or set users_file in %s",
		    cfg ? cfg->path : conf_default_path());
		return -1;
	}
	return 0;
}

static const struct command *
command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	struct options o = { NULL, NULL, NULL };
	const struct command *cmd;
	struct admin_ctx ctx;
	struct config *cfg;
	int first, r;

	log_open("postern", LOG_AUTHPRIV, true);
	if ((first = parse_options(argc, argv, &o)) < 0 || first >= argc ||
	    (cmd = command_find(argv[first])) == NULL) {
		usage(stderr);
		return ADMIN_EXIT_USAGE;
	}
	if (load_config(&o, &cfg) != 0)
		return ADMIN_EXIT_ERROR;
	if (cmd->view != NULL) {
		r = cfg ? cmd->view(cfg, argc - first, argv + first) :
		    ADMIN_EXIT_ERROR;
		config_free(cfg);
		return r;
	}
	if (ctx_setup(&o, cfg, cmd->name, first + 1 < argc ? argv[first + 1] :
	    NULL, &ctx) != 0)
		r = ADMIN_EXIT_ERROR;
	else
		r = cmd->run(&ctx, argc - first, argv + first);
	directory_close(ctx.dir);
	config_free(cfg);
	return r;
}
