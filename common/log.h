/* rdind - one line per event: `ts=... level=... msg="..." key=value ...`.
 * Values with spaces or quotes are quoted; callers pass pre-formatted
 * key=value pairs after the message. */
#ifndef RDIND_LOG_H
#define RDIND_LOG_H

enum log_level
{
  LOG_DEBUG_ = 0,
  LOG_INFO_,
  LOG_WARN_,
  LOG_ERROR_,
};

void log_set_level (enum log_level l);
/* log_msg (LOG_INFO_, "listening", "addr=%s peers=%s", addr, peers);
 * FIELDS may be NULL. */
void log_msg (enum log_level l, const char *msg, const char *fields, ...)
    __attribute__ ((format (printf, 3, 4)));

#define log_info(msg, ...) log_msg (LOG_INFO_, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_msg (LOG_WARN_, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg (LOG_ERROR_, msg, __VA_ARGS__)
#define log_debug(msg, ...) log_msg (LOG_DEBUG_, msg, __VA_ARGS__)

/* Quotes V for a log field if needed; returns a static-per-thread buffer
 * valid until the next call with the same slot (0..3). */
const char *log_quote (int slot, const char *v);

#endif
