#include "gateway/webhooks.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/asio/post.hpp>

#include "gateway/logging.hpp"

namespace herald::gateway {
namespace {

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::shared_ptr<spdlog::logger> log() {
  static const auto l = logger("webhooks");
  return l;
}

}  // namespace

// ---- acks ----

ack_batcher::ack_batcher(boost::asio::io_context& io, persistence::store_pool& pool)
    : io_(io), pool_(pool), timer_(std::make_unique<boost::asio::steady_timer>(io)) {}

ack_batcher::~ack_batcher() { stop(); }

void ack_batcher::add(const persistence::viewer& v, const std::vector<std::uint64_t>& ids) {
  std::lock_guard lock(mu_);
  if (pending_ids_ + ids.size() > max_pending_ids) {
    dropped_ += ids.size();
    return;
  }
  auto& p = pending_[v.user_id];
  // The newest token's groups (copied only when they changed: most acks repeat them).
  if (p.ids.empty() || p.who.groups.pairs() != v.groups.pairs()) p.who = v;
  for (auto id : ids) {
    if (p.ids.insert(id).second) ++pending_ids_;
  }
}

void ack_batcher::start() { arm(); }

void ack_batcher::stop() {
  if (stopped_.exchange(true)) return;
  boost::asio::post(io_, [t = timer_.get()] { t->cancel(); });
}

void ack_batcher::arm() {
  if (stopped_) return;
  timer_->expires_after(std::chrono::seconds(1));
  timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    flush();
    arm();
  });
}

void ack_batcher::flush() {
  std::vector<persistence::ack_request> batch;
  {
    std::lock_guard lock(mu_);
    if (in_flight_ || pending_.empty()) return;
    for (auto& [user, p] : pending_) {
      batch.push_back({std::move(p.who), std::vector<std::uint64_t>(p.ids.begin(), p.ids.end())});
    }
    pending_.clear();
    pending_ids_ = 0;
    in_flight_ = true;
  }
  auto shared = std::make_shared<std::vector<persistence::ack_request>>(std::move(batch));
  pool_.submit(
      io_.get_executor(), [shared](persistence::store& st) { return st.ack(*shared, wall_ms()); },
      [this, shared](persistence::outcome<std::int64_t> out) {
        std::lock_guard lock(mu_);
        in_flight_ = false;
        if (out.ok()) {
          recorded_ += static_cast<std::uint64_t>(*out.value);
          return;
        }
        // The store is away: the acks wait for the next flush (bounded like new ones).
        log()->warn("acks not recorded, retrying: {}", out.error);
        for (auto& a : *shared) {
          auto& p = pending_[a.who.user_id];
          if (p.ids.empty()) p.who = a.who;
          for (auto id : a.ids) {
            if (pending_ids_ >= max_pending_ids) {
              ++dropped_;
              continue;
            }
            if (p.ids.insert(id).second) ++pending_ids_;
          }
        }
      });
}

// ---- presence ----

webhook_presence::webhook_presence(boost::asio::io_context& io, persistence::store_pool& pool,
                                   std::chrono::seconds offline_after, cluster_fn cluster)
    : io_(io), pool_(pool), offline_after_(offline_after), cluster_(std::move(cluster)) {}

void webhook_presence::opened(const persistence::viewer& v) {
  {
    std::lock_guard lock(mu_);
    auto& u = users_[v.user_id];
    ++u.generation;  // a pending offline check of an earlier close is void
    if (u.connections++ > 0) return;
  }
  pool_.submit(
      io_.get_executor(),
      [user = v.user_id](persistence::store& st) { return st.presence_opened(user, wall_ms()); },
      [user = v.user_id](persistence::outcome<bool> out) {
        if (!out.ok()) log()->warn("user {} online not recorded: {}", user, out.error);
      });
}

void webhook_presence::closed(const persistence::viewer& v) {
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    auto it = users_.find(v.user_id);
    if (it == users_.end() || it->second.connections == 0) return;
    if (--it->second.connections > 0) return;
    it->second.last = v;
    generation = ++it->second.generation;
  }
  const auto now = wall_ms();
  pool_.submit(
      io_.get_executor(),
      [user = v.user_id, now](persistence::store& st) {
        st.presence_closed(user, now);
        return 0;
      },
      [](persistence::outcome<int>) {});
  auto timer = std::make_shared<boost::asio::steady_timer>(io_);
  timer->expires_after(offline_after_ + std::chrono::milliseconds(100));
  timer->async_wait([this, timer, user = v.user_id, generation](boost::system::error_code ec) {
    if (!ec) check(user, generation, 0);
  });
}

void webhook_presence::check(std::uint64_t user_id, std::uint64_t generation, int attempt) {
  persistence::viewer v;
  {
    std::lock_guard lock(mu_);
    auto it = users_.find(user_id);
    if (it == users_.end() || it->second.generation != generation || it->second.connections > 0) {
      return;  // a connection opened since
    }
    v = it->second.last;
    users_.erase(it);  // nothing left to remember until the next connection
  }
  auto decide = [this, v, attempt, generation](bool elsewhere) {
    if (elsewhere) return;  // another node holds a connection: it decides when that one closes
    const auto window_ms = static_cast<std::int64_t>(offline_after_.count()) * 1000;
    pool_.submit(
        io_.get_executor(),
        [v, window_ms](persistence::store& st) {
          return st.presence_offline(v, window_ms, wall_ms());
        },
        [this, v, attempt, generation](persistence::outcome<bool> out) {
          if (out.ok() || attempt >= 5) return;
          // The store is away: look again in a few seconds.
          auto timer = std::make_shared<boost::asio::steady_timer>(io_);
          timer->expires_after(std::chrono::seconds(5));
          {
            std::lock_guard lock(mu_);
            auto& u = users_[v.user_id];
            if (u.connections > 0) return;
            u.last = v;
            u.generation = generation;
          }
          timer->async_wait(
              [this, timer, user = v.user_id, generation, attempt](boost::system::error_code ec) {
                if (!ec) check(user, generation, attempt + 1);
              });
        });
  };
  if (!cluster_) return decide(false);
  cluster_(user_id, [decide](std::optional<std::uint64_t> n) { decide(n && *n > 0); });
}

// ---- sender ----

webhook_sender::webhook_sender(options o) : opts_(std::move(o)) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

webhook_sender::~webhook_sender() { stop(); }

void webhook_sender::start() {
  thread_ = std::thread([this] { run(); });
}

void webhook_sender::stop() {
  stopping_ = true;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void webhook_sender::poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

std::string webhook_sender::signature(const std::string& secret, std::int64_t unix_s,
                                      const std::string& body) {
  const std::string signed_text = std::to_string(unix_s) + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac, &len);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "t=" + std::to_string(unix_s) + ",v1=";
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[mac[i] >> 4]);
    out.push_back(hex[mac[i] & 15]);
  }
  return out;
}

namespace {
std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }
// A POST in flight is abandoned when the sender stops (the drain must not wait for a slow
// receiver); its events stay in the outbox.
int abandon_when_stopping(void* stopping, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(stopping)->load() ? 1 : 0;
}
}  // namespace

bool webhook_sender::post(const std::string& body, std::string& why) {
  CURL* c = curl_easy_init();
  if (!c) {
    why = "curl_easy_init failed";
    return false;
  }
  const auto t = wall_ms() / 1000;
  const std::string sig = "Herald-Signature: " + signature(opts_.secret, t, body);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, sig.c_str());
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, opts_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<std::int64_t>(opts_.timeout.count(), 5000)));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "herald-webhooks");
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abandon_when_stopping);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &stopping_);
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    why = curl_easy_strerror(rc);
    return false;
  }
  if (status < 200 || status > 299) {
    why = "HTTP " + std::to_string(status);
    return false;
  }
  return true;
}

void webhook_sender::run() {
  std::unique_ptr<persistence::store> st;
  // A lease longer than one attempt (the timeout), so that no other node takes a batch that
  // is still being sent.
  const std::int64_t lease_ms = std::max<std::int64_t>(30000, opts_.timeout.count() * 2);
  bool logged = false;  // a store failure is logged once until the store answers again
  for (unsigned round = 0;; ++round) {
    bool full = false;
    try {
      if (!st) st = persistence::open_store(opts_.store_url);
      auto events = st->claim_outbox(opts_.node_id, 100, wall_ms(), lease_ms);
      if (!events.empty()) {
        std::string body = R"({"events":[)";
        for (std::size_t i = 0; i < events.size(); ++i) {
          if (i) body.push_back(',');
          body += events[i].body;
        }
        body += "]}";
        std::string why;
        if (post(body, why)) {
          st->outbox_sent(events);
          sent_ += events.size();
          full = events.size() == 100;
        } else {
          ++failures_;
          const auto dropped = st->outbox_failed(events, wall_ms(), opts_.give_up.count());
          dropped_ += static_cast<std::uint64_t>(dropped);
          log()->warn("webhook POST of {} events failed ({}); retrying with backoff", events.size(),
                      why);
          if (dropped > 0)
            log()->error("{} webhook events dropped after 24 hours of failures", dropped);
        }
      }
      if (round % 40 == 0) pending_ = st->outbox_pending();  // about every 10 s
      logged = false;
    } catch (const std::exception& e) {
      if (!logged) log()->warn("webhook outbox: {}", e.what());
      logged = true;
      st.reset();
    }
    std::unique_lock lock(mu_);
    if (stop_) return;
    if (full) continue;
    cv_.wait_for(lock, opts_.poll, [this] { return stop_ || poked_; });
    poked_ = false;
    if (stop_) return;
  }
}

std::string webhook_sender::metrics() const {
  std::string o;
  auto line = [&o](const char* name, const char* type, const char* help, std::int64_t v) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
         name + " " + std::to_string(v) + "\n";
  };
  line("herald_webhook_events_sent_total", "counter", "Webhook events the receiver accepted.",
       static_cast<std::int64_t>(sent_.load()));
  line("herald_webhook_failures_total", "counter", "Webhook POSTs refused or not answered.",
       static_cast<std::int64_t>(failures_.load()));
  line("herald_webhook_events_dropped_total", "counter",
       "Webhook events dropped after 24 hours of failed attempts.",
       static_cast<std::int64_t>(dropped_.load()));
  line("herald_webhook_outbox_pending", "gauge", "Webhook events waiting in the outbox.",
       pending_.load());
  return o;
}

}  // namespace herald::gateway
