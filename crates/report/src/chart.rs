//! A small chart model and its one renderer. Figures describe *what* to draw
//! (lines, points, boxes, segments, bars on two axes); [`render`] draws it
//! with plotters, the same way for PNG and SVG: a colour-blind-safe palette,
//! log axes with readable tick labels, and the legend in its own panel to the
//! right so it never covers data. Keeping figures as data also lets tests
//! check what a figure shows without decoding images.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// DejaVu Sans, bundled so that drawing needs no installed font.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FONT_NAME: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled file is a valid TrueType font: a failure here is a
        // broken build, and drawing would fail with a clear error anyway.
        let _ = plotters::style::register_font(FONT_NAME, FontStyle::Normal, FONT);
    });
}

/// Okabe & Ito's colour-blind-safe palette, most distinct first (yellow,
/// faint on white, last).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
    RGBColor(240, 228, 66),  // yellow
];

const GREY: RGBColor = RGBColor(120, 120, 120);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    None,
    Circle,
    Triangle,
    Square,
    Diamond,
    Cross,
    Star,
}

impl Marker {
    /// Markers cycled for series beyond the palette's size.
    pub const CYCLE: [Marker; 5] = [Marker::Circle, Marker::Square, Marker::Triangle, Marker::Diamond, Marker::Cross];
}

/// How a mark looks. `colour` indexes [`PALETTE`] (cycled); `None` is grey.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Look {
    pub colour: Option<usize>,
    pub dashed: bool,
    pub marker: Marker,
    pub width: u32,
}

impl Look {
    /// The look of series number `i`: a palette colour, and after the
    /// palette is used up, dashes and another marker, so lines stay apart.
    pub fn series(i: usize) -> Look {
        Look { colour: Some(i), dashed: i >= PALETTE.len(), marker: Marker::CYCLE[(i / PALETTE.len() + i) % Marker::CYCLE.len()], width: 2 }
    }
    pub fn grey() -> Look {
        Look { colour: None, dashed: false, marker: Marker::None, width: 1 }
    }
    pub fn dashed(mut self) -> Look {
        self.dashed = true;
        self
    }
    pub fn marker(mut self, m: Marker) -> Look {
        self.marker = m;
        self
    }
    pub fn width(mut self, w: u32) -> Look {
        self.width = w;
        self
    }
    fn colour(&self) -> RGBColor {
        self.colour.map_or(GREY, |i| PALETTE[i % PALETTE.len()])
    }
}

/// The five numbers of a box plot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxStats {
    pub low: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub high: f64,
    pub mean: f64,
}

impl BoxStats {
    /// Quartiles by linear interpolation (NumPy's default), whiskers at the
    /// extremes. `None` for no finite value.
    pub fn of(values: &[f64]) -> Option<BoxStats> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let pos = p * (v.len() - 1) as f64;
            let (i, frac) = (pos.floor() as usize, pos.fract());
            if i + 1 < v.len() {
                v[i] + frac * (v[i + 1] - v[i])
            } else {
                v[i]
            }
        };
        Some(BoxStats { low: v[0], q1: q(0.25), median: q(0.5), q3: q(0.75), high: v[v.len() - 1], mean: v.iter().sum::<f64>() / v.len() as f64 })
    }
}

/// One thing drawn in data coordinates.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    /// A polyline with markers at its points.
    Line { points: Vec<(f64, f64)>, look: Look },
    /// Points only.
    Points { points: Vec<(f64, f64)>, look: Look },
    /// A straight segment.
    Segment { from: (f64, f64), to: (f64, f64), look: Look },
    /// A horizontal line across the whole plot.
    HLine { y: f64, look: Look },
    /// A vertical line across the whole plot.
    VLine { x: f64, look: Look },
    /// A box plot centred at `x`, `width` wide.
    Box { x: f64, width: f64, stats: BoxStats, look: Look },
    /// Filled bars `(x0, x1, height)` from the axis up.
    Bars { bars: Vec<(f64, f64, f64)>, look: Look },
}

/// An axis: its label (with unit), log scale, fixed range, and optional
/// category names at integer positions 0, 1, 2, ...
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Axis {
    pub label: String,
    pub log: bool,
    pub range: Option<(f64, f64)>,
    pub categories: Vec<String>,
    /// Ticks at whole numbers only (bit widths, exponent bits).
    pub integer: bool,
}

impl Axis {
    pub fn linear(label: impl Into<String>) -> Axis {
        Axis { label: label.into(), ..Axis::default() }
    }
    pub fn integers(label: impl Into<String>) -> Axis {
        Axis { label: label.into(), integer: true, ..Axis::default() }
    }
    pub fn log(label: impl Into<String>) -> Axis {
        Axis { label: label.into(), log: true, ..Axis::default() }
    }
    pub fn categories(label: impl Into<String>, names: Vec<String>) -> Axis {
        let n = names.len() as f64;
        Axis { label: label.into(), range: Some((-0.5, n - 0.5)), categories: names, ..Axis::default() }
    }
}

/// A legend entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Legend {
    pub text: String,
    pub look: Look,
}

/// A figure: title, axes, marks and legend.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub title: String,
    pub subtitle: Option<String>,
    pub x: Axis,
    pub y: Axis,
    pub marks: Vec<Mark>,
    pub legend: Vec<Legend>,
    pub size: (u32, u32),
}

impl Chart {
    pub fn new(title: impl Into<String>, x: Axis, y: Axis) -> Chart {
        Chart { title: title.into(), subtitle: None, x, y, marks: Vec::new(), legend: Vec::new(), size: (1100, 620) }
    }

    /// All data points, for the automatic axis ranges.
    fn extent(&self) -> (Vec<f64>, Vec<f64>) {
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for m in &self.marks {
            match m {
                Mark::Line { points, .. } | Mark::Points { points, .. } => {
                    xs.extend(points.iter().map(|p| p.0));
                    ys.extend(points.iter().map(|p| p.1));
                }
                Mark::Segment { from, to, .. } => {
                    xs.extend([from.0, to.0]);
                    ys.extend([from.1, to.1]);
                }
                Mark::HLine { y, .. } => ys.push(*y),
                Mark::VLine { x, .. } => xs.push(*x),
                Mark::Box { x, width, stats, .. } => {
                    xs.extend([x - width / 2.0, x + width / 2.0]);
                    ys.extend([stats.low, stats.high]);
                }
                Mark::Bars { bars, .. } => {
                    for &(a, b, h) in bars {
                        xs.extend([a, b]);
                        ys.push(h);
                    }
                }
            }
        }
        (xs, ys)
    }
}

/// Axis range in plotting coordinates (log10 for log axes), padded by 4%.
fn span(axis: &Axis, values: &[f64]) -> (f64, f64) {
    if let Some(r) = axis.range {
        return if axis.log { (r.0.log10(), r.1.log10()) } else { r };
    }
    let vals: Vec<f64> = values.iter().copied().filter(|v| v.is_finite() && (!axis.log || *v > 0.0)).map(|v| if axis.log { v.log10() } else { v }).collect();
    let (lo, hi) = vals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.04 } else { 0.5 };
    (lo - pad, hi + pad)
}

/// A value in plotting coordinates; `None` for what a log axis cannot show.
fn to_axis(axis: &Axis, v: f64) -> Option<f64> {
    if axis.log {
        (v > 0.0 && v.is_finite()).then(|| v.log10())
    } else {
        v.is_finite().then_some(v)
    }
}

/// Tick text: three significant digits, trailing zeros dropped.
pub fn tick(v: f64) -> String {
    let s = crate::tables::significant(v, 3);
    let (mantissa, exponent) = s.split_once('e').map_or((s.as_str(), None), |(m, e)| (m, Some(e)));
    let mantissa = if mantissa.contains('.') { mantissa.trim_end_matches('0').trim_end_matches('.') } else { mantissa };
    match exponent {
        Some(e) => format!("{mantissa}e{e}"),
        None => mantissa.to_string(),
    }
}

/// Tick values on a log axis spanning `10^lo .. 10^hi`: powers of ten over
/// wide spans, 1-2-5 over a few decades, 1..9 within one.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = hi - lo;
    let steps: &[f64] = if decades > 4.0 {
        &[1.0]
    } else if decades > 1.2 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    };
    let mut out = Vec::new();
    for k in (lo.floor() as i32)..=(hi.ceil() as i32) {
        for &s in steps {
            let v = s * 10f64.powi(k);
            let l = v.log10();
            if l >= lo - 1e-9 && l <= hi + 1e-9 {
                out.push(v);
            }
        }
    }
    out
}

fn axis_tick(axis: &Axis, v: f64) -> String {
    if !axis.categories.is_empty() {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < axis.categories.len() {
            return axis.categories[i as usize].clone();
        }
        return String::new();
    }
    if axis.integer && (v - v.round()).abs() > 1e-9 {
        return String::new();
    }
    if axis.log {
        tick(10f64.powf(v))
    } else {
        tick(v)
    }
}

/// Write `chart` as `<base>.png` and `<base>.svg`; returns both paths.
pub fn save(chart: &Chart, base: &Path) -> Result<Vec<PathBuf>, String> {
    register_font();
    let png = base.with_extension("png");
    let svg = base.with_extension("svg");
    {
        let root = BitMapBackend::new(&png, chart.size).into_drawing_area();
        render(chart, &root).map_err(|e| format!("{}: {e}", png.display()))?;
        root.present().map_err(|e| format!("{}: {e}", png.display()))?;
    }
    {
        let root = SVGBackend::new(&svg, chart.size).into_drawing_area();
        render(chart, &root).map_err(|e| format!("{}: {e}", svg.display()))?;
        root.present().map_err(|e| format!("{}: {e}", svg.display()))?;
    }
    Ok(vec![png, svg])
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_marker<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, at: (i32, i32), look: &Look, size: i32) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let c = look.colour();
    let fill = c.filled();
    let stroke = c.stroke_width(2);
    let (x, y) = at;
    match look.marker {
        Marker::None => {}
        Marker::Circle => root.draw(&Circle::new(at, size, fill))?,
        Marker::Square => root.draw(&Rectangle::new([(x - size, y - size), (x + size, y + size)], fill))?,
        Marker::Triangle => root.draw(&Polygon::new(vec![(x, y - size - 1), (x - size - 1, y + size), (x + size + 1, y + size)], fill))?,
        Marker::Diamond => root.draw(&Polygon::new(vec![(x, y - size - 1), (x + size + 1, y), (x, y + size + 1), (x - size - 1, y)], fill))?,
        Marker::Cross => {
            root.draw(&PathElement::new(vec![(x - size, y - size), (x + size, y + size)], stroke))?;
            root.draw(&PathElement::new(vec![(x - size, y + size), (x + size, y - size)], stroke))?;
        }
        Marker::Star => {
            let pts: Vec<(i32, i32)> = (0..10)
                .map(|k| {
                    let r = if k % 2 == 0 { size as f64 * 2.0 } else { size as f64 * 0.8 };
                    let a = std::f64::consts::PI * (k as f64 / 5.0 - 0.5);
                    (x + (r * a.cos()).round() as i32, y + (r * a.sin()).round() as i32)
                })
                .collect();
            root.draw(&Polygon::new(pts, fill))?;
        }
    }
    Ok(())
}

/// Draw a polyline in pixel space, dashed or solid.
fn draw_path<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, pixels: Vec<(i32, i32)>, look: &Look) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let style = look.colour().stroke_width(look.width);
    if look.dashed {
        root.draw(&plotters::element::DashedPathElement::new(pixels, 9, 6, style))?;
    } else {
        root.draw(&PathElement::new(pixels, style))?;
    }
    Ok(())
}

/// Draw `chart` on `root`.
pub fn render<DB: DrawingBackend>(chart: &Chart, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (w, _h) = chart.size;
    let legend_width = if chart.legend.is_empty() { 0 } else { legend_width(&chart.legend).min(w / 3) };
    let (plot_area, legend_area) = root.split_horizontally(w - legend_width);
    let (xs, ys) = chart.extent();
    let (x0, x1) = span(&chart.x, &xs);
    let (y0, y1) = span(&chart.y, &ys);
    // Title and subtitle above the plot, where no tick label can reach them.
    plot_area.draw(&Text::new(chart.title.clone(), (20, 10), (FONT_NAME, 22).into_font().color(&BLACK)))?;
    if let Some(sub) = &chart.subtitle {
        plot_area.draw(&Text::new(sub.clone(), (20, 38), (FONT_NAME, 14).into_font().color(&GREY)))?;
    }
    let mut builder = ChartBuilder::on(&plot_area);
    builder
        .margin(12)
        .margin_top(if chart.subtitle.is_some() { 64 } else { 44 })
        .margin_right(20)
        .x_label_area_size(if chart.x.categories.is_empty() { 50 } else { 70 })
        .y_label_area_size(category_margin(&chart.y));
    let mut cc = builder.build_cartesian_2d(x0..x1, y0..y1)?;
    let xfmt = |v: &f64| axis_tick(&chart.x, *v);
    let yfmt = |v: &f64| axis_tick(&chart.y, *v);
    let label_font = (FONT_NAME, 15).into_font();
    let mut mesh = cc.configure_mesh();
    mesh.x_desc(chart.x.label.as_str())
        .y_desc(chart.y.label.as_str())
        .axis_desc_style((FONT_NAME, 17))
        .label_style(label_font.clone())
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215));
    if !chart.x.categories.is_empty() {
        mesh.x_labels(chart.x.categories.len() * 2 + 1).disable_x_mesh();
    } else if chart.x.integer {
        mesh.x_labels(((x1 - x0).round() as usize + 1).max(2));
    }
    if !chart.y.categories.is_empty() {
        mesh.y_labels(chart.y.categories.len() * 2 + 1).disable_y_mesh();
    }
    // Log axes get ticks at 1-2-5 values, drawn below; plotters' own would
    // fall at arbitrary powers.
    if chart.x.log {
        mesh.x_labels(0).disable_x_mesh();
    }
    if chart.y.log {
        mesh.y_labels(0).disable_y_mesh();
    }
    mesh.draw()?;
    let px = |x: f64, y: f64| -> Option<(i32, i32)> {
        let (x, y) = (to_axis(&chart.x, x)?, to_axis(&chart.y, y)?);
        Some(cc.backend_coord(&(x, y)))
    };
    let (px0, py0) = cc.backend_coord(&(x0, y0));
    let (px1, py1) = cc.backend_coord(&(x1, y1));
    let tick_font = label_font.color(&BLACK);
    if chart.y.log {
        for v in log_ticks(y0, y1) {
            let (_, py) = cc.backend_coord(&(x0, v.log10()));
            plot_area.draw(&PathElement::new(vec![(px0, py), (px1, py)], RGBColor(225, 225, 225).stroke_width(1)))?;
            plot_area.draw(&PathElement::new(vec![(px0 - 5, py), (px0, py)], BLACK.stroke_width(1)))?;
            let text = tick(v);
            let w = text.chars().count() as i32 * 8;
            plot_area.draw(&Text::new(text, (px0 - 10 - w, py - 8), tick_font.clone()))?;
        }
    }
    if chart.x.log {
        for v in log_ticks(x0, x1) {
            let (px, _) = cc.backend_coord(&(v.log10(), y0));
            plot_area.draw(&PathElement::new(vec![(px, py0), (px, py1)], RGBColor(225, 225, 225).stroke_width(1)))?;
            let text = tick(v);
            let w = text.chars().count() as i32 * 4;
            plot_area.draw(&Text::new(text, (px - w, py0 + 8), tick_font.clone()))?;
        }
    }
    // Everything is drawn in pixels on the whole plot area, clipped by hand
    // to the plotting rectangle.
    let inside = |p: &(i32, i32)| p.0 >= px0.min(px1) && p.0 <= px0.max(px1) && p.1 >= py1.min(py0) && p.1 <= py1.max(py0);
    let area = &plot_area;
    for m in &chart.marks {
        match m {
            Mark::Line { points, look } => {
                let pix: Vec<(i32, i32)> = points.iter().filter_map(|&(x, y)| px(x, y)).collect();
                draw_path(area, pix.clone(), look)?;
                for p in pix.iter().filter(|p| inside(p)) {
                    draw_marker(area, *p, look, 4)?;
                }
            }
            Mark::Points { points, look } => {
                for p in points.iter().filter_map(|&(x, y)| px(x, y)).filter(|p| inside(p)) {
                    draw_marker(area, p, look, 4)?;
                }
            }
            Mark::Segment { from, to, look } => {
                if let (Some(a), Some(b)) = (px(from.0, from.1), px(to.0, to.1)) {
                    draw_path(area, vec![a, b], look)?;
                }
            }
            Mark::HLine { y, look } => {
                if let Some(v) = to_axis(&chart.y, *y) {
                    let (_, py) = cc.backend_coord(&(x0, v));
                    draw_path(area, vec![(px0, py), (px1, py)], look)?;
                }
            }
            Mark::VLine { x, look } => {
                if let Some(v) = to_axis(&chart.x, *x) {
                    let (pxv, _) = cc.backend_coord(&(v, y0));
                    draw_path(area, vec![(pxv, py0), (pxv, py1)], look)?;
                }
            }
            Mark::Box { x, width, stats, look } => draw_box(area, &px, *x, *width, stats, look)?,
            Mark::Bars { bars, look } => {
                let fill = look.colour().mix(0.55).filled();
                for &(a, b, h) in bars {
                    let base = if chart.y.log { 10f64.powf(y0) } else { 0f64.max(y0) };
                    if let (Some(p), Some(q)) = (px(a, h), px(b, base)) {
                        area.draw(&Rectangle::new([p, q], fill))?;
                    }
                }
            }
        }
    }
    // Redraw the frame so marks at the border do not hide it.
    area.draw(&Rectangle::new([(px0, py1), (px1, py0)], BLACK.stroke_width(1)))?;
    draw_legend(&legend_area, &chart.legend)?;
    Ok(())
}

fn draw_box<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, px: &dyn Fn(f64, f64) -> Option<(i32, i32)>, x: f64, width: f64, s: &BoxStats, look: &Look) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (l, r) = (x - width / 2.0, x + width / 2.0);
    let c = look.colour();
    let (Some(a), Some(b)) = (px(l, s.q3), px(r, s.q1)) else { return Ok(()) };
    area.draw(&Rectangle::new([a, b], c.mix(0.25).filled()))?;
    area.draw(&Rectangle::new([a, b], c.stroke_width(2)))?;
    if let (Some(p), Some(q)) = (px(l, s.median), px(r, s.median)) {
        area.draw(&PathElement::new(vec![p, q], c.stroke_width(3)))?;
    }
    for (from, to) in [(s.q3, s.high), (s.q1, s.low)] {
        if let (Some(p), Some(q)) = (px(x, from), px(x, to)) {
            area.draw(&PathElement::new(vec![p, q], c.stroke_width(1)))?;
            let half = ((b.0 - a.0) / 4).max(2);
            area.draw(&PathElement::new(vec![(q.0 - half, q.1), (q.0 + half, q.1)], c.stroke_width(1)))?;
        }
    }
    if let Some(m) = px(x, s.mean) {
        draw_marker(area, m, &Look { marker: Marker::Diamond, ..*look }, 3)?;
    }
    Ok(())
}

/// Pixel width of the legend panel: room for the sample and the longest text.
fn legend_width(legend: &[Legend]) -> u32 {
    let longest = legend.iter().map(|l| l.text.chars().count()).max().unwrap_or(0) as u32;
    60 + longest * 8
}

fn category_margin(axis: &Axis) -> u32 {
    let longest = axis.categories.iter().map(|c| c.chars().count()).max().unwrap_or(0) as u32;
    if axis.categories.is_empty() {
        80
    } else {
        (longest * 8 + 20).min(420)
    }
}

fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, legend: &[Legend]) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let font = (FONT_NAME, 14).into_font().color(&BLACK);
    for (i, l) in legend.iter().enumerate() {
        let y = 60 + i as i32 * 24;
        if l.look.width > 0 {
            draw_path(area, vec![(8, y), (42, y)], &l.look)?;
        }
        draw_marker(area, (25, y), &l.look, 4)?;
        area.draw(&Text::new(l.text.clone(), (50, y - 8), font.clone()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_interpolate_like_numpy() {
        let s = BoxStats::of(&[1.0, 2.0, 3.0, 4.0, f64::NAN]).unwrap();
        assert_eq!((s.low, s.q1, s.median, s.q3, s.high, s.mean), (1.0, 1.75, 2.5, 3.25, 4.0, 2.5));
        assert!(BoxStats::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.0123456), "0.0123");
        assert_eq!(tick(2.0), "2");
        assert_eq!(tick(12.5), "12.5");
        assert_eq!(tick(0.00001), "1e-5");
        assert_eq!(tick(250000.0), "2.5e5");
    }

    #[test]
    fn log_ticks_follow_the_span() {
        assert_eq!(log_ticks(-2.1, 0.1), vec![0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]);
        assert_eq!(log_ticks(-6.0, 0.0), vec![1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]);
        assert_eq!(log_ticks(0.0, 0.5).len(), 4); // 1, 1.5, 2, 3
    }
}
