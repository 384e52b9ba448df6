#include "train/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "train/svg_chart.h"

namespace r1::train {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;  // ordered: run.json is shown in the order it was written

namespace {

// Past this many points a curve is thinned by striding: a 100k-step run stays a file of a few MB.
constexpr size_t kMaxPoints = 4000;
constexpr size_t kRolloutsShown = 6;
constexpr size_t kRolloutChars = 4000;

struct Run {
  std::string dir, label;  // label: directory name and stage, the legend text
  ojson info;              // run.json
  std::vector<ojson> metrics, evals, manifest, rollouts;
  std::vector<std::pair<std::string, ojson>> eval_files;  // eval/*.json, by file name
  long rollout_step = -1;
};

std::vector<ojson> read_jsonl(const fs::path& path) {
  std::vector<ojson> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    // A run still writing may end in a partial line: skip what does not parse rather than lose the report.
    ojson j = ojson::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

ojson read_json(const fs::path& path) {
  std::ifstream in(path);
  return in ? ojson::parse(in, nullptr, false) : ojson();
}

std::string dump(const ojson& j, int indent = -1) {
  return j.dump(indent, ' ', false, ojson::error_handler_t::replace);
}

std::optional<double> number(const ojson& o, const std::string& key) {
  if (!o.is_object()) return std::nullopt;
  const auto it = o.find(key);
  if (it == o.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::optional<double> last_number(const std::vector<ojson>& rows, const std::string& key) {
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (auto v = number(*it, key)) return v;
  }
  return std::nullopt;
}

const ojson* member(const ojson& o, const std::string& key) {
  if (!o.is_object()) return nullptr;
  const auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

// A table cell's content: strings escaped, integers exact, reals short, structures as compact JSON.
std::string cell(const ojson* v) {
  if (!v || v->is_null()) return "&ndash;";
  if (v->is_string()) return html_escape(v->get<std::string>());
  if (v->is_number_float()) return format_number(v->get<double>());
  return html_escape(dump(*v));
}
std::string cell(std::optional<double> v) { return v ? format_number(*v) : "&ndash;"; }

// A long hash as its first 12 digits, the whole in a tooltip.
std::string short_hash(const ojson* v) {
  if (!v || !v->is_string()) return cell(v);
  const std::string s = v->get<std::string>();
  if (s.size() <= 16) return html_escape(s);
  const bool dirty = s.size() > 6 && s.ends_with("-dirty");
  return fmt::format("<span title=\"{}\">{}{}</span>", html_escape(s), html_escape(s.substr(0, 12)),
                     dirty ? "-dirty" : "");
}

std::string duration(std::optional<double> s) {
  if (!s) return "&ndash;";
  if (*s < 120) return fmt::format("{:.1f} s", *s);
  if (*s < 7200) return fmt::format("{:.1f} min", *s / 60);
  return fmt::format("{:.2f} h", *s / 3600);
}

// At most n bytes, cut at a UTF-8 character boundary.
std::string clip(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + " [...]";
}

Run load_run(const std::string& dir) {
  const fs::path root(dir);
  Run r;
  r.dir = dir;
  const std::string info_path = (root / "run.json").string();
  if (!std::ifstream(info_path)) fail("{}: cannot read (not a run directory of r1 train?)", info_path);
  r.info = read_json(info_path);
  if (!r.info.is_object()) fail("{}: expected a JSON object", info_path);
  fs::path name = fs::absolute(root).lexically_normal();
  if (!name.has_filename()) name = name.parent_path();  // "runs/a/" names a
  const ojson* stage = member(r.info, "stage");
  r.label = name.filename().string() + (stage && stage->is_string() ? " (" + stage->get<std::string>() + ")" : "");
  r.metrics = read_jsonl(root / "metrics.jsonl");
  r.evals = read_jsonl(root / "eval.jsonl");
  r.manifest = read_jsonl(root / "data" / "manifest.jsonl");
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root / "eval", ec)) {
    if (e.path().extension() != ".json") continue;
    ojson j = read_json(e.path());
    if (j.is_object()) r.eval_files.emplace_back(e.path().filename().string(), std::move(j));
  }
  std::sort(r.eval_files.begin(), r.eval_files.end(), [](auto& a, auto& b) { return a.first < b.first; });
  // GRPO samples: only the last step's file is shown (step-N.jsonl, largest N).
  fs::path last;
  for (const auto& e : fs::directory_iterator(root / "rollouts", ec)) {
    const std::string f = e.path().filename().string();
    long step = 0;
    if (!f.starts_with("step-") || !f.ends_with(".jsonl")) continue;
    const auto [p, err] = std::from_chars(f.data() + 5, f.data() + f.size() - 6, step);
    if (err != std::errc() || p != f.data() + f.size() - 6 || step <= r.rollout_step) continue;
    r.rollout_step = step;
    last = e.path();
  }
  if (!last.empty()) r.rollouts = read_jsonl(last);
  return r;
}

// The values of `key` over `rows`; x is the row's step, else its position (1-based).
Series series_of(const std::vector<ojson>& rows, const std::string& key, const std::string& name) {
  Series s;
  s.name = name;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto y = number(rows[i], key);
    if (!y) continue;
    s.x.push_back(number(rows[i], "step").value_or(double(i + 1)));
    s.y.push_back(*y);
  }
  if (s.x.size() > kMaxPoints) {
    const size_t stride = (s.x.size() + kMaxPoints - 1) / kMaxPoints;
    Series t{s.name, {}, {}};
    for (size_t i = 0; i < s.x.size(); i += stride) t.x.push_back(s.x[i]), t.y.push_back(s.y[i]);
    if (t.x.back() != s.x.back()) t.x.push_back(s.x.back()), t.y.push_back(s.y.back());  // keep the final value
    s = std::move(t);
  }
  return s;
}

std::string figure(const std::string& title, const LineChart& chart) {
  return fmt::format("<figure><figcaption>{}</figcaption>\n{}</figure>\n", html_escape(title), svg_line_chart(chart));
}

struct Spec {
  const char* id;
  const char* title;
  std::vector<std::string> keys;  // the first a run has is plotted for it
  bool from_eval = false;         // eval.jsonl rather than metrics.jsonl
};

const std::vector<Spec>& chart_specs() {
  static const std::vector<Spec> specs = {
      {"chart-loss", "Training loss (main next-token loss; the total where a run records no main_loss)",
       {"main_loss", "loss"}},
      {"chart-eval-loss", "Held-out loss (eval.jsonl)", {"eval_loss"}, true},
      {"chart-eval-accuracy", "Held-out accuracy (eval.jsonl)", {"accuracy"}, true},
      {"chart-reward", "Reward, mean over sampled completions", {"reward_mean"}},
      {"chart-accuracy", "Accuracy of sampled completions", {"accuracy"}},
      {"chart-response-length", "Response length, mean", {"response_len_mean"}},
      {"chart-entropy", "Policy entropy", {"entropy"}},
      {"chart-kl", "KL divergence to the reference policy", {"kl"}},
      {"chart-zero-adv", "Fraction of groups with zero advantage (all rewards equal: no signal)", {"zero_adv_frac"}},
      {"chart-lr", "Learning rate", {"lr"}},
      {"chart-grad-norm", "Gradient norm", {"grad_norm"}},
      {"chart-tokens-per-s", "Throughput, tokens/s", {"tokens_per_s"}},
  };
  return specs;
}

std::string charts_section(const std::vector<Run>& runs) {
  std::string out;
  std::vector<std::set<std::string>> plotted(runs.size());  // metrics.jsonl keys already drawn, per run
  for (const Spec& spec : chart_specs()) {
    LineChart chart{spec.id, "step", {}};
    for (size_t r = 0; r < runs.size(); ++r) {
      const std::vector<ojson>& rows = spec.from_eval ? runs[r].evals : runs[r].metrics;
      for (const std::string& key : spec.keys) {
        Series s = series_of(rows, key, runs[r].label);
        if (s.x.empty()) continue;
        s.color = int(r);
        if (!spec.from_eval) plotted[r].insert(key);
        chart.series.push_back(std::move(s));
        break;
      }
    }
    if (!chart.series.empty()) out += figure(spec.title, chart);
  }
  // Router selection bias (auxiliary-loss-free balancing): its spread per MoE block over the steps.
  LineChart bias{"chart-router-bias", "step", {}};
  int group = 0;
  for (const Run& run : runs) {
    size_t blocks = 0;
    for (const ojson& m : run.metrics) {
      if (const ojson* b = member(m, "router_bias_range"); b && b->is_array()) blocks = std::max(blocks, b->size());
    }
    for (size_t b = 0; b < blocks; ++b, ++group) {
      for (const int side : {1, 0}) {
        Series s;
        s.name = fmt::format("{} block {} {}", run.label, b, side ? "max" : "min");
        s.color = group;
        s.dashed = side == 0;
        for (size_t i = 0; i < run.metrics.size(); ++i) {
          const ojson* range = member(run.metrics[i], "router_bias_range");
          if (!range || !range->is_array() || b >= range->size()) continue;
          const ojson& lohi = (*range)[b];
          if (!lohi.is_array() || lohi.size() != 2 || !lohi[side].is_number()) continue;
          s.x.push_back(number(run.metrics[i], "step").value_or(double(i + 1)));
          s.y.push_back(lohi[side].get<double>());
        }
        if (!s.x.empty()) bias.series.push_back(std::move(s));
      }
    }
  }
  if (!bias.series.empty()) out += figure("Router selection bias per MoE block: max (solid) and min (dashed)", bias);
  // Every other numeric field (new metrics, loss components): one chart each, in first-seen order.
  static const std::set<std::string> skip = {"step", "tokens", "wall_s"};
  std::vector<std::string> keys;
  for (size_t r = 0; r < runs.size(); ++r) {
    for (const ojson& m : runs[r].metrics) {
      for (const auto& [k, v] : m.items()) {
        if (v.is_number() && !skip.contains(k) && !plotted[r].contains(k) &&
            std::find(keys.begin(), keys.end(), k) == keys.end()) {
          keys.push_back(k);
        }
      }
    }
  }
  for (const std::string& key : keys) {
    LineChart chart{"chart-metric-" + key, "step", {}};
    for (size_t r = 0; r < runs.size(); ++r) {
      if (plotted[r].contains(key)) continue;
      Series s = series_of(runs[r].metrics, key, runs[r].label);
      s.color = int(r);
      if (!s.x.empty()) chart.series.push_back(std::move(s));
    }
    if (!chart.series.empty()) out += figure(key, chart);
  }
  return out.empty() ? "" : "<h2>Training curves</h2>\n<div class=\"charts\">\n" + out + "</div>\n";
}

std::string summary_section(const std::vector<Run>& runs) {
  std::string out =
      "<h2>Summary</h2>\n<table>\n<tr><th>run</th><th>stage</th><th>steps</th><th>parameters</th><th>final loss</th>"
      "<th>final eval loss</th><th>final accuracy</th><th>tokens/s (median)</th><th>wall time</th><th>CPU-hours</th>"
      "<th>git commit</th><th>machine</th><th>threads</th></tr>\n";
  for (const Run& r : runs) {
    std::optional<double> steps = last_number(r.metrics, "step");
    if (!steps && !r.metrics.empty()) steps = double(r.metrics.size());
    auto loss = last_number(r.metrics, "main_loss");
    if (!loss) loss = last_number(r.metrics, "loss");
    auto accuracy = last_number(r.evals, "accuracy");  // held out first; the training samples' otherwise
    if (!accuracy) accuracy = last_number(r.metrics, "accuracy");
    std::vector<double> tps;
    for (const ojson& m : r.metrics) {
      if (auto v = number(m, "tokens_per_s")) tps.push_back(*v);
    }
    std::optional<double> median;
    if (!tps.empty()) {
      std::nth_element(tps.begin(), tps.begin() + long(tps.size() / 2), tps.end());
      median = tps[tps.size() / 2];
    }
    const ojson timing = r.info.value("timing", ojson::object());
    auto wall = number(timing, "wall_s");
    if (!wall) wall = last_number(r.metrics, "wall_s");
    auto cpu_hours = number(timing, "cpu_hours");
    if (!cpu_hours) {
      if (auto cpu_s = number(timing, "cpu_s")) cpu_hours = *cpu_s / 3600;
    }
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
        "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
        "<td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>\n",
        html_escape(r.label), cell(member(r.info, "stage")), cell(steps), cell(member(r.info, "parameters")),
        cell(loss), cell(last_number(r.evals, "eval_loss")), cell(accuracy), cell(median), duration(wall),
        cpu_hours ? fmt::format("{:.3g}", *cpu_hours) : "&ndash;", short_hash(member(r.info, "git_commit")),
        cell(member(r.info, "machine")), cell(member(r.info, "threads")));
  }
  return out + "</table>\n";
}

// "arithmetic 0.5 (n=10), linear ..." from a by_task object.
std::string by_task(const ojson* tasks) {
  if (!tasks || !tasks->is_object()) return cell(tasks);
  std::string out;
  for (const auto& [task, v] : tasks->items()) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", html_escape(task), cell(number(v, "accuracy")));
    if (auto n = number(v, "n")) out += fmt::format(" (n={})", format_number(*n));
  }
  return out;
}

std::string eval_section(const std::vector<Run>& runs) {
  std::string rows, files;
  for (const Run& r : runs) {
    for (auto it = r.evals.rbegin(); it != r.evals.rend(); ++it) {  // the last evaluation that has tasks
      const ojson* tasks = member(*it, "by_task");
      if (!tasks || !tasks->is_object()) continue;
      rows += fmt::format("<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
                          html_escape(r.label), cell(member(*it, "step")), cell(number(*it, "accuracy")),
                          cell(number(*it, "format_rate")), by_task(tasks));
      break;
    }
    for (const auto& [name, e] : r.eval_files) {
      files += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
          "<td class=\"n\">{}</td><td>{}</td></tr>\n",
          html_escape(r.label), html_escape(name), cell(member(e, "checkpoint")), cell(number(e, "accuracy")),
          cell(number(e, "format_rate")), cell(member(e, "samples")), cell(number(e, "temperature")),
          by_task(member(e, "by_task")));
    }
  }
  std::string out;
  if (!rows.empty()) {
    out += "<h3>Last evaluation during training (eval.jsonl)</h3>\n<table>\n<tr><th>run</th><th>step</th>"
           "<th>accuracy</th><th>format rate</th><th>by task: accuracy (n)</th></tr>\n" + rows + "</table>\n";
  }
  if (!files.empty()) {
    out += "<h3>r1 eval results (eval/*.json)</h3>\n<table>\n<tr><th>run</th><th>file</th><th>checkpoint</th>"
           "<th>accuracy</th><th>format rate</th><th>samples</th><th>temperature</th><th>by task: accuracy (n)</th></tr>\n" +
           files + "</table>\n";
  }
  return out.empty() ? "" : "<h2>Evaluation</h2>\n" + out;
}

// Each expert's share of the routed tokens at the last step, per MoE block: collapse shows as a few
// tall bars against the dashed uniform share.
std::string expert_section(const std::vector<Run>& runs) {
  std::string out;
  for (size_t r = 0; r < runs.size(); ++r) {
    const ojson* load = nullptr;
    double step = 0;
    for (size_t i = runs[r].metrics.size(); i-- > 0;) {
      load = member(runs[r].metrics[i], "expert_load");
      if (load && load->is_array() && !load->empty()) {
        step = number(runs[r].metrics[i], "step").value_or(double(i + 1));
        break;
      }
      load = nullptr;
    }
    if (!load) continue;
    std::vector<BarRow> rows;
    std::string table;
    size_t experts = 0;
    for (size_t b = 0; b < load->size(); ++b) {
      const ojson& counts = (*load)[b];
      if (!counts.is_array() || counts.empty()) continue;
      double total = 0;
      for (const ojson& c : counts) total += c.is_number() ? c.get<double>() : 0.0;
      BarRow row{fmt::format("block {}", b), {}};
      for (const ojson& c : counts) row.values.push_back(total > 0 && c.is_number() ? c.get<double>() / total : 0.0);
      experts = std::max(experts, counts.size());
      const auto [lo, hi] = std::minmax_element(row.values.begin(), row.values.end());
      table += fmt::format("<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1f}%</td><td class=\"n\">{:.1f}%</td>"
                           "<td class=\"n\">{:.2f}</td></tr>\n",
                           b, counts.size(), *lo * 100, *hi * 100, *hi * double(counts.size()));
      rows.push_back(std::move(row));
    }
    if (rows.empty()) continue;
    out += fmt::format("<figure><figcaption>{}: step {}; dashed: the uniform share 1/{}</figcaption>\n{}", html_escape(runs[r].label),
                       format_number(step), experts,
                       svg_bar_rows(fmt::format("chart-expert-load-{}", r), rows, 1.0 / double(experts)));
    out += "<table>\n<tr><th>block</th><th>experts</th><th>min share</th><th>max share</th><th>max / uniform</th></tr>\n" +
           table + "</table></figure>\n";
  }
  return out.empty() ? "" : "<h2>Expert load (last step)</h2>\n<div class=\"charts\">\n" + out + "</div>\n";
}

std::string rollout_section(const std::vector<Run>& runs) {
  std::string out;
  for (const Run& r : runs) {
    if (r.rollouts.empty()) continue;
    out += fmt::format("<h3>{}: step {}, {} of {} completions</h3>\n", html_escape(r.label), r.rollout_step,
                       std::min(kRolloutsShown, r.rollouts.size()), r.rollouts.size());
    for (size_t i = 0; i < r.rollouts.size() && i < kRolloutsShown; ++i) {
      const ojson& x = r.rollouts[i];
      std::string reward;
      if (const ojson* rw = member(x, "reward"); rw && rw->is_object()) {
        for (const auto& [k, v] : rw->items()) reward += fmt::format("{}{} {}", reward.empty() ? "" : ", ", html_escape(k), cell(&v));
      } else {
        reward = cell(rw);
      }
      const ojson* prompt = member(x, "prompt");
      const ojson* completion = member(x, "completion");
      out += fmt::format("<div class=\"rollout\"><p>group {} &middot; reward: {} &middot; advantage {}</p>\n"
                         "<pre class=\"prompt\">{}</pre>\n<pre>{}</pre></div>\n",
                         cell(member(x, "group")), reward, cell(number(x, "advantage")),
                         html_escape(prompt && prompt->is_string() ? clip(prompt->get<std::string>(), kRolloutChars) : ""),
                         html_escape(completion && completion->is_string() ? clip(completion->get<std::string>(), kRolloutChars) : ""));
    }
  }
  return out.empty() ? "" : "<h2>Sampled completions (GRPO, last step)</h2>\n" + out;
}

std::string data_section(const std::vector<Run>& runs) {
  std::string out;
  for (const Run& r : runs) {
    if (r.manifest.empty()) continue;
    out += fmt::format("<h3>{}</h3>\n<table>\n<tr><th>file</th><th>split</th><th>generator</th><th>version</th>"
                       "<th>seed</th><th>count</th><th>license</th><th>sha256</th><th>options</th></tr>\n",
                       html_escape(r.label));
    for (const ojson& e : r.manifest) {
      const ojson* what = member(e, "generator");
      if (!what) what = member(e, "kind");  // the tokenizer's entry
      out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                         "<td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                         cell(member(e, "file")), cell(member(e, "split")), cell(what), cell(member(e, "version")),
                         cell(member(e, "seed")), cell(member(e, "count")), cell(member(e, "license")),
                         short_hash(member(e, "sha256")), cell(member(e, "options")));
    }
    out += "</table>\n";
  }
  return out.empty() ? "" : "<h2>Data (data/manifest.jsonl)</h2>\n" + out;
}

std::string config_section(const std::vector<Run>& runs) {
  std::string out = "<h2>Configuration (run.json)</h2>\n";
  for (const Run& r : runs) {
    out += fmt::format("<details><summary>{} &mdash; {}</summary>\n<pre>{}</pre></details>\n", html_escape(r.label),
                       html_escape(r.dir), html_escape(dump(r.info, 2)));
  }
  return out;
}

constexpr const char* kStyle = R"(
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1500px}
table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:20px}
figure{margin:0}
figcaption{font-weight:600;margin-bottom:4px;max-width:640px}
svg.line-chart,svg.bar-rows{max-width:100%;height:auto}
svg text{font:11px sans-serif;fill:#333}
.grid{stroke:#e6e6e6}
.tick{stroke:#333}
.frame{fill:none;stroke:#333}
polyline{fill:none;stroke-width:1.6}
.ref{stroke:#d55e00;stroke-dasharray:4 3}
.legend{max-width:640px}
.legend span{margin-right:14px;white-space:nowrap;display:inline-block}
.legend svg{vertical-align:middle;margin-right:4px}
pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:420px;white-space:pre-wrap;word-break:break-word}
pre.prompt{background:#eef3f8}
)";

}  // namespace

std::string render_report(const std::vector<std::string>& run_dirs) {
  std::vector<Run> runs;
  std::set<std::string> labels;
  for (const std::string& dir : run_dirs) {
    runs.push_back(load_run(dir));
    // Two runs with one name (a/run, b/run) must still be told apart in legends.
    if (!labels.insert(runs.back().label).second) runs.back().label += fmt::format(" #{}", runs.size());
  }
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  // The page may load nothing at all: a browser refuses anything a future edit might reference.
  html += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n";
  html += "<title>r1 training report</title>\n<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n";
  html += fmt::format("<h1>Training report</h1>\n<p>{} run{}: ", runs.size(), runs.size() == 1 ? "" : "s");
  for (size_t i = 0; i < runs.size(); ++i) html += (i ? ", " : "") + html_escape(runs[i].label);
  html += ". Written by <code>r1 report</code>; every chart is drawn in this file.</p>\n";
  html += summary_section(runs);
  html += charts_section(runs);
  html += eval_section(runs);
  html += expert_section(runs);
  html += rollout_section(runs);
  html += data_section(runs);
  html += config_section(runs);
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace r1::train
