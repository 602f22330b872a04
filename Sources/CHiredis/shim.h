#ifndef SWIFTRPC_CHIREDIS_SHIM_H
#define SWIFTRPC_CHIREDIS_SHIM_H
// Only API that exists in both hiredis 0.14 and 1.x: command formatting and the reply reader.
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#endif
