#include "gateway/jwks_source.hpp"

#include <curl/curl.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace herald::gateway {
namespace {

constexpr std::size_t max_body = 1 << 20;

std::shared_ptr<spdlog::logger> log() {
  static const std::shared_ptr<spdlog::logger> l = [] {
    if (auto existing = spdlog::get("gateway")) return existing;
    return spdlog::default_logger();
  }();
  return l;
}

struct fetch_buffer {
  std::string body;
  bool too_large = false;
};

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
  auto* buf = static_cast<fetch_buffer*>(user);
  const std::size_t bytes = size * n;
  if (buf->body.size() + bytes > max_body) {
    buf->too_large = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  buf->body.append(data, bytes);
  return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;  // non-zero aborts
}

// One GET with libcurl: certificates and host names verified (curl's defaults), http and https
// only (redirects included, at most 3), a bounded body and a deadline; `cancel` aborts it
// within about a second (curl calls the progress function at least once a second).
std::string http_get(const std::string& url, std::chrono::milliseconds timeout,
                     const std::atomic<bool>& cancel, std::string* why) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    *why = "cannot start libcurl";
    return {};
  }
  fetch_buffer buf;
  char err[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<std::int64_t>(timeout.count(), 5000)));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_body));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "herald-jwks/1");
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(&cancel));
  const CURLcode rc = curl_easy_perform(c);
  if (buf.too_large) {
    *why = "the answer is over 1 MiB";
    return {};
  }
  if (rc != CURLE_OK) {
    *why = err[0] ? err : curl_easy_strerror(rc);
    return {};
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    *why = "HTTP status " + std::to_string(status);
    return {};
  }
  return std::move(buf.body);
}

std::string read_file(const std::string& path, std::string* why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = "cannot read " + path;
    return {};
  }
  std::string out;
  char chunk[8192];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    out.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (out.size() > max_body) {
      *why = path + " is over 1 MiB";
      return {};
    }
  }
  return out;
}

}  // namespace

bool jwks_source::looks_like_url(const std::string& location) {
  return location.find("://") != std::string::npos;
}

std::string jwks_source::check_url(const std::string& url) {
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else {
    return "must be a file path or an http:// or https:// URL, got '" + url + "'";
  }
  const auto host_end = rest.find_first_of("/?#");
  if (rest.substr(0, host_end).empty()) return "the URL has no host: '" + url + "'";
  if (url.find_first_of(" \t\r\n") != std::string::npos) return "the URL holds white space";
  return {};
}

jwks_source::jwks_source(options opts) : opts_(std::move(opts)) {
  url_ = looks_like_url(opts_.location);
  keys_ = std::make_shared<const key_list>();
  if (url_) {
    if (auto why = check_url(opts_.location); !why.empty()) throw std::invalid_argument(why);
    return;
  }
  if (auto why = load_once(); !why.empty()) throw std::invalid_argument(why);
}

jwks_source::~jwks_source() { stop(); }

void jwks_source::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { run(); });
}

void jwks_source::cancel() {
  stopping_ = true;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

void jwks_source::stop() {
  cancel();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::shared_ptr<const key_list> jwks_source::keys(std::uint64_t* generation) const {
  std::lock_guard lock(mu_);
  if (generation) *generation = generation_;
  return keys_;
}

void jwks_source::unknown_kid() {
  {
    std::lock_guard lock(mu_);
    if (kid_wanted_) return;
    kid_wanted_ = true;
  }
  cv_.notify_all();
}

bool jwks_source::after_next_load(std::uint64_t seen_generation, std::function<void()> fn) {
  {
    std::unique_lock lock(mu_);
    if (generation_ > seen_generation) {
      lock.unlock();
      fn();
      return true;
    }
    if (stop_ || !thread_.joinable()) return false;
    const auto now = std::chrono::steady_clock::now();
    const bool allowed = !kid_fetched_ || now >= last_kid_fetch_ + opts_.unknown_kid_every;
    if (!loading_ && !allowed) return false;
    waiters_.push_back(std::move(fn));
    if (!loading_) kid_wanted_ = true;
  }
  cv_.notify_all();
  return true;
}

std::string jwks_source::load_once() {
  std::string why;
  const std::string text = url_ ? http_get(opts_.location, opts_.timeout, stopping_, &why)
                                : read_file(opts_.location, &why);
  ++attempts_;
  if (!why.empty()) return why;
  std::vector<std::string> skipped;
  key_list keys;
  try {
    keys = parse_jwks(text, &skipped);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  for (const auto& s : skipped) log()->warn("HERALD_JWT_JWKS: {}", s);
  if (keys.empty()) return "the key set holds no usable RS256 or ES256 key";
  auto fresh = std::make_shared<const key_list>(std::move(keys));
  {
    std::lock_guard lock(mu_);
    keys_ = std::move(fresh);
  }
  loaded_ = true;
  return {};
}

void jwks_source::run() {
  using clock = std::chrono::steady_clock;
  // A URL is fetched at once; a file was read by the constructor.
  bool due = url_;
  auto failures = 0;
  auto next = clock::now() + opts_.refresh;
  auto release_waiters = [this] {
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard lock(mu_);
      loading_ = false;
      ++generation_;
      ready.swap(waiters_);
    }
    for (auto& fn : ready) fn();
  };
  for (;;) {
    if (due) {
      {
        std::lock_guard lock(mu_);
        loading_ = true;
      }
      const auto why = load_once();
      release_waiters();
      if (why.empty()) {
        if (failures > 0 || attempts_ == 1)
          log()->info("HERALD_JWT_JWKS: key set loaded from {}", opts_.location);
        failures = 0;
        next = clock::now() + opts_.refresh;
      } else {
        ++failures;
        log()->warn("HERALD_JWT_JWKS: cannot load {}: {}{}", opts_.location, why,
                    loaded() ? " (the last good key set stays)" : "");
        // Never loaded: retry soon (1 s, doubling up to 30 s); else at the normal pace.
        const auto backoff =
            std::chrono::milliseconds(std::min(30000, 1000 << std::min(failures - 1, 5)));
        next =
            clock::now() + (loaded() ? opts_.refresh
                                     : std::min<std::chrono::milliseconds>(backoff, opts_.refresh));
      }
      due = false;
    }
    std::unique_lock lock(mu_);
    for (;;) {
      if (stop_) {
        lock.unlock();
        release_waiters();
        return;
      }
      const auto now = clock::now();
      if (kid_wanted_) {
        const auto allowed = kid_fetched_ ? last_kid_fetch_ + opts_.unknown_kid_every : now;
        if (now >= allowed) {
          kid_wanted_ = false;
          kid_fetched_ = true;
          last_kid_fetch_ = now;
          due = true;
          break;
        }
        if (allowed < next) {
          cv_.wait_until(lock, allowed);
          continue;
        }
      }
      if (now >= next) {
        kid_wanted_ = false;  // this fetch answers a pending request too
        due = true;
        break;
      }
      cv_.wait_until(lock, next);
    }
  }
}

}  // namespace herald::gateway
