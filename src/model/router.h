// DeepSeekMoE routing: which experts a token goes to, and with what weights.
//   greedy               softmax scores, top-k                                   (V2-Lite)
//   group_limited_greedy softmax scores, keep the topk_group groups with the
//                        highest max score, top-k among them                     (V2, V2.5)
//   noaux_tc             sigmoid scores s; selection uses s + bias; groups ranked by the sum of their
//                        top-2 biased scores; weights are the unbiased s         (V3, R1, V3.1)
// Then optional renormalisation (norm_topk_prob) and scaling by routed_scaling_factor.
#pragma once

#include <cstdint>

#include "model/config.h"

namespace r1 {

// logits: [n_routed_experts] router outputs for one token; bias: e_score_correction_bias or null.
// Writes num_experts_per_tok expert ids (by descending selection score) and their weights.
// scratch: at least 2 * n_routed_experts floats.
void route_token(const ModelConfig& cfg, const float* logits, const float* bias, int32_t* experts, float* weights,
                 float* scratch);

}  // namespace r1
