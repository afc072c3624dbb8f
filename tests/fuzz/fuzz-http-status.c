/* libFuzzer: the sidecar's small HTTP readers: dockerd's answer to
 * GET /_ping (only a real 200 opens the endpoint), the request line of
 * the plain-HTTP status endpoint, and a whole answer read to its end (the
 * effect checks' and the cache's requests to dockerd). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar-int.h"
#include "util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *s = xstrndup ((const char *) data, size);
  char path[256];
  bool ok = ready_answer_ok ((const char *) data, size);
  /* A 200 needs "HTTP/1.x 200" at the start, nothing less. */
  if (ok && (size < 12 || memcmp (data, "HTTP/1.", 7) != 0 || memcmp (data + 8, " 200", 4) != 0))
    abort ();
  if (status_request_path (s, path, sizeof path) == 0 && (path[0] != '/' || strlen (path) >= sizeof path))
    abort ();
  char *body = NULL;
  size_t blen = 0;
  int st = sidecar_http_answer ((const char *) data, size, true, &body, &blen);
  if ((st == 0 && body) || (body && strlen (body) > blen))
    abort ();
  free (body);
  free (s);
  return 0;
}
