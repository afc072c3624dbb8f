/* One request to a unix stream socket, for the tests, built statically and
 * run in a container (busybox's nc has no unix sockets):
 *   unix-call PATH REQUEST   connects to PATH, sends REQUEST, half-closes,
 *                            prints what comes back (at most 64 KiB, 5 s)
 * Exits 1 when it cannot connect. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  static char buf[65536];
  size_t len = 0;
  int fd;

  if (argc != 3 || strlen (argv[1]) >= sizeof a.sun_path)
    {
      fprintf (stderr, "usage: unix-call PATH REQUEST\n");
      return 2;
    }
  strcpy (a.sun_path, argv[1]);
  fd = socket (AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &a, sizeof a) < 0)
    {
      perror (argv[1]);
      return 1;
    }
  if (write (fd, argv[2], strlen (argv[2])) < 0)
    perror ("write");
  shutdown (fd, SHUT_WR);
  for (;;)
    {
      struct pollfd p = { fd, POLLIN, 0 };
      ssize_t n;
      if (len == sizeof buf || poll (&p, 1, 5000) <= 0)
        break;
      n = read (fd, buf + len, sizeof buf - len);
      if (n <= 0)
        break;
      len += (size_t) n;
    }
  fwrite (buf, 1, len, stdout);
  putchar ('\n');
  return 0;
}
