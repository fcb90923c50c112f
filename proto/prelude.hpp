// Included first in every Herald translation unit (see CMakeLists.txt): Boost 1.74's Asio uses
// std::exchange without including <utility>, which GCC 12 rejects.
#pragma once
#include <utility>
