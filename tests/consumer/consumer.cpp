/* consumer.cpp — consumer.c compiled as C++11: the public headers from C++ (extern "C" linkage,
 * no C-only constructs) and the same program linked against the same targets. consumer.c keeps
 * to what C11 and C++11 share. */
#include "consumer.c"
