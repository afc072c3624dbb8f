# TLS engine and server context (owned by the sidecar work): adds to libtls.a
