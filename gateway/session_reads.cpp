#include "gateway/session_reads.hpp"

#include <chrono>

namespace herald::gateway {
namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

constexpr auto page_size = static_cast<std::size_t>(sync_page_size);

}  // namespace

void read_count_and_page(session_services& svc, const persistence::viewer& v, std::uint64_t since,
                         std::optional<std::uint64_t> changes_since,
                         boost::asio::any_io_executor ex,
                         std::function<void(persistence::outcome<count_and_page>)> done) {
  svc.pool().submit_patient(
      std::move(ex),
      [v, since, changes_since](persistence::store& st) {
        const auto now = now_ms();
        count_and_page out;
        // The count first: every item up to its watermark is committed, so the list below (a
        // later snapshot) holds all of them; later ones are cut off (they come as events, or
        // in the next read).
        out.count = st.unread_count(v, now);
        out.items = st.list_since(v, since, sync_page_size + 1, now);
        std::erase_if(out.items,
                      [&](const proto::notification& n) { return n.id > out.count.watermark; });
        out.more = out.items.size() > page_size;
        if (out.more) out.items.resize(page_size);
        st.annotate_seq(v, out.items);
        if (changes_since) out.changes = st.list_changes(v, *changes_since, since, sync_page_size);
        return out;
      },
      std::move(done));
}

void read_page(session_services& svc, const persistence::viewer& v, std::uint64_t since,
               std::optional<std::uint64_t> changes_since, boost::asio::any_io_executor ex,
               std::function<void(persistence::outcome<page>)> done) {
  svc.pool().submit(
      std::move(ex),
      [v, since, changes_since](persistence::store& st) {
        page out;
        out.items = st.list_since(v, since, sync_page_size + 1, now_ms());
        out.more = out.items.size() > page_size;
        if (out.more) out.items.resize(page_size);
        st.annotate_seq(v, out.items);
        if (changes_since) out.changes = st.list_changes(v, *changes_since, since, sync_page_size);
        return out;
      },
      std::move(done));
}

}  // namespace herald::gateway
