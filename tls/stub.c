/* placeholder until tls/ lands */
int tls_placeholder_ (void);
int tls_placeholder_ (void) { return 0; }
