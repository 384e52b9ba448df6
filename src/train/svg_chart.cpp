#include "train/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace r1::train {

namespace {

// Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito, less yellow).
constexpr const char* kPalette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#56b4e9", "#e69f00", "#000000",
                                    "#999999"};
constexpr int kPaletteSize = int(std::size(kPalette));

constexpr double kWidth = 640, kHeight = 260;
constexpr double kLeft = 64, kRight = 16, kTop = 12, kBottom = 40;

struct Axis {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
};

// Round tick steps (1, 2, 5 x 10^k) about `target` ticks; the axis is widened to whole steps so the
// curve never touches the frame ambiguously.
Axis nice_axis(double lo, double hi, int target, bool integer) {
  if (!(hi > lo)) {  // one value (or none): a band around it
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  double raw = (hi - lo) / target;
  if (!std::isfinite(raw) || raw <= 0) lo = 0, hi = 1, raw = 1.0 / target;  // values near the double limit
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  if (integer) step = std::max(step, 1.0);  // no "step 2.5"
  Axis a;
  a.lo = std::floor(lo / step) * step;
  a.hi = std::ceil(hi / step) * step;
  for (int i = 0; i <= 4 * target; ++i) {
    double v = a.lo + i * step;  // from the index, not by accumulation: no drift in the labels
    if (v > a.hi + step * 1e-9) break;
    if (std::abs(v) < step * 1e-9) v = 0;
    a.ticks.push_back(v);
  }
  return a;
}

size_t color_index(const Series& s, size_t index) { return s.color >= 0 ? size_t(s.color) : index; }

std::string color_of(const Series& s, size_t index) { return kPalette[color_index(s, index) % kPaletteSize]; }

// Past the palette, series repeat colours with a dash pattern, so 9+ runs stay tellable apart.
bool dashed_of(const Series& s, size_t index) { return s.dashed || (color_index(s, index) / kPaletteSize) % 2 == 1; }

}  // namespace

std::string format_number(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
  if (v == 0) return "0";
  return fmt::format("{:.4g}", v);
}

std::string svg_line_chart(const LineChart& chart) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series& s : chart.series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // nothing finite: draw empty axes
  const Axis ax = nice_axis(x0, x1, 6, chart.integer_x), ay = nice_axis(y0, y1, 5, false);
  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - ax.lo) / (ax.hi - ax.lo) * pw; };
  auto py = [&](double y) { return kTop + ph - (y - ay.lo) / (ay.hi - ay.lo) * ph; };

  std::string out = "<div class=\"chart\">\n";
  out += fmt::format("<svg id=\"{}\" class=\"line-chart\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\">\n",
                     html_escape(chart.id), kWidth, kHeight, kWidth, kHeight);
  for (const double t : ay.ticks) {
    out += fmt::format("<line class=\"grid\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>", kLeft, py(t),
                       kLeft + pw, py(t));
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", kLeft - 6, py(t) + 4,
                       format_number(t));
  }
  for (const double t : ax.ticks) {
    out += fmt::format("<line class=\"tick\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>", px(t),
                       kTop + ph, kTop + ph + 4);
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", px(t), kTop + ph + 16,
                       format_number(t));
  }
  out += fmt::format("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n", kLeft, kTop, pw, ph);
  out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", kLeft + pw / 2,
                     kHeight - 6, html_escape(chart.x_label));
  for (size_t k = 0; k < chart.series.size(); ++k) {
    const Series& s = chart.series[k];
    std::string pts;
    size_t n = 0;
    double cx = 0, cy = 0;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      cx = px(s.x[i]), cy = py(s.y[i]);
      pts += fmt::format("{}{:.1f},{:.1f}", n++ ? " " : "", cx, cy);
    }
    const std::string color = color_of(s, k);
    out += fmt::format("<polyline data-series=\"{}\" points=\"{}\" stroke=\"{}\"{}><title>{}</title></polyline>\n",
                       html_escape(s.name), pts, color, dashed_of(s, k) ? " stroke-dasharray=\"6 3\"" : "",
                       html_escape(s.name));
    // A lone point draws no line: mark it.
    if (n == 1) out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", cx, cy, color);
  }
  out += "</svg>\n<div class=\"legend\">";
  for (size_t k = 0; k < chart.series.size(); ++k) {
    const Series& s = chart.series[k];
    out += fmt::format(
        "<span><svg width=\"22\" height=\"10\"><line x1=\"1\" y1=\"5\" x2=\"21\" y2=\"5\" stroke=\"{}\" "
        "stroke-width=\"2\"{}/></svg>{}</span>",
        color_of(s, k), dashed_of(s, k) ? " stroke-dasharray=\"6 3\"" : "", html_escape(s.name));
  }
  out += "</div>\n</div>\n";
  return out;
}

std::string svg_bar_rows(const std::string& id, const std::vector<BarRow>& rows, double reference) {
  constexpr double label_w = 70, row_h = 56, bar_area = 44, width = 640;
  double top = reference;
  for (const BarRow& r : rows) {
    for (const double v : r.values) top = std::max(top, std::isfinite(v) ? v : 0.0);
  }
  if (!(top > 0)) top = 1;
  const double height = row_h * double(rows.size()) + 8;
  std::string out = fmt::format("<svg id=\"{}\" class=\"bar-rows\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\">\n",
                                html_escape(id), width, height, width, height);
  for (size_t r = 0; r < rows.size(); ++r) {
    const BarRow& row = rows[r];
    const double base = 4 + row_h * double(r) + bar_area;  // the row's baseline
    out += fmt::format("<text x=\"4\" y=\"{:.1f}\">{}</text>\n", base - bar_area / 2, html_escape(row.label));
    const double slot = (width - label_w - 8) / double(std::max<size_t>(1, row.values.size()));
    for (size_t e = 0; e < row.values.size(); ++e) {
      const double v = std::isfinite(row.values[e]) ? row.values[e] : 0.0;
      const double h = v / top * bar_area;
      out += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{} expert {}: "
          "{:.1f}%</title></rect>\n",
          label_w + slot * double(e), base - h, std::max(1.0, slot * 0.8), h, kPalette[0], html_escape(row.label), e,
          v * 100);
    }
    if (reference > 0) {
      const double y = base - reference / top * bar_area;
      out += fmt::format("<line class=\"ref\" x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\"/>\n", label_w, y,
                         width - 8, y);
    }
    out += fmt::format("<line class=\"tick\" x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\"/>\n", label_w, base,
                       width - 8, base);
  }
  out += "</svg>\n";
  return out;
}

}  // namespace r1::train
