#include "config.h"

/*
 * The users file: Postern's embedded user database.
 *
 *	# comment
 *	NAME key=value key=value ...
 *
 * One user per line; fields are separated by spaces or tabs and values
 * contain no white space.  NAME is 1-64 characters of [A-Za-z0-9._@+-]
 * ("." and ".." excepted) and is matched case-sensitively.  Keys:
 *
 *	maildrop=PATH		absolute, or relative to store_root;
 *				default store_root/NAME; no ".." components
 *	status=enabled|disabled	default enabled
 *	scram-sha-256=VERIFIER	RFC 5803: SCRAM-SHA-256$iter:salt$stored:server
 *	scram-sha-1=VERIFIER	the same form for SCRAM-SHA-1
 *	crypt=HASH		crypt(3) hash ($y$, $6$, ...)
 *	login_delay=SECONDS	per-user LOGIN-DELAY; default: the global one
 *	expire=DAYS|never	per-user EXPIRE; default: the global one
 *
 * The file never holds a cleartext password.  A malformed line (bad name,
 * unknown or repeated key, bad value, control character) is skipped with a
 * warning naming file:line, and the rest of the file still counts: one
 * typo must not lock every user out.  If a name appears twice, the first
 * line wins.
 *
 * Every worker keeps the parsed file: one buffer, split in place, and an
 * array of users sorted by name that points into it.  A lookup costs one
 * stat(2) and a binary search; the file is read again only when its
 * device, inode, size, mtime or ctime changed.  "postern user" replaces the
 * file by rename(2), which always shows as a new inode.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "directory/dir_file.h"
#include "directory/verifier.h"

struct file_user {
	const char *name;       /* every string points into dir_file.buf */
	const char *maildrop;   /* as written; NULL: store_root/NAME */
	const char *scram_sha256;
	const char *scram_sha1;
	const char *crypt_hash;
	bool enabled;
	int login_delay;
	int expire_days;
	unsigned line;
};

struct file_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
};

struct dir_file {
	char *path;
	char *store_root;
	char *source;           /* "file:PATH", copied into every record */
	bool loaded;
	struct file_stamp stamp;
	char *buf;
	size_t buflen;
	struct file_user *users;
	size_t nusers;
};

/* One row per key; a key's bit in a line's "seen" mask catches repeats. */
struct key_parser {
	const char *key;
	const char *(*parse)(const struct dir_file *df, struct file_user *u,
	    const char *value);
};

static const char *key_maildrop(const struct dir_file *, struct file_user *,
    const char *);
static const char *key_status(const struct dir_file *, struct file_user *,
    const char *);
static const char *key_scram_sha256(const struct dir_file *,
    struct file_user *, const char *);
static const char *key_scram_sha1(const struct dir_file *, struct file_user *,
    const char *);
static const char *key_crypt(const struct dir_file *, struct file_user *,
    const char *);
static const char *key_login_delay(const struct dir_file *, struct file_user *,
    const char *);
static const char *key_expire(const struct dir_file *, struct file_user *,
    const char *);

static const struct key_parser key_parsers[] = {
	{ "maildrop", key_maildrop },
	{ "status", key_status },
	{ "scram-sha-256", key_scram_sha256 },
	{ "scram-sha-1", key_scram_sha1 },
	{ "crypt", key_crypt },
	{ "login_delay", key_login_delay },
	{ "expire", key_expire },
};
#define NKEYS (sizeof(key_parsers) / sizeof(key_parsers[0]))

/* Name and field syntax, shared with the admin tool. */

static bool
is_name_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || strchr("._@+-", c) != NULL;
}

bool
dir_file_name_valid(const char *name)
{
	size_t len;

	if (name == NULL || (len = strlen(name)) == 0 || len > DIR_NAME_MAX)
		return false;
	/* The default maildrop is store_root/NAME: never step out of it. */
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_name_char((unsigned char)name[i]))
			return false;
	return true;
}

static bool
is_field_sep(char c)
{
	return c == ' ' || c == '\t';
}

static bool
has_dotdot(const char *path)
{
	const char *p = path;

	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p += n;
		p += strspn(p, "/");
	}
	return false;
}

const char *
dir_file_maildrop_check(const char *value, const char *store_root)
{
	if (value == NULL || *value == '\0')
		return "empty maildrop";
	for (const char *p = value; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return "white space or control character in maildrop";
	if (has_dotdot(value))
		return "\"..\" in maildrop";
	if (value[0] != '/' && store_root == NULL)
		return "relative maildrop but no store_root";
	return NULL;
}

bool
dir_file_line_name(const char *line, char *name_r, size_t size)
{
	size_t n;

	while (is_field_sep(*line))
		line++;
	if (*line == '\0' || *line == '#' || *line == '\n')
		return false;
	n = strcspn(line, " \t\r\n");
	if (n >= size)
		return false;
	memcpy(name_r, line, n);
	name_r[n] = '\0';
	return true;
}

/* Appends field f (n bytes) to out at *len, with a separating space. */
static void
field_put(char *out, size_t *len, const char *f, size_t n)
{
	if (*len > 0)
		out[(*len)++] = ' ';
	memcpy(out + *len, f, n);
	*len += n;
	out[*len] = '\0';
}

char *
dir_file_line_set(const char *line, const char *key, const char *value)
{
	size_t klen = strlen(key), len = 0, n;
	char *out, *kv = value ? xasprintf("%s=%s", key, value) : NULL;
	bool first = true, done = false;

	out = xmalloc(strlen(line) + (kv ? strlen(kv) : 0) + 2);
	out[0] = '\0';
	for (const char *p = line; *p != '\0'; p += n) {
		p += strspn(p, " \t\r\n");
		if ((n = strcspn(p, " \t\r\n")) == 0)
			break;
		if (!first && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			/* Replace the first occurrence, drop any repeats. */
			if (kv != NULL && !done)
				field_put(out, &len, kv, strlen(kv));
			done = true;
		} else
			field_put(out, &len, p, n);
		first = false;
	}
	if (kv != NULL && !done)
		field_put(out, &len, kv, strlen(kv));
	free(kv);
	return out;
}

/* Values of the keys. */

/* Decimal 0..INT_MAX, digits only. */
static bool
parse_count(const char *s, int *count_r)
{
	long v = 0;

	if (*s == '\0' || strlen(s) > 10)
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	if (v > INT_MAX)
		return false;
	*count_r = (int)v;
	return true;
}

static const char *
key_maildrop(const struct dir_file *df, struct file_user *u, const char *v)
{
	u->maildrop = v;
	return dir_file_maildrop_check(v, df->store_root);
}

static const char *
key_status(const struct dir_file *df, struct file_user *u, const char *v)
{
	(void)df;
	if (strcmp(v, "enabled") == 0)
		u->enabled = true;
	else if (strcmp(v, "disabled") == 0)
		u->enabled = false;
	else
		return "status must be enabled or disabled";
	return NULL;
}

static const char *
scram_value(const char *v, const char *prefix, const char **value_r)
{
	if (strncmp(v, prefix, strlen(prefix)) != 0 || !scram_verifier_valid(v))
		return "malformed SCRAM verifier";
	*value_r = v;
	return NULL;
}

static const char *
key_scram_sha256(const struct dir_file *df, struct file_user *u,
    const char *v)
{
	(void)df;
	return scram_value(v, "SCRAM-SHA-256$", &u->scram_sha256);
}

static const char *
key_scram_sha1(const struct dir_file *df, struct file_user *u, const char *v)
{
	(void)df;
	return scram_value(v, "SCRAM-SHA-1$", &u->scram_sha1);
}

static const char *
key_crypt(const struct dir_file *df, struct file_user *u, const char *v)
{
	(void)df;
	u->crypt_hash = v;
	return NULL;
}

static const char *
key_login_delay(const struct dir_file *df, struct file_user *u, const char *v)
{
	(void)df;
	return parse_count(v, &u->login_delay) ? NULL :
	    "login_delay must be a number of seconds";
}

static const char *
key_expire(const struct dir_file *df, struct file_user *u, const char *v)
{
	(void)df;
	if (strcmp(v, "never") == 0) {
		u->expire_days = USER_EXPIRE_NEVER;
		return NULL;
	}
	return parse_count(v, &u->expire_days) ? NULL :
	    "expire must be a number of days or never";
}

/* Parsing a line. */

/* Cuts the next field out of *p in place; NULL at the end of the line. */
static char *
next_field(char **p)
{
	char *f = *p + strspn(*p, " \t");

	if (*f == '\0')
		return NULL;
	*p = f + strcspn(f, " \t");
	if (**p != '\0')
		*(*p)++ = '\0';
	return f;
}

static const char *
parse_pair(const struct dir_file *df, struct file_user *u, char *field,
    unsigned *seen)
{
	char *eq = strchr(field, '=');

	if (eq == NULL || eq == field)
		return "expected key=value";
	*eq = '\0';
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(field, key_parsers[i].key) != 0)
			continue;
		if (*seen & (1u << i))
			return "repeated key";
		*seen |= 1u << i;
		if (eq[1] == '\0')
			return "empty value";
		return key_parsers[i].parse(df, u, eq + 1);
	}
	return "unknown key";
}

/* 1: a user in *u; 0: blank or comment; -1: malformed, reason in *err_r. */
static int
parse_line(const struct dir_file *df, char *line, struct file_user *u,
    const char **err_r)
{
	char *p = line + strspn(line, " \t"), *f;
	unsigned seen = 0;

	if (*p == '\0' || *p == '#')
		return 0;
	for (const char *c = p; *c != '\0'; c++)
		if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f)
			return *err_r = "control character", -1;
	f = next_field(&p);
	memset(u, 0, sizeof(*u));
	u->name = f;
	u->enabled = true;
	u->login_delay = -1;
	u->expire_days = -1;
	if (!dir_file_name_valid(f))
		return *err_r = "invalid user name", -1;
	while ((f = next_field(&p)) != NULL)
		if ((*err_r = parse_pair(df, u, f, &seen)) != NULL)
			return -1;
	if (u->maildrop == NULL && df->store_root == NULL)
		return *err_r = "no maildrop and no store_root", -1;
	return 1;
}

/* Terminates the line at p (of the len bytes left) and returns the next. */
static char *
cut_line(char *p, size_t left, size_t *linelen_r)
{
	char *nl = memchr(p, '\n', left);
	size_t n = nl ? (size_t)(nl - p) : left;

	p[n] = '\0';
	if (n > 0 && p[n - 1] == '\r')
		p[--n] = '\0';
	*linelen_r = n;
	return nl ? nl + 1 : p + left;
}

static void
users_add(struct file_user **users, size_t *n, size_t *cap,
    const struct file_user *u)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*users = xreallocarray(*users, *cap, sizeof(**users));
	}
	(*users)[(*n)++] = *u;
}

/* buf holds len bytes and a NUL; it is split in place. */
static struct file_user *
parse_buffer(const struct dir_file *df, char *buf, size_t len, size_t *n_r)
{
	struct file_user *users = NULL, u;
	size_t n = 0, cap = 0, linelen;
	const char *err;
	unsigned lineno = 0;
	char *line, *next;

	for (line = buf; line < buf + len; line = next) {
		next = cut_line(line, (size_t)(buf + len - line), &linelen);
		lineno++;
		if (strlen(line) != linelen)
			err = "NUL byte";
		else if (linelen > DIR_LINE_MAX)
			err = "line too long";
		else {
			int r = parse_line(df, line, &u, &err);

			if (r == 0)
				continue;
			if (r == 1) {
				u.line = lineno;
				users_add(&users, &n, &cap, &u);
				continue;
			}
		}
		log_warn("%s:%u: %s, line skipped", df->path, lineno, err);
	}
	*n_r = n;
	return users;
}

static int
user_cmp(const void *a, const void *b)
{
	const struct file_user *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Sorts by name and keeps the first line of every name. */
static size_t
users_sort(const struct dir_file *df, struct file_user *users, size_t n)
{
	size_t i, out = 0;

	if (n == 0)
		return 0;
	qsort(users, n, sizeof(*users), user_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(users[i].name, users[out].name) == 0) {
			log_warn("%s:%u: user %s already defined at line %u, "
			    "line skipped", df->path, users[i].line,
			    users[i].name, users[out].line);
			continue;
		}
		users[++out] = users[i];
	}
	return out + 1;
}

/* Reading the file. */

static void
stamp_set(struct file_stamp *s, const struct stat *st)
{
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->size = st->st_size;
	s->mtime = st->st_mtim;
	s->ctime = st->st_ctim;
}

static bool
stamp_matches(const struct file_stamp *s, const struct stat *st)
{
	return s->dev == st->st_dev && s->ino == st->st_ino &&
	    s->size == st->st_size &&
	    s->mtime.tv_sec == st->st_mtim.tv_sec &&
	    s->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	    s->ctime.tv_sec == st->st_ctim.tv_sec &&
	    s->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Grows buf, wiping the old copy: it holds verifiers. */
static char *
buf_grow(char *buf, size_t len, size_t *cap)
{
	char *nbuf = xmalloc(*cap * 2);

	memcpy(nbuf, buf, len);
	freezero(buf, *cap);
	*cap *= 2;
	return nbuf;
}

/* Reads to EOF into a NUL-terminated buffer; the size is only a hint, as
 * the file may change under us (the stamp taken before catches that). */
static bool
read_all(int fd, size_t hint, char **buf_r, size_t *len_r)
{
	size_t cap = hint + 1 > 4096 ? hint + 1 : 4096, len = 0;
	char *buf = xmalloc(cap);
	ssize_t r;

	for (;;) {
		if (len > (size_t)DIR_FILE_MAX_SIZE) {
			errno = EFBIG;
			break;
		}
		if (len + 1 == cap)
			buf = buf_grow(buf, len, &cap);
		if ((r = read(fd, buf + len, cap - 1 - len)) == 0) {
			buf[len] = '\0';
			*buf_r = buf;
			*len_r = len;
			return true;
		}
		if (r > 0)
			len += (size_t)r;
		else if (errno != EINTR)
			break;
	}
	freezero(buf, cap);
	return false;
}

static void
cache_drop(struct dir_file *df)
{
	freezero(df->buf, df->buflen + 1);
	free(df->users);
	df->buf = NULL;
	df->buflen = 0;
	df->users = NULL;
	df->nusers = 0;
	df->loaded = false;
}

static bool
file_read(const char *path, struct stat *st, char **buf_r, size_t *len_r)
{
	int fd, saved;
	bool ok;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return false;
	if (fstat(fd, st) == -1)
		ok = false;
	else if (!S_ISREG(st->st_mode)) {
		errno = EINVAL;
		ok = false;
	} else if (st->st_size > DIR_FILE_MAX_SIZE) {
		errno = EFBIG;
		ok = false;
	} else
		ok = read_all(fd, (size_t)st->st_size, buf_r, len_r);
	saved = errno;
	close(fd);
	errno = saved;
	return ok;
}

static enum dir_result
dir_file_load(struct dir_file *df)
{
	struct file_user *users;
	struct stat st;
	size_t len, n;
	char *buf;

	if (!file_read(df->path, &st, &buf, &len)) {
		log_err("users file %s: %s", df->path, strerror(errno));
		cache_drop(df);
		return DIR_TEMPFAIL;
	}
	users = parse_buffer(df, buf, len, &n);
	n = users_sort(df, users, n);
	cache_drop(df);
	df->buf = buf;
	df->buflen = len;
	df->users = users;
	df->nusers = n;
	stamp_set(&df->stamp, &st);
	df->loaded = true;
	log_debug("users file %s: %zu users", df->path, n);
	return DIR_OK;
}

/* An unreadable file is a temporary failure, never "no such user": the
 * client must hear [SYS/TEMP], not [AUTH]. */
static enum dir_result
dir_file_refresh(struct dir_file *df)
{
	struct stat st;

	if (stat(df->path, &st) == -1) {
		log_err("users file %s: %s", df->path, strerror(errno));
		return DIR_TEMPFAIL;
	}
	if (df->loaded && stamp_matches(&df->stamp, &st))
		return DIR_OK;
	return dir_file_load(df);
}

/* Records. */

static char *
maildrop_path(const struct dir_file *df, const struct file_user *fu)
{
	const char *rel = fu->maildrop ? fu->maildrop : fu->name;
	size_t rootlen;

	if (rel[0] == '/')
		return xstrdup(rel);
	/* parse_line made sure store_root is set. */
	rootlen = strlen(df->store_root);
	if (rootlen > 0 && df->store_root[rootlen - 1] == '/')
		return xasprintf("%s%s", df->store_root, rel);
	return xasprintf("%s/%s", df->store_root, rel);
}

static char *
strdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static struct user_record *
record_make(const struct dir_file *df, const struct file_user *fu)
{
	struct user_record *u = xcalloc(1, sizeof(*u));

	u->name = xstrdup(fu->name);
	u->maildrop = maildrop_path(df, fu);
	u->enabled = fu->enabled;
	u->scram_sha256 = strdup_or_null(fu->scram_sha256);
	u->scram_sha1 = strdup_or_null(fu->scram_sha1);
	u->crypt_hash = strdup_or_null(fu->crypt_hash);
	u->login_delay = fu->login_delay;
	u->expire_days = fu->expire_days;
	u->source = xstrdup(df->source);
	return u;
}

static int
name_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct file_user *)elem)->name);
}

/* The interface. */

struct dir_file *
dir_file_open(const struct directory_file_options *o)
{
	struct dir_file *df;

	if (o == NULL || o->path == NULL || *o->path == '\0')
		return NULL;
	df = xcalloc(1, sizeof(*df));
	df->path = xstrdup(o->path);
	df->store_root = o->store_root ? xstrdup(o->store_root) : NULL;
	df->source = xasprintf("file:%s", o->path);
	return df;
}

enum dir_result
dir_file_lookup(struct dir_file *df, const char *name,
    struct user_record **out)
{
	const struct file_user *fu;
	enum dir_result r;

	*out = NULL;
	if ((r = dir_file_refresh(df)) != DIR_OK)
		return r;
	if (name == NULL || !dir_file_name_valid(name) || df->nusers == 0 ||
	    (fu = bsearch(name, df->users, df->nusers, sizeof(*df->users),
		name_cmp)) == NULL)
		return DIR_NOTFOUND;
	*out = record_make(df, fu);
	return DIR_OK;
}

enum dir_result
dir_file_preload(struct dir_file *df)
{
	return dir_file_refresh(df);
}

enum dir_result
dir_file_foreach(struct dir_file *df,
    void (*fn)(const struct user_record *u, void *arg), void *arg)
{
	enum dir_result r;

	if ((r = dir_file_refresh(df)) != DIR_OK)
		return r;
	for (size_t i = 0; i < df->nusers; i++) {
		struct user_record *u = record_make(df, &df->users[i]);

		fn(u, arg);
		user_record_free(u);
	}
	return DIR_OK;
}

void
dir_file_close(struct dir_file *df)
{
	if (df == NULL)
		return;
	cache_drop(df);
	free(df->path);
	free(df->store_root);
	free(df->source);
	free(df);
}
