#include "config.h"

/*
 * Reading a new password: from the terminal with echo off, asked twice,
 * or one line from a stdin that is not a terminal (for scripts).  Never
 * from argv, where ps(1) would show it.  Input is read with read(2) byte
 * by byte, so no stdio buffer keeps a copy, and every buffer is wiped.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "admin/password.h"
#include "common/log.h"
#include "common/xmalloc.h"

static struct termios tty_saved;

static void
tty_restore_and_die(int sig)
{
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
tty_signals(void (*handler)(int))
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sa.sa_handler = handler;
		/* A stopped prompt would come back with echo on. */
		if (sigs[i] == SIGTSTP && handler != SIG_DFL)
			sa.sa_handler = SIG_IGN;
		sigaction(sigs[i], &sa, NULL);
	}
}

/* One line from fd, byte by byte so that nothing past the newline is
 * consumed and no stdio buffer keeps a copy.  0: ok, -1: error or EOF
 * before any byte, -2: too long. */
static int
read_secret_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t r = 0;
	char c;

	for (;;) {
		if ((r = read(fd, &c, 1)) == -1 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		if (len + 1 >= size)
			return -2;
		buf[len++] = c;
	}
	buf[len] = '\0';
	if (r < 0 || (r == 0 && len == 0))
		return -1;
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return 0;
}

static int
tty_prompt(const char *prompt, char *buf, size_t size)
{
	struct termios noecho;
	int r;

	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	noecho = tty_saved;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	noecho.c_lflag |= ECHONL;
	tty_signals(tty_restore_and_die);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	r = read_secret_line(STDIN_FILENO, buf, size);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
	tty_signals(SIG_DFL);
	return r;
}

static int
password_tty(char *pw, size_t size)
{
	char again[PASSWORD_MAX + 2];
	int r;

	if (tcgetattr(STDIN_FILENO, &tty_saved) == -1) {
		log_err("terminal: %s", strerror(errno));
		return -1;
	}
	if ((r = tty_prompt("New password: ", pw, size)) == 0 &&
	    (r = tty_prompt("Retype new password: ", again, sizeof(again))) == 0 &&
	    strcmp(pw, again) != 0) {
		fprintf(stderr, "postern: the passwords do not match\n");
		r = -3;
	}
	explicit_bzero(again, sizeof(again));
	return r;
}

char *
password_read(void)
{
	char pw[PASSWORD_MAX + 2], *out;
	int r;

	if (isatty(STDIN_FILENO))
		r = password_tty(pw, sizeof(pw));
	else
		r = read_secret_line(STDIN_FILENO, pw, sizeof(pw));
	if (r == 0 && pw[0] == '\0') {
		fprintf(stderr, "postern: empty password refused\n");
		r = -3;
	} else if (r == -1)
		fprintf(stderr, "postern: no password given\n");
	else if (r == -2)
		fprintf(stderr, "postern: password longer than %d bytes\n",
		    PASSWORD_MAX);
	out = r == 0 ? xstrdup(pw) : NULL;
	explicit_bzero(pw, sizeof(pw));
	return out;
}
