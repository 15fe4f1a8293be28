#include "scenario/scenario.h"
#include <gtest/gtest.h>
