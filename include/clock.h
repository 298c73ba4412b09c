/* clock.h -- elapsed time, for timings and the progress display. */
#ifndef GSR_CLOCK_H
#define GSR_CLOCK_H

#include "compat.h"

/* Milliseconds on the monotonic clock (CLOCK_MONOTONIC), from an
 * unspecified start: only differences mean anything.  Never fails.
 * Async-signal-safe. */
double gsr_now_ms(void);

#endif
