// The public API of the bmx native core (C++17, no Python or MXNet dependency).
#pragma once

#include "bmx/benchmark.h"
#include "bmx/conv.h"
#include "bmx/dense.h"
#include "bmx/export.h"
#include "bmx/isa.h"
#include "bmx/pack.h"
#include "bmx/threading.h"
#include "bmx/threshold.h"
#include "bmx/types.h"
