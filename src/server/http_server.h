// `r1 serve`'s HTTP front end (cpp-httplib): the OpenAI routes, the web chat page, health and metrics,
// with authentication, CORS, size limits, timeouts, admission control and disconnect handling.
//
//   POST /v1/chat/completions   POST /v1/completions   GET /v1/models[/ID]
//   GET /health                 GET /metrics           GET / (web chat)
//
// Requests are parsed and checked on the HTTP thread, then handed to the Scheduler; the HTTP thread
// streams the scheduler's tokens back (SSE) or collects them into one response.
#pragma once

#include <memory>
#include <string>

#include "runtime/scheduler.h"
#include "server/completion.h"

namespace r1::server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0: any free port
  std::string api_key;             // empty: no authentication
  std::string cors_origin;         // empty: no CORS headers (browsers on other origins are refused)
  bool log_prompts = false;        // log request and completion text (off: only sizes and timings)
  size_t max_body_bytes = 8u << 20;
  int idle_timeout_s = 30;         // a connection that sends nothing for this long is closed
  int request_timeout_s = 600;     // a generation running longer than this ends (finish_reason "length")
  int http_threads = 0;            // 0: enough for every slot and queued request
};

class HttpServer {
 public:
  HttpServer(const ServedModel& model, Scheduler& scheduler, int parallel, int64_t queue, ServerOptions options);
  ~HttpServer();

  // Binds the socket; returns the port (the chosen one when options.port is 0). Throws r1::Error.
  int bind();
  // Serves until stop() is called (from any thread).
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1::server
