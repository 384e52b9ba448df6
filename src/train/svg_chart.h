// Inline SVG charts for `r1 report`. Drawn here rather than by a plotting script so the report is one
// HTML file that needs no JavaScript, no network and no tool besides r1 to open or to make.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/html_escape.h"

namespace r1::train {

struct Series {
  std::string name;       // legend text (plain; escaped when drawn)
  std::vector<double> x;  // same length as y; non-finite points are left out
  std::vector<double> y;
  int color = -1;         // palette index (a run keeps its colour in every chart); -1: its position
  bool dashed = false;
};

struct LineChart {
  std::string id;  // the <svg id>, so tests and readers can find a chart
  std::string x_label = "step";
  std::vector<Series> series;
  bool integer_x = true;  // x ticks at whole numbers (steps)
};

// A line chart with axes, tick labels, grid and a legend (an HTML block: <div class="chart">...).
std::string svg_line_chart(const LineChart& chart);

// Horizontal rows of bars (one row per label, e.g. per MoE block, one bar per expert), with a dashed
// reference line at `reference` (e.g. the uniform share 1/E). Values are shares in [0, 1].
struct BarRow {
  std::string label;
  std::vector<double> values;
};
std::string svg_bar_rows(const std::string& id, const std::vector<BarRow>& rows, double reference);

// &, <, >, " and ' as entities (core/html_escape.h): every string that comes from a file goes through it.
using r1::html_escape;

// A number as a short label: 4 significant digits, no exponent where a plain form is short.
std::string format_number(double v);

}  // namespace r1::train
