# rotkit: certificate kit (issue, renew, verify) and the TLS engine.
noinst_LIBRARIES += libtls.a
libtls_a_SOURCES = tls/stub.c

bin_PROGRAMS += rotkit
rotkit_SOURCES = tls/rotkit-main.c
rotkit_LDADD = $(RDIND_LIBS) $(RDIND_EXT_LIBS)
