#ifndef POSTERN_PASSWORD_H
#define POSTERN_PASSWORD_H

/* Longer input is refused, not truncated. */
#define PASSWORD_MAX 1024

/* A new password from the terminal (echo off, asked twice, must match) or
 * one line of stdin when it is not a terminal.  Returns a malloc'd string
 * to be freed with free_secret_str(), or NULL after telling the user why
 * (no input, empty, too long, mismatch). */
char *password_read(void);

#endif
