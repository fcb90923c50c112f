// The routing tables of the two listeners. Each handler answers through s.respond(), at once or
// after a store call.
#pragma once
#include <memory>

#include "gateway/http_types.hpp"

namespace herald::gateway {

class http_session;
void route_public(const std::shared_ptr<http_session>& s, request req, const target& t);
void route_internal(const std::shared_ptr<http_session>& s, request req, const target& t);

// Individual handler families (one file each).
void handle_notify(const std::shared_ptr<http_session>& s, request req, bool batch);
bool handle_inbox(const std::shared_ptr<http_session>& s, request& req, const target& t);
bool handle_admin(const std::shared_ptr<http_session>& s, request& req, const target& t);
bool handle_notifications(const std::shared_ptr<http_session>& s, request& req, const target& t);
bool handle_static(const std::shared_ptr<http_session>& s, const request& req, const target& t,
                   bool admin);

}  // namespace herald::gateway
