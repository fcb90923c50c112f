// Log-linear histogram of nanosecond latencies (64 sub-buckets per power of two, <1.6% error),
// mergeable across processes through its JSON form. Thread safety: none; one owner at a time.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace herald::bench {

class latency_histogram {
 public:
  latency_histogram();

  void record(std::int64_t ns);
  void merge(const latency_histogram& other);
  void clear();

  std::uint64_t count() const { return count_; }
  std::int64_t max() const { return max_; }
  std::int64_t min() const { return count_ ? min_ : 0; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  // The value at quantile q in [0, 1]; 0 when empty.
  std::int64_t quantile(double q) const;

  // {"p50","p99","max"} in milliseconds, for reports.
  nlohmann::json summary_ms() const;

  nlohmann::json to_json() const;
  static latency_histogram from_json(const nlohmann::json& j);

 private:
  static std::size_t bucket_of(std::uint64_t v);
  static std::uint64_t value_of(std::size_t bucket);

  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::int64_t sum_ = 0;
  std::int64_t min_ = 0;
  std::int64_t max_ = 0;
};

}  // namespace herald::bench
