// A bench worker process: owns its share of the WebSocket clients (connection i belongs to
// worker i % W), obeys the parent's commands over a pipe and reports back. Thread safety: runs
// one io_context on one thread.
#pragma once
#include "bench/bench_client.hpp"
#include "bench/bench_options.hpp"
#include "bench/floor_sink.hpp"
#include "bench/latency_histogram.hpp"
#include "bench/pipe_channel.hpp"
#include "bench/token_minter.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace herald::bench {

class worker : public client_sink {
 public:
  worker(int index, const bench_options& options, int command_fd, int report_fd);
  // Serves commands until told to exit; returns the process exit code.
  int run();

  void on_frame(bench_client& client, std::string_view text) override;
  void on_closed(bench_client& client, const boost::system::error_code& ec) override;

 private:
  struct connect_round {
    bool active = false;
    std::string host;
    std::uint16_t port = 0;
    std::optional<std::int64_t> since;
    std::vector<std::int64_t> expect_ids;
    std::size_t next = 0;
    int concurrency = 1;
    int in_flight = 0;
    int done = 0, ok = 0, failed = 0, sync_ok = 0, sync_bad = 0;
    std::int64_t t_last = 0;
    std::map<std::string, int> errors;
  };
  struct phase_state {
    std::string kind;   // "", "broadcast", "personal"
    std::string frame;  // the frame type the deliveries come in
    std::int64_t count = 0;
    int live = 0;
    std::int64_t expected_total = 0;
    std::int64_t delivered = 0;
    std::map<std::int64_t, int> arrivals;
    latency_histogram hist;
    std::int64_t unexpected = 0;
    std::vector<bool> in_phase;
    std::int64_t ack_from = 0;  // broadcasts from this seq on are acked (0: none)
  };

  boost::asio::awaitable<void> command_loop();
  void handle(const nlohmann::json& cmd);
  void start_connect(const nlohmann::json& cmd);
  void launch_more();
  void finish_connect(bench_client& client, bool ok);
  void start_phase(const nlohmann::json& cmd);
  nlohmann::json collect(bool reset_histogram);
  void start_close(bool abort);
  void finish_close();
  void on_sync(bench_client& client, std::string_view text);
  void on_delivery(bench_client& client, std::string_view type, std::string_view text);
  std::int64_t personal_expected(const bench_client& client) const;
  std::int64_t personal_expected_sum(const bench_client& client) const;
  void report(const nlohmann::json& message) { channel_.send(message); }

  int index_;
  const bench_options& options_;
  boost::asio::io_context io_;
  pipe_channel channel_;
  token_minter minter_;
  std::vector<std::unique_ptr<bench_client>> clients_;
  connect_round connect_;
  phase_state phase_;
  bool closing_ = false;
  int closing_left_ = 0;
  int closing_total_ = 0;
  boost::asio::steady_timer close_timer_;
  std::int64_t dropped_ = 0;  // connections that ended when nobody asked them to
  std::int64_t error_frames_ = 0;
  std::vector<std::unique_ptr<floor_sink>> floors_;
  bool exit_ = false;
};

}  // namespace herald::bench
