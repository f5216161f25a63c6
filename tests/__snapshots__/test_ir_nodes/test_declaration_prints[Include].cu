#include "machete/mm_args.h"
