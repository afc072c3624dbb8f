noinst_LIBRARIES += libsidecar.a
libsidecar_a_SOURCES = sidecar/stub.c
