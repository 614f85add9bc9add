#!/usr/bin/env python3
"""Renders deploy/grafana/braze-gateway.json to a PNG from live Prometheus data, without Grafana.

Every panel is laid out where its gridPos puts it (24 columns, 30 px rows) and drawn from Prometheus's answers
to the panel's own queries, with Grafana's variables expanded ($job and $instance to ".*", $__rate_interval to
--rate-interval, $__range to the rendered range): time series (stacked where the panel stacks), stats with their
value mappings and thresholds, bar gauges, state timelines. Firing alerts (the dashboard's ALERTS annotation)
shade the time series. It imitates Grafana's dark theme; it is not Grafana.

  python3 render.py --prometheus http://127.0.0.1:19090 --dashboard ../braze-gateway.json \
      --start 1767000000 --end 1767000420 --out dashboard.png
"""
import argparse
import json
import math
import re
import sys
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

BG = "#111217"
PANEL = "#181b1f"
BORDER = "#2c3235"
TEXT = "#d8d9da"
MUTED = "#8e8e8e"
GRID = "#2a2d32"
PALETTE = ["#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9", "#705DA0",
           "#37872D", "#FADE2A", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477"]
NAMED = {"green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "yellow": "#FADE2A", "blue": "#5794F2",
         "dark-red": "#C4162A", "dark-green": "#37872D"}

COL_PX = 80      # one of 24 grid columns
ROW_PX = 30      # one grid row
GAP_PX = 8
HEADER_PX = 70
DPI = 100


class Prometheus:
    def __init__(self, url, start, end, step):
        self.url, self.start, self.end, self.step = url.rstrip("/"), start, end, step

    def _get(self, path, params):
        q = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{q}", timeout=30) as resp:
            body = json.load(resp)
        if body.get("status") != "success":
            raise RuntimeError(f"{path}: {body}")
        return body["data"]["result"]

    def range(self, expr):
        res = self._get("/api/v1/query_range", {"query": expr, "start": self.start, "end": self.end, "step": self.step})
        return [(r["metric"], [(float(t), to_float(v)) for t, v in r["values"]]) for r in res]

    def instant(self, expr):
        res = self._get("/api/v1/query", {"query": expr, "time": self.end})
        return [(r["metric"], to_float(r["value"][1])) for r in res]


def to_float(v):
    try:
        return float(v)
    except ValueError:
        return math.nan


def expand(expr, variables):
    def repl(m):
        name = m.group(1) or m.group(2)
        if name not in variables:
            raise KeyError(f"unknown variable ${name} in {expr}")
        return variables[name]
    return re.sub(r"\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\$([A-Za-z0-9_]+)", repl, expr)


def legend(fmt, metric, expr):
    if fmt:
        return re.sub(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt).strip()
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()))
    return "{" + labels + "}" if labels else expr[:40]


def si(v, digits=3):
    if v == 0 or math.isnan(v):
        return "0" if v == 0 else "NaN"
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.{digits}g}{suf}"
    return f"{v:.{digits}g}"


def fmt_value(v, unit, decimals=None):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if unit == "percentunit":
        return f"{v * 100:.{1 if decimals is None else decimals}f}%"
    if unit == "s":
        if v == 0:
            return "0 s"
        if abs(v) < 1e-3:
            return f"{v * 1e6:.3g} µs"
        if abs(v) < 1:
            return f"{v * 1e3:.3g} ms"
        return f"{v:.3g} s"
    if decimals is not None and abs(v) < 1000:
        s = f"{v:.{decimals}f}"
    else:
        s = si(v)
    return {"ops": s + " ops/s", "reqps": s + " req/s"}.get(unit, s)


def color_of(name):
    return NAMED.get(name, name)


def threshold_color(v, thresholds):
    color = "green"
    for st in (thresholds or {}).get("steps", []):
        if st.get("value") is None or (not math.isnan(v) and v >= st["value"]):
            color = st["color"]
    return color_of(color)


def mapped(v, mappings):
    for m in mappings or []:
        if m.get("type") == "value":
            for key, opt in m.get("options", {}).items():
                try:
                    if not math.isnan(v) and float(key) == v:
                        return opt.get("text"), opt.get("color")
                except ValueError:
                    pass
    return None, None


class Renderer:
    def __init__(self, dash, prom, variables, alerts_expr):
        self.dash, self.prom, self.vars = dash, prom, variables
        panels = flatten(dash["panels"])
        rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
        self.fw = 24 * COL_PX + GAP_PX
        self.fh = HEADER_PX + rows * ROW_PX + GAP_PX
        self.fig = plt.figure(figsize=(self.fw / DPI, self.fh / DPI), dpi=DPI, facecolor=BG)
        self.panels = panels
        self.alert_spans = self.firing_spans(alerts_expr) if alerts_expr else []

    def firing_spans(self, expr):
        spans = []
        try:
            series = self.prom.range(expand(expr, self.vars))
        except Exception as e:  # the annotation is optional
            print(f"alerts annotation: {e}", file=sys.stderr)
            return spans
        step = self.prom.step
        for metric, pts in series:
            ts = [t for t, v in pts if not math.isnan(v)]
            if not ts:
                continue
            a = b = ts[0]
            for t in ts[1:]:
                if t - b > 1.5 * step:
                    spans.append((a, b, metric.get("alertname", "")))
                    a = t
                b = t
            spans.append((a, b, metric.get("alertname", "")))
        return spans

    def frac(self, x, y, w, h):
        """Pixel box (top-left origin) to figure fractions for add_axes."""
        return [x / self.fw, 1 - (y + h) / self.fh, w / self.fw, h / self.fh]

    def box(self, gp):
        x = GAP_PX + gp["x"] * COL_PX
        y = HEADER_PX + gp["y"] * ROW_PX
        return x, y, gp["w"] * COL_PX - GAP_PX, gp["h"] * ROW_PX - GAP_PX

    def header(self):
        ax = self.fig.add_axes(self.frac(0, 0, self.fw, HEADER_PX - 8))
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.text(0.006, 0.72, self.dash.get("title", ""), color=TEXT, fontsize=17, fontweight="bold", va="center")
        start = datetime.fromtimestamp(self.prom.start, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        end = datetime.fromtimestamp(self.prom.end, timezone.utc).strftime("%H:%M:%S UTC")
        chips = ["Data source: Prometheus", "Job: All", "Instance: All", f"{start} to {end}"]
        x = 0.006
        for c in chips:
            t = ax.text(x, 0.22, c, color=TEXT, fontsize=9.5, va="center",
                        bbox={"boxstyle": "round,pad=0.35", "fc": PANEL, "ec": BORDER})
            x += 0.0058 * len(c) + 0.014
        ax.text(0.994, 0.22, "drawn from live Prometheus query results by deploy/grafana/render/render.py",
                color=MUTED, fontsize=8.5, va="center", ha="right", style="italic")
        _ = t

    def frame(self, p):
        x, y, w, h = self.box(p["gridPos"])
        ax = self.fig.add_axes(self.frac(x, y, w, h))
        ax.set_axis_off()
        ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fc=PANEL, ec=BORDER, lw=1))
        ax.text(8 / w, 1 - 15 / h, p.get("title", ""), transform=ax.transAxes, color=TEXT, fontsize=10,
                fontweight="bold", va="center", ha="left")
        return ax, (x, y, w, h)

    def row(self, p):
        x, y, w, h = self.box({**p["gridPos"], "h": 1})
        ax = self.fig.add_axes(self.frac(x, y, w, ROW_PX))
        ax.set_axis_off()
        ax.text(0, 0.45, "⌄ " + p.get("title", ""), transform=ax.transAxes, color=TEXT, fontsize=12.5,
                fontweight="bold", va="center")

    def no_data(self, frame_ax):
        frame_ax.text(0.5, 0.45, "No data", transform=frame_ax.transAxes, color=MUTED, fontsize=12,
                      ha="center", va="center")

    def query_targets(self, p, kind):
        out = []
        for tg in p.get("targets", []):
            expr = expand(tg["expr"], self.vars)
            try:
                res = self.prom.instant(expr) if kind == "instant" else self.prom.range(expr)
            except Exception as e:
                print(f"panel {p['title']!r}: {e}", file=sys.stderr)
                continue
            for metric, data in res:
                out.append((legend(tg.get("legendFormat", ""), metric, tg["expr"]), data))
        return out

    def timeseries(self, p):
        frame_ax, (x, y, w, h) = self.frame(p)
        series = self.query_targets(p, "range")
        series = [(n, pts) for n, pts in series if any(not math.isnan(v) for _, v in pts)]
        if not series:
            self.no_data(frame_ax)
            return
        d = p["fieldConfig"]["defaults"]
        unit, custom = d.get("unit", "short"), d.get("custom", {})
        stacked = custom.get("stacking", {}).get("mode") == "normal"
        n_leg = min(len(series), 12)
        cols = max(1, min(n_leg, int(w // 190)))
        leg_rows = math.ceil(n_leg / cols)
        leg_px = 8 + 15 * leg_rows
        ax = self.fig.add_axes(self.frac(x + 62, y + 30, w - 74, h - 30 - 22 - leg_px))
        ax.set_facecolor(PANEL)
        for s in ax.spines.values():
            s.set_visible(False)
        ax.tick_params(colors=MUTED, labelsize=7.5, length=0)
        ax.grid(True, color=GRID, lw=0.6)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=timezone.utc))
        ax.xaxis.set_major_locator(MaxNLocator(7))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_value(v, unit, None if unit != "short" else None)))
        t0, t1 = self.prom.start, self.prom.end
        fill = custom.get("fillOpacity", 10) / 100
        # Largest series first in the legend, like a sorted tooltip.
        series.sort(key=lambda s: -max((v for _, v in s[1] if not math.isnan(v)), default=0))
        grid = [t0 + i * self.prom.step for i in range(int((t1 - t0) // self.prom.step) + 1)]
        base = [0.0] * len(grid)
        handles = []
        for i, (name, pts) in enumerate(series):
            c = PALETTE[i % len(PALETTE)]
            vals = dict(pts)
            if stacked:
                ys = [vals.get(t, 0.0) for t in grid]
                ys = [0.0 if math.isnan(v) else v for v in ys]
                top = [b + v for b, v in zip(base, ys)]
                ts = [datetime.fromtimestamp(t, timezone.utc) for t in grid]
                ax.fill_between(ts, base, top, color=c, alpha=max(fill, 0.25), lw=0)
                (hnd,) = ax.plot(ts, top, color=c, lw=1)
                base = top
            else:
                ts = [datetime.fromtimestamp(t, timezone.utc) for t in grid]
                ys = [vals.get(t, math.nan) for t in grid]
                (hnd,) = ax.plot(ts, ys, color=c, lw=1.2)
                if fill:
                    ax.fill_between(ts, [0 if not math.isnan(v) else math.nan for v in ys], ys, color=c,
                                    alpha=fill, lw=0)
            handles.append((hnd, name))
        for a, b, _name in self.alert_spans:
            ax.axvspan(datetime.fromtimestamp(a, timezone.utc), datetime.fromtimestamp(b, timezone.utc),
                       color="#F2495C", alpha=0.07, lw=0)
        if custom.get("thresholdsStyle", {}).get("mode") == "dashed":
            for st in d.get("thresholds", {}).get("steps", []):
                if st.get("value") is not None:
                    ax.axhline(st["value"], color=color_of(st["color"]), ls="--", lw=0.8, alpha=0.8)
        ax.set_xlim(datetime.fromtimestamp(t0, timezone.utc), datetime.fromtimestamp(t1, timezone.utc))
        lo, hi = ax.get_ylim()
        if d.get("min") is not None or custom.get("axisSoftMin") is not None:
            lo = 0 if lo > 0 or lo > -1e-9 else lo
        if d.get("max") is not None:
            hi = max(hi, d["max"]) if hi > d["max"] else d["max"]
        ax.set_ylim(min(lo, 0) if lo >= -1e-9 else lo, hi if hi > lo else lo + 1)
        # Truncate names to their column, as Grafana's legend does.
        chars = max(8, int((w - 20) / cols / 5.3) - 4)
        names = [nm if len(nm) <= chars else nm[:chars - 1] + "…" for _, nm in handles[:n_leg]]
        leg = self.fig.legend([hd for hd, _ in handles[:n_leg]], names,
                              loc="upper left", bbox_to_anchor=((x + 10) / self.fw, 1 - (y + h - leg_px - 4) / self.fh),
                              ncol=cols, fontsize=7.5, frameon=False, labelcolor=TEXT, handlelength=1.2,
                              columnspacing=1.2, borderaxespad=0, handletextpad=0.4)
        for line in leg.get_lines():
            line.set_linewidth(3)

    def stat(self, p):
        frame_ax, (x, y, w, h) = self.frame(p)
        d = p["fieldConfig"]["defaults"]
        vals = self.query_targets(p, "instant")
        if not vals:
            self.no_data(frame_ax)
            return
        v = vals[0][1]
        text, color = mapped(v, d.get("mappings"))
        color = color_of(color) if color else threshold_color(v, d.get("thresholds"))
        frame_ax.add_patch(Rectangle((0, 0), 1, 1, transform=frame_ax.transAxes, fc=color, alpha=0.85, ec=BORDER))
        frame_ax.texts[0].set_color("white")
        frame_ax.texts[0].set_zorder(5)
        spark = self.query_targets(p, "range")
        if spark:
            pts = [(t, v2) for t, v2 in spark[0][1] if not math.isnan(v2)]
            if len(pts) > 1:
                sa = self.fig.add_axes(self.frac(x + 1, y + h * 0.55, w - 2, h * 0.45 - 1))
                sa.set_axis_off()
                ts, ys = zip(*pts)
                sa.fill_between(ts, 0, ys, color="white", alpha=0.18, lw=0)
                sa.plot(ts, ys, color="white", alpha=0.45, lw=1)
                sa.set_xlim(self.prom.start, self.prom.end)
                sa.set_ylim(0, max(ys) * 1.1 if max(ys) > 0 else 1)
        frame_ax.text(0.5, 0.42, text or fmt_value(v, d.get("unit", "short"), d.get("decimals")),
                      transform=frame_ax.transAxes, color="white", fontsize=22, fontweight="bold",
                      ha="center", va="center", zorder=6)

    def bargauge(self, p):
        frame_ax, (x, y, w, h) = self.frame(p)
        vals = [(n, v) for n, v in self.query_targets(p, "instant") if not math.isnan(v)]
        if not vals:
            self.no_data(frame_ax)
            return
        d = p["fieldConfig"]["defaults"]
        vals.sort(key=lambda s: -s[1])
        rows = max(1, int((h - 40) // 22))
        vals = vals[:rows]
        top = max(v for _, v in vals) or 1
        ax = self.fig.add_axes(self.frac(x + 10, y + 30, w - 20, min(h - 40, 22 * len(vals) + 4)))
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(len(vals), 0)
        for i, (name, v) in enumerate(vals):
            c = threshold_color(v, d.get("thresholds"))
            ax.text(0, i + 0.5, name, color=TEXT, fontsize=8, va="center", ha="left")
            ax.add_patch(Rectangle((0.45, i + 0.15), 0.45, 0.7, fc="#22252b", ec="none"))
            ax.add_patch(Rectangle((0.45, i + 0.15), 0.45 * v / top, 0.7, fc=c, ec="none", alpha=0.9))
            ax.text(0.995, i + 0.5, fmt_value(v, d.get("unit", "short"), 0), color=c, fontsize=8.5,
                    va="center", ha="right", fontweight="bold")

    def state_timeline(self, p):
        frame_ax, (x, y, w, h) = self.frame(p)
        series = self.query_targets(p, "range")
        if not series:
            self.no_data(frame_ax)
            return
        d = p["fieldConfig"]["defaults"]
        ax = self.fig.add_axes(self.frac(x + 120, y + 34, w - 132, h - 34 - 40))
        ax.set_facecolor(PANEL)
        ax.set_xlim(self.prom.start, self.prom.end)
        ax.set_ylim(len(series), 0)
        for s in ax.spines.values():
            s.set_visible(False)
        ax.set_yticks([])
        ax.tick_params(colors=MUTED, labelsize=7.5, length=0)
        ticks = [self.prom.start + i * (self.prom.end - self.prom.start) / 4 for i in range(5)]
        ax.set_xticks(ticks)
        ax.set_xticklabels([datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M") for t in ticks])
        seen = {}
        for i, (name, pts) in enumerate(series):
            frame_ax.text(10 / w, 1 - (34 + (i + 0.5) * (h - 74) / len(series)) / h, name,
                          transform=frame_ax.transAxes, color=TEXT, fontsize=8, va="center")
            for (t, v), (t2, _) in zip(pts, pts[1:] + [(pts[-1][0] + self.prom.step, 0)]):
                if math.isnan(v):
                    continue
                text, color = mapped(v, d.get("mappings"))
                color = color_of(color) if color else threshold_color(v, d.get("thresholds"))
                ax.add_patch(Rectangle((t, i + 0.1), t2 - t, 0.8, fc=color, ec="none", alpha=0.85))
                seen[text or str(v)] = color
        for j, (text, color) in enumerate(sorted(seen.items())):
            frame_ax.text((10 + j * 90) / w, 14 / h, "■ " + text, transform=frame_ax.transAxes, color=color,
                          fontsize=8.5, va="center")

    def render(self, out):
        self.header()
        for p in self.panels:
            kind = p.get("type")
            if kind == "row":
                self.row(p)
            elif kind == "timeseries":
                self.timeseries(p)
            elif kind == "stat":
                self.stat(p)
            elif kind == "bargauge":
                self.bargauge(p)
            elif kind == "state-timeline":
                self.state_timeline(p)
            else:
                frame_ax, _ = self.frame(p)
                frame_ax.text(0.5, 0.5, f"({kind} panel)", color=MUTED, ha="center", transform=frame_ax.transAxes)
        self.fig.savefig(out, dpi=DPI, facecolor=BG)


def flatten(panels):
    out = []
    for p in panels:
        out.append(p)
        out.extend(flatten(p.get("panels", [])))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--start", type=float, required=True, help="unix seconds")
    ap.add_argument("--end", type=float, required=True, help="unix seconds")
    ap.add_argument("--step", type=float, default=5)
    ap.add_argument("--rate-interval", default="20s", help="value of $__rate_interval (Grafana: 4 × scrape interval)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.dashboard) as f:
        dash = json.load(f)
    rng = f"{int(args.end - args.start)}s"
    variables = {"__rate_interval": args.rate_interval, "__interval": f"{int(args.step)}s", "__range": rng,
                 "job": ".*", "instance": ".*"}
    alerts = next((a.get("expr") for a in dash.get("annotations", {}).get("list", []) if a.get("expr")), None)
    prom = Prometheus(args.prometheus, args.start, args.end, args.step)
    Renderer(dash, prom, variables, alerts).render(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
