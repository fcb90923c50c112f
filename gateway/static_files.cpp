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

}  // namespace

bool handle_static(const std::shared_ptr<http_session>& s, const request& req, const target& t, bool admin) {
  const auto m = req.method();
  if (m != http::verb::get && m != http::verb::head) {
    s->respond(error_response(proto::method_not_allowed()));
    return true;
  }
  // Refuse anything that could leave the root before touching the file system.
  const std::string& path = t.path;
  if (path.empty() || path.front() != '/' || path.find('\0') != std::string::npos ||
      path.find('\\') != std::string::npos || path.find("/..") != std::string::npos ||
      path.find("/.") != std::string::npos) {
    s->respond(error_response(proto::not_found("no such file")));
    return true;
  }
  std::string rel = path.substr(1);
  if (admin) {
    rel = rel == "admin" ? "admin/" : rel;  // "/admin" and "/admin/" are the console
  } else if (rel.rfind("admin", 0) == 0) {
    return false;  // the console is served by the internal listener only
  }
  if (rel.empty() || rel.back() == '/') rel += "index.html";
  const fs::path root = fs::weakly_canonical(s->srv().cfg().web_root);
  std::error_code ec;
  const fs::path file = fs::weakly_canonical(root / rel, ec);
  const auto rootstr = root.string();
  if (ec || file.string().compare(0, rootstr.size(), rootstr) != 0 || !fs::is_regular_file(file, ec)) {
    return false;
  }
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
