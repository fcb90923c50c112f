#include "bench/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace herald::bench {

namespace {
constexpr int sub_bits = 6;
constexpr std::size_t sub_count = std::size_t{1} << sub_bits;
constexpr std::size_t bucket_count = (64 - sub_bits + 1) * sub_count;
}  // namespace

latency_histogram::latency_histogram() : buckets_(bucket_count, 0) {}

std::size_t latency_histogram::bucket_of(std::uint64_t v) {
  if (v < sub_count) return static_cast<std::size_t>(v);
  const int top = 63 - std::countl_zero(v);  // >= sub_bits
  const int shift = top - sub_bits;
  const std::size_t sub = static_cast<std::size_t>((v >> shift) & (sub_count - 1));
  return static_cast<std::size_t>(shift + 1) * sub_count + sub;
}

std::uint64_t latency_histogram::value_of(std::size_t bucket) {
  if (bucket < sub_count) return bucket;
  const int shift = static_cast<int>(bucket / sub_count) - 1;
  const std::uint64_t sub = bucket % sub_count;
  const std::uint64_t low = (sub_count + sub) << shift;
  return low + ((std::uint64_t{1} << shift) >> 1);  // middle of the bucket
}

void latency_histogram::record(std::int64_t ns) {
  if (ns < 0) ns = 0;
  ++buckets_[bucket_of(static_cast<std::uint64_t>(ns))];
  if (count_ == 0 || ns < min_) min_ = ns;
  if (ns > max_) max_ = ns;
  ++count_;
  sum_ += ns;
}

void latency_histogram::merge(const latency_histogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  if (count_ == 0 || other.min_ < min_) min_ = other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void latency_histogram::clear() { *this = latency_histogram(); }

std::int64_t latency_histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count_));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= std::max<std::uint64_t>(rank, 1))
      return std::clamp(static_cast<std::int64_t>(value_of(i)), min_, max_);
  }
  return max_;
}

nlohmann::json latency_histogram::summary_ms() const {
  auto ms = [](std::int64_t ns) { return std::round(ns / 1000.0) / 1000.0; };
  return {{"p50", ms(quantile(0.5))}, {"p99", ms(quantile(0.99))}, {"max", ms(max())}};
}

nlohmann::json latency_histogram::to_json() const {
  nlohmann::json sparse = nlohmann::json::array();
  for (std::size_t i = 0; i < bucket_count; ++i)
    if (buckets_[i]) sparse.push_back({i, buckets_[i]});
  return {{"n", count_}, {"sum", sum_}, {"min", min_}, {"max", max_}, {"b", sparse}};
}

latency_histogram latency_histogram::from_json(const nlohmann::json& j) {
  latency_histogram h;
  h.count_ = j.value("n", std::uint64_t{0});
  h.sum_ = j.value("sum", std::int64_t{0});
  h.min_ = j.value("min", std::int64_t{0});
  h.max_ = j.value("max", std::int64_t{0});
  for (const auto& pair : j.at("b")) {
    const auto idx = pair.at(0).get<std::size_t>();
    if (idx < bucket_count) h.buckets_[idx] += pair.at(1).get<std::uint64_t>();
  }
  return h;
}

}  // namespace herald::bench
