# bench/: side-by-side measurements
