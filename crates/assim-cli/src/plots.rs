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

/// A map of a (lat, lon) field (latitudes north to south, longitudes east from 0, degrees) in
/// a diverging colour scale symmetric about zero, with a colour bar; written atomically.
pub fn map_plot(
    path: &Path,
    title: &str,
    units: &str,
    lat: &[f64],
    lon: &[f64],
    field: &[f64],
) -> Result<(), AssimError> {
    register_font();
    let (nlat, nlon) = (lat.len(), lon.len());
    assert_eq!(field.len(), nlat * nlon);
    let vmax = field.iter().fold(0.0f64, |a, x| a.max(x.abs())).max(1e-300);
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
            .build_cartesian_2d(0.0..360.0, -90.0..90.0)
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("longitude (°E)")
            .y_desc("latitude (°N)")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        let dlon = 360.0 / nlon as f64;
        let edge = |j: usize| -> f64 {
            if j == 0 {
                90.0
            } else if j == nlat {
                -90.0
            } else {
                0.5 * (lat[j - 1] + lat[j])
            }
        };
        let cells = (0..nlat).flat_map(|j| (0..nlon).map(move |i| (j, i)));
        chart
            .draw_series(cells.map(|(j, i)| {
                let x = lon[i] - 0.5 * dlon;
                let c = diverging(field[j * nlon + i] / vmax);
                Rectangle::new([(x.max(0.0), edge(j)), ((x + dlon).min(360.0), edge(j + 1))], c.filled())
            }))
            .map_err(|e| plot_err(path, e))?;
        // Colour bar.
        let mut bar = ChartBuilder::on(&bar_area)
            .margin_top(50)
            .margin_bottom(52)
            .margin_right(60)
            .y_label_area_size(0)
            .right_y_label_area_size(55)
            .build_cartesian_2d(0.0..1.0, -vmax..vmax)
            .map_err(|e| plot_err(path, e))?;
        bar.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_desc(units)
            .y_label_formatter(&|v| format!("{v:.1e}"))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        let n = 100;
        bar.draw_series((0..n).map(|k| {
            let a = -vmax + 2.0 * vmax * k as f64 / n as f64;
            let b = a + 2.0 * vmax / n as f64;
            Rectangle::new([(0.0, a), (1.0, b)], diverging((a + b) / (2.0 * vmax)).filled())
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
