// Only the declaration in include/fuzz_driver.h is needed; libFuzzer provides the function.
#include "fuzz_driver.h"
