/* cart.c - see cart.h. (being written) */
#include "core/cart.h"
