#include "server/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "server/api_error.h"
#include "server/metrics.h"
#include "server/web_assets.h"

namespace r1::server {

namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;

double seconds(clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The endpoint label of /metrics: known routes by name, everything else as one label, so random URLs
// cannot grow the metric without bound.
std::string endpoint_label(const std::string& path) {
  for (const char* known : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"}) {
    if (path == known) return known;
  }
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return path.rfind("/v1/", 0) == 0 ? "/v1/other" : "static";
}

// Compares without an early exit, so the time taken does not reveal how much of a key was right.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % std::max<size_t>(1, b.size())]);
  return diff == 0;
}

}  // namespace

struct HttpServer::Impl {
  const ServedModel& m;
  Scheduler& sched;
  int parallel;
  ServerOptions o;
  httplib::Server svr;
  Metrics metrics;

  Impl(const ServedModel& model, Scheduler& s, int par, int64_t queue, ServerOptions opts)
      : m(model), sched(s), parallel(par), o(std::move(opts)) {
    const size_t threads = o.http_threads > 0 ? size_t(o.http_threads) : size_t(par) + size_t(queue) + 8;
    svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    svr.set_payload_max_length(o.max_body_bytes);
    svr.set_read_timeout(o.idle_timeout_s, 0);
    svr.set_write_timeout(o.idle_timeout_s, 0);
    // An idle persistent connection is kept 5 s (announced in Keep-Alive, so clients retire it first).
    // Longer would also delay shutdown: httplib's stop waits for connections idling in keep-alive.
    svr.set_keep_alive_timeout(std::min(o.idle_timeout_s, 5));
    routes();
  }

  static void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  }
  static void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status, e.body()); }

  void routes();
  void completion(const httplib::Request& req, httplib::Response& res, bool chat);
  bool pump(Completion& job, SequenceStream& stream, httplib::DataSink& sink, clock::time_point arrived);
};

void HttpServer::Impl::routes() {
  // Authentication and CORS come before routing, so they cover every route the same way.
  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!o.cors_origin.empty()) {
      res.set_header("Access-Control-Allow-Origin", o.cors_origin);
      res.set_header("Vary", "Origin");
      if (req.method == "OPTIONS") {
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
        res.set_header("Access-Control-Max-Age", "600");
        res.status = 204;
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    const bool protected_path = req.path.rfind("/v1/", 0) == 0 || req.path == "/metrics";
    if (!o.api_key.empty() && protected_path) {
      const std::string auth = req.get_header_value("Authorization");
      if (auth.rfind("Bearer ", 0) != 0 || !same_secret(auth.substr(7), o.api_key)) {
        send_error(res, ApiError(401, "Incorrect API key provided.", "", "invalid_api_key"));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { completion(req, res, true); });
  svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { completion(req, res, false); });
  auto model_object = [this] {
    return json{{"id", m.id}, {"object", "model"}, {"created", m.created}, {"owned_by", "r1.cpp"}};
  };
  svr.Get("/v1/models", [model_object](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"object", "list"}, {"data", json::array({model_object()})}});
  });
  svr.Get(R"(/v1/models/(.+))", [this, model_object](const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1] == m.id) return send_json(res, 200, model_object());
    send_error(res, ApiError(404, fmt::format("The model '{}' does not exist.", std::string(req.matches[1])), "model", "model_not_found"));
  });
  svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"status", "ok"}, {"model", m.id}});
  });
  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(sched.stats(), parallel), "text/plain; version=0.0.4");
  });
  // The web chat page; anything else is a JSON 404.
  svr.Get(R"(/[^/]*)", [](const httplib::Request& req, httplib::Response& res) {
    const WebAsset* a = find_web_asset(req.path);
    if (!a) {
      return send_error(res, ApiError(404, fmt::format("Unknown request URL: GET {}", req.path), "", "unknown_url"));
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:");
    res.set_content(std::string(a->body), std::string(a->content_type));
  });

  svr.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 413) {
      send_error(res, ApiError(413, "The request body is too large.", "", "request_too_large"));
    } else if (res.status == 404) {
      send_error(res, ApiError(404, fmt::format("Unknown request URL: {} {}", req.method, req.path), "", "unknown_url"));
    } else {
      send_error(res, ApiError(res.status, fmt::format("HTTP error {}.", res.status), "", "http_error"));
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, fmt::format("Internal error: {}", e.what()), "", "internal_error", "server_error"));
    }
  });
  svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_request(endpoint_label(req.path), res.status);
    std::fprintf(stderr, "r1 serve: %s %s %d\n", req.method.c_str(), req.path.c_str(), res.status);
  });
}

void HttpServer::Impl::completion(const httplib::Request& req, httplib::Response& res, bool chat) {
  const auto arrived = clock::now();
  try {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::parse_error& e) {
      throw ApiError(400, fmt::format("We could not parse the JSON body of your request: {}", e.what()), "", "invalid_json");
    }
    CompletionParams p = chat ? parse_chat_request(body) : parse_completion_request(body);
    if (!p.model.empty() && p.model != m.id) {
      throw ApiError(404, fmt::format("The model '{}' does not exist or you do not have access to it.", p.model), "model",
                     "model_not_found");
    }
    auto job = std::make_shared<Completion>(m, std::move(p));
    SequenceRequest request = job->take_request();
    std::shared_ptr<SequenceStream> stream;
    try {
      stream = sched.submit(std::move(request));
    } catch (const Error& e) {
      throw ApiError(400, e.what());
    }
    if (!stream) {
      res.set_header("Retry-After", "1");
      throw ApiError(429, "The server is busy: its request queue is full. Retry later.", "", "queue_full", "server_busy");
    }
    if (o.log_prompts) std::fprintf(stderr, "r1 serve: request %s\n", req.body.c_str());
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        job->params().stream ? "text/event-stream" : "application/json",
        [this, job, stream, arrived](size_t, httplib::DataSink& sink) { return pump(*job, *stream, sink, arrived); },
        [stream](bool) { stream->cancel(); });  // the response ended, or the connection did: free the slot
  } catch (const ApiError& e) {
    send_error(res, e);
  }
}

// Moves tokens from the scheduler to the client until the sequence ends, the client goes away, or the
// request runs out of time. Returns false to drop the connection (the client is gone).
bool HttpServer::Impl::pump(Completion& job, SequenceStream& stream, httplib::DataSink& sink, clock::time_point arrived) {
  const bool sse = job.params().stream;
  auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
  auto send = [&](const std::string& payload) { return sse ? write("data: " + payload + "\n\n") : true; };
  const auto deadline = arrived + std::chrono::seconds(o.request_timeout_s);
  auto first_token = arrived, last_token = arrived, last_write = arrived;
  bool first = true, timed_out = false;
  std::string text_log;
  TokenEvent e;
  for (;;) {
    if (stream.next(e, std::chrono::milliseconds(100))) {
      if (first) {
        first_token = e.time;
        metrics.time_to_first_token().observe(seconds(e.time - arrived));
      } else { metrics.inter_token_latency().observe(seconds(e.time - last_token));
      }
      first = false;
      last_token = e.time;
      for (const std::string& payload : job.on_token(e)) {
        if (!send(payload)) return stream.cancel(), false;
        last_write = clock::now();
      }
      if (job.stopped()) {
        stream.cancel();
        break;
      }
      continue;
    }
    if (stream.finished()) break;
    const auto now = clock::now();
    if (!sink.is_writable()) return stream.cancel(), false;
    if (now > deadline) {
      stream.cancel();
      timed_out = true;
      break;
    }
    // While nothing arrives (queued, a long prefill), a heartbeat shows whether the client is still
    // there: an SSE comment, or JSON's insignificant leading whitespace.
    if (now - last_write > std::chrono::milliseconds(500)) {
      if (!write(sse ? ": keep-alive\n\n" : " ")) return stream.cancel(), false;
      last_write = now;
    }
  }
  const FinishReason reason = timed_out ? FinishReason::Length : job.stopped() ? FinishReason::Stop : stream.reason();
  if (reason == FinishReason::Error) {
    const json err = ApiError(500, stream.error(), "", "generation_failed", "server_error").body();
    if (sse) send(err.dump(-1, ' ', false, json::error_handler_t::replace));
    else write(err.dump(-1, ' ', false, json::error_handler_t::replace));
  } else {
    for (const std::string& payload : job.finish(reason, stream.cached_tokens())) {
      if (sse) send(payload);
      else write(payload);
      if (o.log_prompts && !sse) text_log = payload;
    }
  }
  if (sse) write("data: [DONE]\n\n");
  sink.done();
  metrics.request_duration().observe(seconds(clock::now() - arrived));
  std::fprintf(stderr, "r1 serve: completion prompt=%lld cached=%lld finish=%s ttft=%.3fs total=%.3fs\n",
               (long long)job.prompt_tokens(), (long long)stream.cached_tokens(),
               std::string(finish_reason_name(reason)).c_str(), first ? 0.0 : seconds(first_token - arrived),
               seconds(clock::now() - arrived));
  if (!text_log.empty()) std::fprintf(stderr, "r1 serve: response %s\n", text_log.c_str());
  return true;
}

HttpServer::HttpServer(const ServedModel& model, Scheduler& scheduler, int parallel, int64_t queue, ServerOptions options)
    : impl_(std::make_unique<Impl>(model, scheduler, parallel, queue, std::move(options))) {}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  const ServerOptions& o = impl_->o;
  const int port = o.port == 0 ? impl_->svr.bind_to_any_port(o.host) : (impl_->svr.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) fail("cannot listen on {}:{}: {}", o.host, o.port, errno ? std::strerror(errno) : "bind failed");
  return port;
}

void HttpServer::run() { impl_->svr.listen_after_bind(); }

void HttpServer::stop() { impl_->svr.stop(); }

}  // namespace r1::server
