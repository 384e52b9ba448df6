// Where a forward pass's time goes: wall-clock seconds per stage, summed over the passes a profile was
// attached to (Forward::set_profile; `r1 bench --profile` prints it per test). The stages partition a
// pass: each lap charges the time since the previous one, so the stages add up to the pass's time.
// Timed on the calling thread, which takes part in every parallel loop and waits for its end.
#pragma once

#include <array>
#include <chrono>
#include <string_view>

namespace r1 {

enum class Stage {
  AttnInput,   // the layers' attention norms, query and key/value projections, RoPE, cache writes (MLA: and W_UK)
  Attention,   // scores, softmax and values over the cache
  AttnOutput,  // MLA's W_UV, the output projection
  Ffn,         // the FFN norms, dense MLPs, MoE routing and experts, residual adds
  Head,        // the final norm and the LM head
  Other,       // embedding lookup, RoPE tables, bookkeeping
};
inline constexpr int kStages = 6;

inline std::string_view stage_name(Stage s) {
  constexpr std::string_view names[kStages] = {"attn_input", "attention", "attn_output", "ffn", "head", "other"};
  return names[int(s)];
}

struct StepProfile {
  std::array<double, kStages> seconds{};

  double total() const {
    double sum = 0;
    for (double s : seconds) sum += s;
    return sum;
  }
};

// Charges the time since the last lap to a stage, when a profile is attached (otherwise nothing: no clock reads).
class StageClock {
 public:
  using clock = std::chrono::steady_clock;
  void attach(StepProfile* profile) { profile_ = profile; }
  void start() {
    if (profile_) last_ = clock::now();
  }
  void lap(Stage s) {
    if (!profile_) return;
    const clock::time_point now = clock::now();
    profile_->seconds[size_t(s)] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  StepProfile* profile_ = nullptr;
  clock::time_point last_{};
};

}  // namespace r1
