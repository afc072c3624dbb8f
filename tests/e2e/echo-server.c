/* An echo server for the port tests, built statically by them and run in a
 * container (busybox's nc here has no UDP and a small accept queue):
 *   echo-server tcp PORT   each connection gets back what it sent, then
 *                          the server's FIN once the client's arrived
 *                          (one process per connection)
 *   echo-server udp PORT   every datagram goes back to its sender
 * Both listen on IPv4 and IPv6. */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
  static char buf[65536];
  int tcp, s, zero = 0, one = 1;

  if (argc != 3)
    return 2;
  tcp = strcmp (argv[1], "tcp") == 0;
  s = socket (AF_INET6, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  a.sin6_port = htons ((unsigned short) atoi (argv[2]));
  setsockopt (s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  setsockopt (s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (s < 0 || bind (s, (struct sockaddr *) &a, sizeof a) < 0 || (tcp && listen (s, 1024) < 0))
    {
      perror ("echo-server");
      return 1;
    }
  signal (SIGCHLD, SIG_IGN); /* no zombies */
  for (;;)
    {
      if (!tcp)
        {
          struct sockaddr_storage from;
          socklen_t fl = sizeof from;
          ssize_t n = recvfrom (s, buf, sizeof buf, 0, (struct sockaddr *) &from, &fl);
          if (n >= 0)
            sendto (s, buf, (size_t) n, 0, (struct sockaddr *) &from, fl);
          continue;
        }
      int c = accept (s, NULL, NULL);
      if (c < 0)
        continue;
      if (fork () == 0)
        {
          ssize_t n;
          close (s);
          while ((n = read (c, buf, sizeof buf)) > 0)
            for (ssize_t off = 0; off < n;)
              {
                ssize_t w = write (c, buf + off, (size_t) (n - off));
                if (w <= 0)
                  _exit (1);
                off += w;
              }
          shutdown (c, SHUT_WR);
          _exit (0);
        }
      close (c);
    }
}
