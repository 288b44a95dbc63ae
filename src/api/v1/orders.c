/* being written */
#include "api/v1/v1.h"
