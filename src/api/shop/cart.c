/* being written */
#include "api/shop/shop.h"
