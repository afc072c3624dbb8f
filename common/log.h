/* rdind - one line per event: `ts=... level=... msg="..." key=value ...`.
 * Values with spaces or quotes are quoted; callers pass pre-formatted
 * key=value pairs after the message. */
#ifndef RDIND_LOG_H
#define RDIND_LOG_H

#include <stddef.h>

enum log_level
{
  LOG_DEBUG_ = 0,
  LOG_INFO_,
  LOG_WARN_,
  LOG_ERROR_,
};

void log_set_level (enum log_level l);
/* Tags every line of this process with `src=SRC` (sidecar, launcher...), so
 * that the lines of several processes sharing one stderr tell apart.  SRC
 * must outlive the process's logging (a literal). */
void log_set_source (const char *src);
/* log_msg (LOG_INFO_, "listening", "addr=%s peers=%s", addr, peers);
 * FIELDS may be NULL. */
void log_msg (enum log_level l, const char *msg, const char *fields, ...)
    __attribute__ ((format (printf, 3, 4)));

#define log_info(msg, ...) log_msg (LOG_INFO_, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_msg (LOG_WARN_, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg (LOG_ERROR_, msg, __VA_ARGS__)
#define log_debug(msg, ...) log_msg (LOG_DEBUG_, msg, __VA_ARGS__)

/* Emits a line whose fields after `src=` are already logfmt (a re-logged
 * line of another program, such as dockerd's `msg="..." k=v`). */
void log_line (enum log_level l, const char *src, const char *fields);
/* Maps a foreign level name (logrus: trace, debug, info, warning, error,
 * fatal, panic) to ours; info when unknown. */
enum log_level log_level_from_name (const char *name, size_t len);

/* Turns one line of another program's output into our fields: a logrus or
 * containerd line (`time="..." level=X msg="..." k=v`) keeps its own level
 * and fields (the timestamp goes: ours replaces it); anything else becomes
 * msg="LINE" at info.  Writes at most SIZE bytes to OUT. */
enum log_level log_foreign_fields (const char *line, char *out, size_t size);

/* Quotes V for a log field if needed; returns a static-per-thread buffer
 * valid until the next call with the same slot (0..3). */
const char *log_quote (int slot, const char *v);

#endif
