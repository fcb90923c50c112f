// Static files for the demo page (public listener, "/") and the admin console (internal
// listener, "/admin"): GET and HEAD only, known content types, no listings, nothing outside the
// web root.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/http_session.hpp"
#include "gateway/routes.hpp"
#include "gateway/server.hpp"

namespace herald::gateway {

namespace {

namespace fs = std::filesystem;

const char* content_type(const fs::path& p) {
  const std::string ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".webmanifest") return "application/manifest+json";
  if (ext == ".txt" || ext == ".md") return "text/plain; charset=utf-8";
  return nullptr;
}

// True when `p` is `root` or lies under it, compared component by component (a sibling
// folder whose name merely starts with the root's name is outside).
bool under(const fs::path& p, const fs::path& root) {
  auto pi = p.begin();
  for (auto ri = root.begin(); ri != root.end(); ++ri, ++pi) {
    if (ri->empty() && std::next(ri) == root.end()) break;  // a trailing separator
    if (pi == p.end() || *pi != *ri) return false;
  }
  return true;
}

}  // namespace

bool handle_static(const std::shared_ptr<http_session>& s, const request& req, const target& t,
                   bool admin) {
  const auto m = req.method();
  if (m != http::verb::get && m != http::verb::head) {
    s->respond(error_response(proto::method_not_allowed()));
    return true;
  }
  // Refuse anything that could leave the root before touching the file system: the path is
  // relative segments only (no empty, dot or backslash segments, so never absolute).
  const std::string& path = t.path;
  if (path.empty() || path.front() != '/' || path.find('\0') != std::string::npos ||
      path.find('\\') != std::string::npos || path.find("//") != std::string::npos ||
      path.find("/.") != std::string::npos) {
    s->respond(error_response(proto::not_found("no such file")));
    return true;
  }
  std::string rel = path.substr(1);
  if (admin) {
    rel = rel == "admin" ? "admin/" : rel;  // "/admin" and "/admin/" are the console
  } else if (rel == "admin" || rel.rfind("admin/", 0) == 0) {
    return false;  // the console is served by the internal listener only
  }
  if (rel.empty() || rel.back() == '/') rel += "index.html";
  std::error_code ec;
  // Both sides canonical (symlinks resolved), then compared as paths: a link that leads out
  // of the root, or from the public pages into the console, is not followed.
  const fs::path root = fs::canonical(s->srv().cfg().web_root, ec);
  if (ec) return false;
  const fs::path file = fs::canonical(root / fs::path(rel).relative_path(), ec);
  if (ec || !under(file, root) || !fs::is_regular_file(file, ec)) return false;
  if (admin != under(file, root / "admin")) return false;
  const char* type = content_type(file);
  if (!type) return false;
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  std::ostringstream body;
  body << in.rdbuf();
  response res{http::status::ok, 11};
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  res.body() = body.str();
  res.prepare_payload();
  if (m == http::verb::head) res.body().clear();
  s->respond(std::move(res));
  return true;
}

}  // namespace herald::gateway
