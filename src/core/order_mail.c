/* order_mail.c - see order_mail.h. (being written) */
#include "core/order_mail.h"
