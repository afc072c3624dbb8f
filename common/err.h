/* rdind - error objects, in the style of crun's libcrun_error_t.
 *
 * A function that can fail returns a negative int and fills the error object
 * passed last.  Context is prepended as the error bubbles up with
 * rdind_error_wrap().  Only main() turns an error into an exit status.
 */
#ifndef RDIND_ERR_H
#define RDIND_ERR_H

#include <stdarg.h>

struct rdind_error_s
{
  int status; /* errno, or 0 when the error is not a system error */
  char *msg;  /* owned; freed by rdind_error_release() */
};
typedef struct rdind_error_s *rdind_error_t;

/* Sets *err (which must be NULL) and returns -1 (or -errno_ when != 0). */
int rdind_make_error (rdind_error_t *err, int errno_, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* Prepends "CONTEXT: " to the message of *err; returns the same value as
 * rdind_make_error would (negative). */
int rdind_error_wrap (rdind_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
/* Full message including strerror(status) when status != 0. Caller frees. */
char *rdind_error_string (rdind_error_t err);
void rdind_error_release (rdind_error_t *err);
/* Prints "PROG: message" on stderr and releases the error; returns exit code. */
int rdind_error_report (rdind_error_t *err, int exit_code);

#endif
