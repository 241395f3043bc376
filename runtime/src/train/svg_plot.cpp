//===- svg_plot.cpp - A dependency-free SVG loss-curve writer -------------===//

#include "gecko/runtime/training.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace gecko {

namespace {

std::string fmt(const char *format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

std::string escapeXml(const std::string &s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

/// "Nice" tick positions covering [lo, hi]: steps of 1, 2 or 5 x 10^k.
std::vector<double> niceTicks(double lo, double hi, int target) {
  std::vector<double> ticks;
  double span = hi - lo;
  if (!(span > 0) || !std::isfinite(span))
    return {lo};
  double raw = span / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::string tickLabel(double v) {
  double a = std::fabs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3))
    return fmt("%.1e", v);
  return fmt("%g", v);
}

} // namespace

std::string lossCurveSvg(const std::vector<std::pair<double, double>> &points,
                         const std::string &title) {
  const double width = 720, height = 420;
  const double left = 70, right = 20, top = 40, bottom = 50;
  const double plotW = width - left - right, plotH = height - top - bottom;

  std::vector<std::pair<double, double>> pts;
  for (const auto &p : points)
    if (std::isfinite(p.first) && std::isfinite(p.second))
      pts.push_back(p);
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (!pts.empty()) {
    x0 = x1 = pts[0].first;
    y0 = y1 = pts[0].second;
    for (const auto &p : pts) {
      x0 = std::min(x0, p.first);
      x1 = std::max(x1, p.first);
      y0 = std::min(y0, p.second);
      y1 = std::max(y1, p.second);
    }
  }
  if (x1 <= x0)
    x1 = x0 + 1;
  if (y1 <= y0) {
    double pad = std::max(std::fabs(y0) * 0.05, 1e-3);
    y0 -= pad;
    y1 += pad;
  } else {
    double pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
  }
  auto sx = [&](double x) { return left + (x - x0) / (x1 - x0) * plotW; };
  auto sy = [&](double y) { return top + (1 - (y - y0) / (y1 - y0)) * plotH; };

  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%g", width) +
       "\" height=\"" + fmt("%g", height) + "\" viewBox=\"0 0 " +
       fmt("%g", width) + " " + fmt("%g", height) +
       "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + fmt("%g", left + plotW / 2) +
       "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" +
       escapeXml(title) + "</text>\n";
  // Grid, ticks and tick labels.
  for (double t : niceTicks(x0, x1, 8)) {
    std::string x = fmt("%.2f", sx(t));
    s += "<line x1=\"" + x + "\" y1=\"" + fmt("%.2f", top) + "\" x2=\"" + x +
         "\" y2=\"" + fmt("%.2f", top + plotH) + "\" stroke=\"#e5e5e5\"/>\n";
    s += "<line x1=\"" + x + "\" y1=\"" + fmt("%.2f", top + plotH) +
         "\" x2=\"" + x + "\" y2=\"" + fmt("%.2f", top + plotH + 5) +
         "\" stroke=\"black\"/>\n";
    s += "<text x=\"" + x + "\" y=\"" + fmt("%.2f", top + plotH + 18) +
         "\" text-anchor=\"middle\">" + tickLabel(t) + "</text>\n";
  }
  for (double t : niceTicks(y0, y1, 6)) {
    std::string y = fmt("%.2f", sy(t));
    s += "<line x1=\"" + fmt("%.2f", left) + "\" y1=\"" + y + "\" x2=\"" +
         fmt("%.2f", left + plotW) + "\" y2=\"" + y +
         "\" stroke=\"#e5e5e5\"/>\n";
    s += "<line x1=\"" + fmt("%.2f", left - 5) + "\" y1=\"" + y + "\" x2=\"" +
         fmt("%.2f", left) + "\" y2=\"" + y + "\" stroke=\"black\"/>\n";
    s += "<text x=\"" + fmt("%.2f", left - 8) + "\" y=\"" + y +
         "\" text-anchor=\"end\" dominant-baseline=\"middle\">" + tickLabel(t) +
         "</text>\n";
  }
  // Axes and labels.
  s += "<rect x=\"" + fmt("%.2f", left) + "\" y=\"" + fmt("%.2f", top) +
       "\" width=\"" + fmt("%.2f", plotW) + "\" height=\"" +
       fmt("%.2f", plotH) + "\" fill=\"none\" stroke=\"black\"/>\n";
  s += "<text x=\"" + fmt("%.2f", left + plotW / 2) + "\" y=\"" +
       fmt("%.2f", height - 10) + "\" text-anchor=\"middle\">step</text>\n";
  s += "<text x=\"16\" y=\"" + fmt("%.2f", top + plotH / 2) +
       "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
       fmt("%.2f", top + plotH / 2) + ")\">loss</text>\n";
  auto polyline = [&](const std::vector<std::pair<double, double>> &line,
                      const char *color, double strokeWidth, const char *cls) {
    std::string p =
        "<polyline class=\"" + std::string(cls) + "\" fill=\"none\" stroke=\"" +
        color + "\" stroke-width=\"" + fmt("%g", strokeWidth) + "\" points=\"";
    for (size_t i = 0; i < line.size(); ++i)
      p += (i ? " " : "") + fmt("%.2f", sx(line[i].first)) + "," +
           fmt("%.2f", sy(line[i].second));
    return p + "\"/>\n";
  };
  if (!pts.empty()) {
    // Smoothed: an exponential moving average, debiased like TensorBoard's.
    double alpha = pts.size() > 20 ? 0.9 : 0.6, ema = 0, weight = 0;
    std::vector<std::pair<double, double>> smooth;
    for (const auto &p : pts) {
      ema = alpha * ema + (1 - alpha) * p.second;
      weight = alpha * weight + (1 - alpha);
      smooth.emplace_back(p.first, ema / weight);
    }
    s += polyline(pts, "#9ecae1", 1, "loss");
    s += polyline(smooth, "#08519c", 2, "smoothed");
    // Legend.
    double lx = left + plotW - 130, ly = top + 12;
    s += "<line x1=\"" + fmt("%.2f", lx) + "\" y1=\"" + fmt("%.2f", ly) +
         "\" x2=\"" + fmt("%.2f", lx + 20) + "\" y2=\"" + fmt("%.2f", ly) +
         "\" stroke=\"#9ecae1\"/>\n";
    s += "<text x=\"" + fmt("%.2f", lx + 26) + "\" y=\"" + fmt("%.2f", ly) +
         "\" dominant-baseline=\"middle\">loss</text>\n";
    s += "<line x1=\"" + fmt("%.2f", lx) + "\" y1=\"" + fmt("%.2f", ly + 16) +
         "\" x2=\"" + fmt("%.2f", lx + 20) + "\" y2=\"" + fmt("%.2f", ly + 16) +
         "\" stroke=\"#08519c\" stroke-width=\"2\"/>\n";
    s += "<text x=\"" + fmt("%.2f", lx + 26) + "\" y=\"" +
         fmt("%.2f", ly + 16) + "\" dominant-baseline=\"middle\">smoothed " +
         "(EMA)</text>\n";
  }
  s += "</svg>\n";
  return s;
}

} // namespace gecko
