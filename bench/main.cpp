// herald-bench: opens N WebSocket connections to Herald from several worker processes and
// measures connect, broadcast, personal, reconnect and inbox figures against the kernel floor
// and a Bun peer. See bench/README.md.
#include "bench/bench_context.hpp"
#include "bench/bench_options.hpp"
#include "bench/process_probe.hpp"
#include "bench/scenario_runner.hpp"
#include "bench/summary_printer.hpp"
#include "bench/worker_pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
  using namespace herald::bench;
  bench_options options;
  try {
    options = parse_bench_options(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "herald-bench: " << e.what() << "\n\n" << bench_usage();
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  if (!options.pin_workers.empty()) pin_process(0, options.pin_workers);

  worker_pool pool(options);  // forks: everything below runs in the parent only
  boost::asio::io_context io;
  pool.start(io.get_executor());
  bench_context ctx(options, pool, io.get_executor());
  scenario_runner runner(ctx);
  std::exception_ptr failure;
  boost::asio::co_spawn(io, runner.run(), [&](std::exception_ptr e) {
    failure = e;
    pool.shutdown();
    io.stop();
  });
  io.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::cerr << "herald-bench: " << e.what() << "\n";
      return 1;
    }
  }
  auto results = runner.results();
  results["machine"] = summary_printer::machine();
  summary_printer::print(std::cout, results);
  const std::string line = results.dump();
  std::cout << line << std::endl;
  if (!options.json_out.empty()) std::ofstream(options.json_out, std::ios::app) << line << "\n";
  return results.value("ok", false) ? 0 : 1;
}
