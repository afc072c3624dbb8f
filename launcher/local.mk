noinst_LIBRARIES += liblauncher.a
liblauncher_a_SOURCES = launcher/stub.c
