/* invoice.c - see invoice.h. (being written) */
#include "core/invoice.h"
