//! PNG figures (plotters, bitmap backend, an embedded font: no system library needed).

use std::path::Path;
use std::sync::Once;

use assim_core::AssimError;
use plotters::prelude::*;

/// DejaVu Sans (Bitstream Vera licence, `assets/DejaVuSans-LICENSE.txt`), embedded so that
/// figures render the same on a machine without fonts.
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            eprintln!("warning: embedded font could not be loaded; figures will have no text");
        }
    });
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> AssimError {
    AssimError::Format { path: path.to_path_buf(), msg: format!("cannot draw figure: {e}") }
}

/// One line of a line plot.
pub struct Line<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
    /// Colour.
    pub color: RGBColor,
}

/// Axis scaling of a line plot.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Axes {
    /// Linear x and y.
    Linear,
    /// log10 x and log10 y (spectra); points with x ≤ 0 or y ≤ 0 are dropped.
    LogLog,
}

/// A line plot written atomically to `path` (PNG, 900×560).
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
    axes: Axes,
) -> Result<(), AssimError> {
    register_font();
    let tmp = path.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (900, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let tf = |(x, y): (f64, f64)| -> Option<(f64, f64)> {
            match axes {
                Axes::Linear => Some((x, y)),
                Axes::LogLog => (x > 0.0 && y > 0.0).then(|| (x.log10(), y.log10())),
            }
        };
        let pts: Vec<Vec<(f64, f64)>> =
            lines.iter().map(|l| l.points.iter().filter_map(|&p| tf(p)).collect()).collect();
        let all = pts.iter().flatten();
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in all {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 >= x1 {
            x1 = x0 + 1.0;
        }
        let pad = 0.05 * (y1 - y0).max(1e-12 * y1.abs().max(1.0));
        // Head-room above the data for the legend.
        let head = 0.3 * (y1 - y0);
        let (y0, y1) =
            if axes == Axes::Linear && y0 >= 0.0 { (0.0, y1 + head) } else { (y0 - pad, y1 + head) };
        let (xl, yl) = match axes {
            Axes::Linear => (x_label.to_string(), y_label.to_string()),
            Axes::LogLog => (format!("log10 {x_label}"), format!("log10 {y_label}")),
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .x_desc(xl)
            .y_desc(yl)
            .y_label_formatter(&|v| {
                if axes == Axes::Linear && v.abs() >= 1e4 { format!("{v:.2e}") } else { format!("{v:.2}") }
            })
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        for (l, p) in lines.iter().zip(pts) {
            let color = l.color;
            chart
                .draw_series(LineSeries::new(p, color.stroke_width(2)))
                .map_err(|e| plot_err(path, e))?
                .label(l.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| AssimError::Io { path: path.to_path_buf(), source })
}

/// A longitude–latitude map of a grid field (`lat.len() × lon.len()`, north first), in a
/// diverging palette symmetric about zero, written atomically to `path` (PNG).
pub fn map_plot(
    path: &Path,
    title: &str,
    units: &str,
    lat: &[f64],
    lon: &[f64],
    field: &[f64],
) -> Result<(), AssimError> {
    let axes = CellAxes {
        x: lon,
        y: lat,
        x_bounds: (0.0, 360.0),
        y_bounds: (90.0, -90.0),
        x_desc: "longitude (°E)",
        y_desc: "latitude (°N)",
    };
    let vmax = field.iter().fold(0.0f64, |a, x| a.max(x.abs())).max(1e-300);
    cell_plot(path, title, units, &axes, field, (-vmax, vmax))
}

/// The axes of a [`cell_plot`]: cell centres along x and y and the outer edges of the first and
/// last cells (`y_bounds.0` is drawn at the top).
pub struct CellAxes<'a> {
    /// Cell centres along x.
    pub x: &'a [f64],
    /// Cell centres along y, in the order of the field's rows.
    pub y: &'a [f64],
    /// Outer edges of the first and the last column.
    pub x_bounds: (f64, f64),
    /// Outer edges of the first and the last row.
    pub y_bounds: (f64, f64),
    /// x-axis label.
    pub x_desc: &'a str,
    /// y-axis label.
    pub y_desc: &'a str,
}

/// A field of cells (`y.len() × x.len()`, row-major) coloured blue–white–red over `range`
/// (white at its middle), with a colour bar, written atomically to `path` (PNG): maps and
/// zonal-mean cross sections.
pub fn cell_plot(
    path: &Path,
    title: &str,
    units: &str,
    axes: &CellAxes<'_>,
    field: &[f64],
    range: (f64, f64),
) -> Result<(), AssimError> {
    register_font();
    let (ny, nx) = (axes.y.len(), axes.x.len());
    assert_eq!(field.len(), ny * nx);
    let (lo, hi) = range;
    let (mid, half) = (0.5 * (lo + hi), (0.5 * (hi - lo)).max(1e-300));
    let edges = |c: &[f64], b: (f64, f64)| -> Vec<f64> {
        let n = c.len();
        (0..=n)
            .map(|i| {
                if i == 0 {
                    b.0
                } else if i == n {
                    b.1
                } else {
                    0.5 * (c[i - 1] + c[i])
                }
            })
            .collect()
    };
    let (xe, ye) = (edges(axes.x, axes.x_bounds), edges(axes.y, axes.y_bounds));
    let (x0, x1) = (axes.x_bounds.0.min(axes.x_bounds.1), axes.x_bounds.0.max(axes.x_bounds.1));
    let (y0, y1) = (axes.y_bounds.0.min(axes.y_bounds.1), axes.y_bounds.0.max(axes.y_bounds.1));
    // Rows are drawn with y_bounds.0 at the top: flip the coordinate when it is the smaller.
    let flip = axes.y_bounds.0 < axes.y_bounds.1;
    let yc = |y: f64| if flip { y0 + y1 - y } else { y };
    let tmp = path.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (1000, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let (map_area, bar_area) = root.split_horizontally(880);
        let mut chart = ChartBuilder::on(&map_area)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| plot_err(path, e))?;
        let y_fmt = |v: &f64| format!("{:.2}", yc(*v));
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(axes.x_desc)
            .y_desc(axes.y_desc)
            .y_label_formatter(&y_fmt)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        let cells = (0..ny).flat_map(|j| (0..nx).map(move |i| (j, i)));
        chart
            .draw_series(cells.map(|(j, i)| {
                let c = diverging((field[j * nx + i] - mid) / half);
                Rectangle::new([(xe[i], yc(ye[j])), (xe[i + 1], yc(ye[j + 1]))], c.filled())
            }))
            .map_err(|e| plot_err(path, e))?;
        let mut bar = ChartBuilder::on(&bar_area)
            .margin_top(50)
            .margin_bottom(52)
            .margin_right(60)
            .y_label_area_size(0)
            .right_y_label_area_size(55)
            .build_cartesian_2d(0.0..1.0, lo..hi.max(lo + 1e-300))
            .map_err(|e| plot_err(path, e))?;
        let bar_fmt = |v: &f64| {
            if *v == 0.0 {
                "0".to_string()
            } else if v.abs() >= 1e-2 && v.abs() < 1e4 {
                format!("{v:.1}")
            } else {
                format!("{v:.1e}")
            }
        };
        bar.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_desc(units)
            .y_label_formatter(&bar_fmt)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        let n = 100;
        bar.draw_series((0..n).map(|k| {
            let a = lo + (hi - lo) * k as f64 / n as f64;
            let b = a + (hi - lo) / n as f64;
            Rectangle::new([(0.0, a), (1.0, b)], diverging((0.5 * (a + b) - mid) / half).filled())
        }))
        .map_err(|e| plot_err(path, e))?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| AssimError::Io { path: path.to_path_buf(), source })
}

/// Blue (−1) – white (0) – red (+1).
fn diverging(t: f64) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let lerp = |a: f64, b: f64, s: f64| (a + (b - a) * s).round() as u8;
    if t < 0.0 {
        let s = -t;
        RGBColor(lerp(255.0, 33.0, s), lerp(255.0, 102.0, s), lerp(255.0, 172.0, s))
    } else {
        RGBColor(lerp(255.0, 178.0, t), lerp(255.0, 24.0, t), lerp(255.0, 43.0, t))
    }
}
