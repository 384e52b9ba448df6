#include "train/rollout.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "core/error.h"
#include "runtime/scheduler.h"

namespace r1::train {

std::vector<Rollout> generate_rollouts(const Model& model, ThreadPool& pool, const std::vector<RolloutRequest>& requests,
                                       const RolloutOptions& o) {
  std::vector<Rollout> out(requests.size());
  if (requests.empty()) return out;
  int64_t longest = 0;
  for (const auto& r : requests) longest = std::max<int64_t>(longest, int64_t(r.prompt.size()));
  SchedulerOptions so;
  so.parallel = std::max(1, std::min<int>(o.parallel, int(requests.size())));
  so.context = longest + o.max_tokens;
  so.batch_tokens = std::max<int64_t>(256, so.parallel);
  so.queue = int64_t(requests.size());
  Scheduler sched(model, pool, so);

  std::vector<std::shared_ptr<SequenceStream>> streams;
  for (const auto& r : requests) {
    SequenceRequest q;
    q.prompt = r.prompt;
    q.max_tokens = o.max_tokens;
    q.sampling.temperature = o.temperature;
    q.sampling.seed = r.seed;
    q.top_logprobs = 0;  // the sampled token's log-probability only
    if (o.stop_token >= 0) q.stop_tokens = {o.stop_token};
    streams.push_back(sched.submit(std::move(q)));
    if (!streams.back()) fail("rollouts: the scheduler refused a request (queue full)");
  }
  for (size_t i = 0; i < streams.size(); ++i) {
    TokenEvent e;
    while (!streams[i]->finished()) {
      if (streams[i]->next(e, std::chrono::milliseconds(50))) {
        out[i].tokens.push_back(e.token);
        out[i].logprobs.push_back(e.logprob);
      }
    }
    while (streams[i]->next(e, std::chrono::milliseconds(0))) {
      out[i].tokens.push_back(e.token);
      out[i].logprobs.push_back(e.logprob);
    }
    const FinishReason why = streams[i]->reason();
    if (why == FinishReason::Error) fail("rollouts: sequence {} failed: {}", i, streams[i]->error());
    if (why == FinishReason::Stop && o.stop_token >= 0) {
      out[i].tokens.push_back(o.stop_token);  // trained on, so the policy learns to end its turn
      out[i].logprobs.push_back(0.0f);        // not reported by the engine (stop tokens are not emitted)
    }
    out[i].stopped = why == FinishReason::Stop;
  }
  return out;
}

}  // namespace r1::train
