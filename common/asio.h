// The one way this project includes Boost.Asio. Boost 1.74's awaitable.hpp uses std::exchange
// without including <utility>, so that header must come first.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace bridge {
namespace asio = boost::asio;
using boost::system::error_code;
}  // namespace bridge
