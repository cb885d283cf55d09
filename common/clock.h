#ifndef POSTERN_CLOCK_H
#define POSTERN_CLOCK_H

/* Milliseconds on CLOCK_MONOTONIC, for deadlines and retry times, which a
 * step of the wall clock must not move. */
long long clock_ms(void);
/* Milliseconds left until deadline (a clock_ms() value): 0 once past, at
 * most INT_MAX, so the result fits poll(). */
int clock_ms_left(long long deadline);

#endif
