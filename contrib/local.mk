# contrib/: image, seccomp profile, CI examples
