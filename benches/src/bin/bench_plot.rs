//! `bench_plot`: draws a line chart (PNG) from the tab-separated results the benchmark
//! drivers write, so that docs/benchmarks.md can show CPU against load, or memory over
//! time, for each system side by side.
//!
//! ```text
//! bench_plot --out cpu.png --title "Relay CPU" --x "concurrent calls" --y "CPU, % of a core" \
//!     --series "Palisade=cpu.tsv:calls:cpu_pct:system=palisade" \
//!     --series "rtpengine=cpu.tsv:calls:cpu_pct:system=rtpengine"
//! ```
//!
//! A series is `NAME=FILE:X:Y[:COLUMN=VALUE,...]`: the rows of FILE (its first line names
//! the columns) that match every COLUMN=VALUE filter, X and Y taken from the named columns.
//! Rows whose X or Y is not a number are left out; the points are drawn in X order.

use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;

use clap::Parser;
use plotters::prelude::*;

#[derive(Debug, Parser)]
#[command(about = "Line chart (PNG) from benchmark result tables")]
struct Args {
    /// The PNG to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    title: String,
    /// The label of the X axis.
    #[arg(long)]
    x: String,
    /// The label of the Y axis.
    #[arg(long)]
    y: String,
    /// NAME=FILE:X:Y[:COLUMN=VALUE,...]; give one per line of the chart.
    #[arg(long = "series", required = true)]
    series: Vec<String>,
    /// Start the Y axis at zero (default) or at the smallest value (--y-from-data).
    #[arg(long)]
    y_from_data: bool,
    /// Where the legend goes, out of the lines' way.
    #[arg(long, value_enum, default_value_t = Legend::UpperLeft)]
    legend: Legend,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Legend {
    UpperLeft,
    UpperRight,
    Middle,
    LowerRight,
}

impl Legend {
    fn position(self) -> SeriesLabelPosition {
        match self {
            Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
            Legend::UpperRight => SeriesLabelPosition::UpperRight,
            Legend::Middle => SeriesLabelPosition::MiddleMiddle,
            Legend::LowerRight => SeriesLabelPosition::LowerRight,
        }
    }
}

/// Line colours that stay apart on white and for most colour-blind readers (Tableau 10).
const COLORS: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// One line of the chart.
#[derive(Debug)]
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn parse_series(spec: &str) -> Result<Series> {
    let (name, rest) = spec
        .split_once('=')
        .ok_or_else(|| format!("series {spec:?}: expected NAME=FILE:X:Y"))?;
    let mut parts = rest.splitn(4, ':');
    let (Some(file), Some(x), Some(y)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("series {spec:?}: expected NAME=FILE:X:Y").into());
    };
    let filters: Vec<(&str, &str)> = match parts.next() {
        Some(f) => f
            .split(',')
            .map(|kv| {
                kv.split_once('=')
                    .ok_or_else(|| format!("series {spec:?}: filter {kv:?} is not COLUMN=VALUE"))
            })
            .collect::<std::result::Result<_, _>>()?,
        None => Vec::new(),
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("series {name}: {file}: {e}"))?;
    let mut lines = text.lines();
    let header: HashMap<&str, usize> = lines
        .next()
        .unwrap_or_default()
        .split('\t')
        .enumerate()
        .map(|(i, c)| (c, i))
        .collect();
    let column = |c: &str| {
        header
            .get(c)
            .copied()
            .ok_or_else(|| format!("series {name}: {file} has no column {c:?}"))
    };
    let (xi, yi) = (column(x)?, column(y)?);
    let filters: Vec<(usize, &str)> = filters
        .into_iter()
        .map(|(c, v)| Ok((column(c)?, v)))
        .collect::<Result<_>>()?;
    let mut points: Vec<(f64, f64)> = lines
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|row| filters.iter().all(|(i, v)| row.get(*i) == Some(v)))
        .filter_map(|row| Some((row.get(xi)?.parse().ok()?, row.get(yi)?.parse().ok()?)))
        .filter(|(x, y): &(f64, f64)| x.is_finite() && y.is_finite())
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Series {
        name: name.to_owned(),
        points,
    })
}

/// Room above and beside the data, so that the highest point is not on the frame.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let span = (hi - lo).abs().max(f64::EPSILON);
    (lo, hi + span * 0.08)
}

fn draw(args: &Args, series: &[Series]) -> Result<()> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (x_lo, x_hi) = all().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (y_lo, y_hi) = all().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    if x_lo > x_hi {
        return Err("no data points in any series".into());
    }
    let x_lo = x_lo.min(0.0);
    let y_lo = if args.y_from_data {
        y_lo
    } else {
        y_lo.min(0.0)
    };
    let (x_lo, x_hi) = padded(x_lo, x_hi);
    let (y_lo, y_hi) = padded(y_lo, y_hi);

    let root = BitMapBackend::new(&args.out, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&args.title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
    // Whole numbers on an axis that spans more than a few units.
    let label = |span: f64| {
        move |v: &f64| {
            if span >= 10.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        }
    };
    let (x_label, y_label) = (label(x_hi - x_lo), label(y_hi - y_lo));
    chart
        .configure_mesh()
        .x_desc(args.x.as_str())
        .y_desc(args.y.as_str())
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let style = color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(args.legend.position())
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = args
        .series
        .iter()
        .map(|s| parse_series(s))
        .collect::<Result<Vec<_>>>()
        .and_then(|series| draw(&args, &series));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_plot: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
