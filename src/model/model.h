// Model: a loaded checkpoint -- its files, parsed config, bound weights and RoPE table. Immutable after
// load and shared by every session (CLI, server slots, trainer's inference).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/zeroed_buffer.h"
#include "formats/model_dir.h"
#include "model/config.h"
#include "model/rope.h"
#include "model/weights.h"

namespace r1 {

class Model {
 public:
  // Loads a Hugging Face model directory. Throws r1::Error with a one-line message on bad input.
  static std::unique_ptr<Model> load(const std::string& dir);

  const ModelConfig& config() const { return cfg_; }
  const ModelWeights& weights() const { return w_; }
  const RopeTable& rope() const { return rope_; }
  const ModelDir& files() const { return *dir_; }

  // Parameters used per token: everything except the routed experts not selected and the MTP module.
  int64_t active_params() const;
  // Weight bytes a decode step reads: every matrix once, routed experts at top-k / n_experts (their
  // expected share), one embedding row. The numerator of the memory-bandwidth roofline.
  double weight_bytes_per_token() const;

  // Where this CPU has a row-group kernel (kernels/cpu/row_groups.h): copies every matrix of such a type
  // that the forward pass multiplies whole (not MLA's per-head products, which it slices) into row
  // groups, in memory the model owns, and releases those matrices' pages of the mapped files, so the
  // weights still take their size once (the codebook types' layouts take more: row_groups.h). Where the
  // copy would take more than `max_bytes` (unlike the mapped file, it cannot be paged out), the matrices
  // whose layout is larger are left as they are, and if it still would, nothing is copied. Call before
  // the model is shared.
  // Returns the bytes regrouped.
  size_t regroup_rows(size_t max_bytes = SIZE_MAX);

 private:
  std::unique_ptr<ModelDir> dir_;
  ModelConfig cfg_;
  ModelWeights w_;
  RopeTable rope_;
  ZeroedBuffer regrouped_;  // the matrices regroup_rows copied
};

}  // namespace r1
