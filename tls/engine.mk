# TLS engine and server context (owned by the sidecar work): adds to libtls.a
libtls_a_SOURCES += tls/engine.h tls/engine.c tls/ctx.h tls/ctx.c tls/libctx.h tls/libctx.c

check_PROGRAMS += tests/unit/test-engine
TESTS += tests/unit/test-engine
tests_unit_test_engine_SOURCES = tests/unit/test-engine.c
tests_unit_test_engine_LDADD = libtls.a libconf.a libcommon.a $(RDIND_EXT_LIBS)
