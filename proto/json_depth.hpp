// A cheap pre-scan of a JSON text's nesting depth, run before a recursive parser or dump sees
// it (nlohmann's dump and destructor recurse per level: 100,000 levels overflow the stack).
// The scan does not recurse, skips strings (escapes honoured) and stops at the first level
// past the limit. It does not validate: the parser that follows does. Pure; thread-safe.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::proto {

// The deepest nesting of arrays and objects accepted in request bodies and client frames.
inline constexpr std::size_t max_json_depth = 32;

// nullopt when no value nests deeper than `max_depth`; else the object keys on the path to the
// first level past it, outermost first ("" for a level that is an array element).
std::optional<std::vector<std::string>> json_too_deep(std::string_view text,
                                                      std::size_t max_depth = max_json_depth);

// The field to name in a refusal: the outermost key on the path, or "body" for a top level
// that is itself too deep. `skip` leading levels are a container's (a batch's entries).
std::string deep_field(const std::vector<std::string>& path, std::size_t skip = 0);

}  // namespace herald::proto
