/* rdind sidecar: the two small HTTP readers of its own (no policy, no
 * proxying): dockerd's answer to GET /_ping, which alone opens the endpoint,
 * and the request line of the plain-HTTP status endpoint.  Pure functions,
 * apart from the event loop, for the unit tests and the fuzzer. */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "sidecar-int.h"

/* Only "HTTP/1.x 200" counts: a proxy's or a half-started daemon's other
 * answer must not open the listener. */
bool
ready_answer_ok (const char *buf, size_t have)
{
  return have >= 12 && strncmp (buf, "HTTP/1.", 7) == 0 && strncmp (buf + 8, " 200", 4) == 0;
}

int
status_request_path (const char *req, char *path, size_t size)
{
  size_t n;
  if (strncmp (req, "GET /", 5) != 0)
    return -1;
  n = strcspn (req + 4, " \r\n");
  if (n >= size || strncmp (req + 4 + n, " HTTP/1.", 8) != 0)
    return -1;
  memcpy (path, req + 4, n);
  path[n] = '\0';
  return 0;
}

