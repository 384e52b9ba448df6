#include "train/dataset.h"

#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "core/error.h"
#include "train/rng.h"

namespace r1::train {
namespace fs = std::filesystem;

nlohmann::ordered_json problem_to_json(const Problem& p) {
  nlohmann::ordered_json j;
  j["task"] = p.task;
  j["index"] = p.index;
  j["prompt"] = p.prompt;
  j["answer"] = p.answer;
  j["solution"] = p.solution;
  if (p.task == "countdown") {
    j["numbers"] = p.numbers;
    j["target"] = p.target;
  }
  return j;
}

Problem problem_from_json(const nlohmann::json& j) {
  if (!j.is_object()) fail("problem: expected a JSON object");
  auto text = [&](const char* key) {
    if (!j.contains(key) || !j[key].is_string()) fail("problem: field '{}': expected a string", key);
    return j[key].get<std::string>();
  };
  Problem p;
  p.task = text("task");
  p.prompt = text("prompt");
  p.answer = text("answer");
  p.solution = text("solution");
  if (!j.contains("index") || !j["index"].is_number_unsigned()) fail("problem: field 'index': expected an unsigned integer");
  p.index = j["index"].get<uint64_t>();
  if (p.task == "countdown") {
    if (!j.contains("numbers") || !j["numbers"].is_array()) fail("problem: field 'numbers': expected an array");
    for (const auto& n : j["numbers"]) {
      if (!n.is_number_integer()) fail("problem: field 'numbers': expected integers");
      p.numbers.push_back(n.get<int64_t>());
    }
    if (!j.contains("target") || !j["target"].is_number_integer()) fail("problem: field 'target': expected an integer");
    p.target = j["target"].get<int64_t>();
  }
  return p;
}

std::vector<Problem> read_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path);
  std::vector<Problem> out;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    try {
      out.push_back(problem_from_json(nlohmann::json::parse(line)));
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: not JSON: {}", path, number, e.what());
    } catch (const Error& e) {
      fail("{}:{}: {}", path, number, e.what());
    }
  }
  return out;
}

std::string to_jsonl(const std::vector<Problem>& problems) {
  std::string out;
  for (const Problem& p : problems) {
    out += problem_to_json(p).dump();
    out += '\n';
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr) != 1) fail("sha256: OpenSSL failed");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::vector<Problem> generate_split(const Generator& g, uint64_t seed, uint64_t count) {
  std::vector<Problem> out;
  out.reserve(count);
  for (uint64_t i = 0; i < count; ++i) out.push_back(g.generate(seed, i));
  return out;
}

namespace {

// The distinct n-gram hashes of one problem's prompt + solution, added to `into`.
void add_ngrams(const Problem& p, int n, std::unordered_set<uint64_t>& into) {
  std::vector<std::string> tokens;
  std::istringstream words(p.prompt + " " + p.solution);
  for (std::string w; words >> w;) tokens.push_back(std::move(w));
  for (size_t i = 0; i + n <= tokens.size(); ++i) {
    std::string gram = tokens[i];
    for (int k = 1; k < n; ++k) gram += " " + tokens[i + k];
    into.insert(fnv1a64(gram));
  }
}

}  // namespace

NgramOverlap ngram_overlap(const std::vector<Problem>& train, const std::vector<Problem>& eval, int n) {
  std::unordered_set<uint64_t> train_grams, eval_grams;
  for (const Problem& p : train) add_ngrams(p, n, train_grams);
  for (const Problem& p : eval) add_ngrams(p, n, eval_grams);
  NgramOverlap o;
  o.n = n;
  o.eval_ngrams = eval_grams.size();
  for (const uint64_t h : eval_grams) o.in_train += train_grams.contains(h);
  o.fraction = o.eval_ngrams ? double(o.in_train) / double(o.eval_ngrams) : 0.0;
  return o;
}

EvalSet draw_eval_set(const Generator& g, const std::vector<Problem>& train, uint64_t seed, uint64_t count,
                      int ngram_n) {
  std::unordered_set<std::string> train_prompts, eval_prompts;
  for (const Problem& p : train) train_prompts.insert(p.prompt);
  EvalSet set;
  // A small problem space can make `count` new prompts impossible; give up after a generous number of
  // draws rather than loop forever.
  const uint64_t max_draws = count * 10 + 10000;
  for (uint64_t index = 0; set.problems.size() < count; ++index) {
    if (index >= max_draws) {
      fail("{} eval set: only {} of {} problems not in the training set after {} draws; the options leave too few "
           "distinct problems",
           g.name(), set.problems.size(), count, max_draws);
    }
    Problem p = g.generate(seed, index);
    if (train_prompts.contains(p.prompt)) {
      set.removed.push_back({index, p.prompt, "in train"});
    } else if (!eval_prompts.insert(p.prompt).second) {
      set.removed.push_back({index, p.prompt, "duplicate in eval"});
    } else {
      set.problems.push_back(std::move(p));
    }
  }
  set.overlap = ngram_overlap(train, set.problems, ngram_n);
  return set;
}

std::string eval_path_for(const std::string& out) {
  const std::string suffix = ".jsonl";
  if (out.size() > suffix.size() && out.ends_with(suffix)) return out.substr(0, out.size() - suffix.size()) + ".eval.jsonl";
  return out + ".eval.jsonl";
}

namespace {

// Write-then-rename: a reader never sees half a file, and a failed run leaves the old one.
void write_file(const fs::path& path, std::string_view bytes) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot write", tmp.string());
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) fail("{}: write failed (disk full?)", tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) fail("{}: cannot rename to {}: {}", tmp.string(), path.string(), ec.message());
}

nlohmann::ordered_json file_entry(const Generator& g, const std::string& split, const fs::path& path, uint64_t seed,
                                  uint64_t count, const std::string& bytes) {
  nlohmann::ordered_json e;
  e["file"] = path.filename().string();
  e["split"] = split;
  e["generator"] = std::string(g.name());
  e["version"] = g.version();
  e["seed"] = seed;
  e["options"] = g.options();
  e["count"] = count;
  e["license"] = kDataLicense;
  e["bytes"] = bytes.size();
  e["sha256"] = sha256_hex(bytes);
  return e;
}

// Whether training problem `index` of split `seed` is written without its solution: the manifest's
// "direct_rule", Rng::for_problem("worked_fraction", 1, seed, index).below(2^20) >= fraction * 2^20.
bool direct_answer(uint64_t seed, uint64_t index, double worked_fraction) {
  constexpr uint64_t kScale = uint64_t(1) << 20;
  return Rng::for_problem("worked_fraction", 1, seed, index).below(kScale) >= uint64_t(worked_fraction * double(kScale));
}

}  // namespace

nlohmann::ordered_json write_dataset(const DataRequest& r) {
  const std::unique_ptr<Generator> g = make_generator(r.task, r.options);
  if (r.count == 0) fail("data: --count must be at least 1");
  if (!(r.worked_fraction >= 0.0 && r.worked_fraction <= 1.0)) {
    fail("data: worked_fraction {} is not in [0, 1]", r.worked_fraction);
  }
  if (r.eval_count > 0 && r.eval_seed == r.seed) {
    fail("data: --eval-seed {} equals --seed: a held-out set must be drawn with a different seed", r.eval_seed);
  }
  const fs::path train_path(r.out);
  const fs::path dir = train_path.has_parent_path() ? train_path.parent_path() : fs::path(".");
  if (!fs::is_directory(dir)) fail("{}: no such directory", dir.string());

  // Everything is generated before anything is written: a failure (too few distinct eval problems)
  // leaves the directory as it was.
  std::vector<nlohmann::ordered_json> entries;
  std::vector<Problem> train = generate_split(*g, r.seed, r.count);
  EvalSet eval;
  if (r.eval_count > 0) eval = draw_eval_set(*g, train, r.eval_seed, r.eval_count, r.ngram_n);
  uint64_t direct = 0;
  for (Problem& p : train) {
    if (direct_answer(r.seed, p.index, r.worked_fraction)) {
      p.solution.clear();
      ++direct;
    }
  }
  const std::string train_bytes = to_jsonl(train);
  write_file(train_path, train_bytes);
  entries.push_back(file_entry(*g, "train", train_path, r.seed, r.count, train_bytes));
  if (r.worked_fraction < 1.0) {  // absent at 1: files and manifests from before the option are unchanged
    entries.back()["worked_fraction"] = r.worked_fraction;
    entries.back()["direct_answers"] = direct;
    entries.back()["direct_rule"] = "solution emptied where Rng::for_problem(\"worked_fraction\", 1, seed, index)"
                                    ".below(2^20) >= worked_fraction * 2^20";
  }

  if (r.eval_count > 0) {
    const fs::path eval_path(eval_path_for(r.out));
    const std::string eval_bytes = to_jsonl(eval.problems);
    write_file(eval_path, eval_bytes);
    nlohmann::ordered_json e = file_entry(*g, "eval", eval_path, r.eval_seed, r.eval_count, eval_bytes);
    nlohmann::ordered_json d;
    d["against"] = train_path.filename().string();
    d["rule"] = "drop an eval problem whose prompt occurs in the training file or earlier in the eval file; "
                "draw indices 0, 1, 2, ... until count are kept";
    d["indices_drawn"] = eval.problems.empty() ? 0 : eval.problems.back().index + 1;
    nlohmann::ordered_json removed = nlohmann::ordered_json::array();
    for (const EvalSet::Removed& x : eval.removed) {
      removed.push_back({{"index", x.index}, {"prompt", x.prompt}, {"reason", x.reason}});
    }
    d["removed"] = removed;
    d["ngram_overlap"] = {{"n", eval.overlap.n},
                          {"tokens", "prompt + ' ' + solution, split on whitespace; n-grams within one problem"},
                          {"eval_ngrams", eval.overlap.eval_ngrams},
                          {"in_train", eval.overlap.in_train},
                          {"fraction", eval.overlap.fraction}};
    e["decontamination"] = d;
    entries.push_back(e);
  }

  // Keep what other runs wrote to this directory's manifest; replace only our files' entries.
  const fs::path manifest_path = dir / "manifest.json";
  nlohmann::ordered_json manifest = {{"format", "r1.cpp data manifest 1"}, {"files", nlohmann::ordered_json::array()}};
  if (fs::exists(manifest_path)) {
    std::ifstream in(manifest_path);
    nlohmann::ordered_json old = nlohmann::ordered_json::parse(in, nullptr, false);
    if (old.is_discarded() || !old.is_object() || !old.contains("files") || !old["files"].is_array()) {
      fail("{}: exists but is not an r1 data manifest; not overwriting it", manifest_path.string());
    }
    for (const auto& entry : old["files"]) {
      // Ours: the same file name, or an eval set decontaminated against the training file just rewritten.
      bool ours = entry.contains("decontamination") && entry["decontamination"].is_object() &&
                  entry["decontamination"].value("against", "") == train_path.filename().string();
      for (const auto& e : entries) ours = ours || (entry.contains("file") && entry["file"] == e["file"]);
      if (!ours) manifest["files"].push_back(entry);
    }
  }
  for (auto& e : entries) manifest["files"].push_back(e);
  write_file(manifest_path, manifest.dump(2) + "\n");
  return manifest;
}

}  // namespace r1::train
