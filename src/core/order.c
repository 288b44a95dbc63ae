/* order.c - see order.h. (being written) */
#include "core/order.h"
